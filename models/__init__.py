"""The models: what scores a tweet (``serving/``: ONNX inference, no torch) and how models are made
(``training/``: needs the ``[train]`` extra). The released model directories ship in ``released/``, the
recipes that reproduce them in ``recipes/``. Imports none of the other packages."""
