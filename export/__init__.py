"""The export step: trained checkpoint → self-describing ONNX model directory, validated against PyTorch.

``model_dir`` (the directory format) is import-light and read by the scorer; ``onnx_export`` needs the
``[train]`` extra (torch, transformers, optimum).
"""
