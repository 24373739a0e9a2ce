"""Data loading, preprocessing shared by training and serving, training, and ONNX inference.

Only ``preprocessing``, ``data`` and ``inference`` are imported by the serving path; ``train`` pulls in
torch and transformers lazily and needs the ``[train]`` extra.
"""
