"""Make sure a servable model directory exists: train + export + validate one when it does not."""

from __future__ import annotations

from pathlib import Path

from badbuzz.export.model_dir import MANIFEST_NAME
from badbuzz.models.base_models import resolve_base_model


def ensure_model(model_dir: Path, data: Path, base_model: str, *, max_steps: int, work_dir: Path) -> Path:
    """Return ``model_dir``, training and exporting a model there first if it holds none."""
    if (model_dir / MANIFEST_NAME).is_file():
        print(f"[badbuzz] using the model in {model_dir}")
        return model_dir
    from badbuzz.export.onnx_export import export, validate
    from badbuzz.models.train import TrainConfig, load_examples, require_train_extra, train

    require_train_extra()
    base = resolve_base_model(base_model, allow_offline_fallback=True)
    print(f"[badbuzz] no model in {model_dir}: fine-tuning {base} for {max_steps} steps on {data}")
    cfg = TrainConfig(data=data, output_dir=work_dir / "checkpoint", base_model=base, max_steps=max_steps)
    checkpoint = train(cfg)
    export(checkpoint, model_dir)
    _, dev = load_examples(cfg)
    reports = validate(model_dir, checkpoint, [e.text for e in dev[:256]])
    for r in reports:
        print(f"[badbuzz] parity {r.variant}: max |Δp| {r.max_abs_diff:.1e}, label agreement {r.label_agreement:.1%}")
    return model_dir
