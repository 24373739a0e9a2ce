"""The export step: trained checkpoint → self-describing ONNX model directory, validated against PyTorch, and
its release. Builds on ``models`` (the directory format is ``models/serving/model_dir.py``); needs the
``[train]`` extra (torch, transformers, optimum)."""
