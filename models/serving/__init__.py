"""What scores a tweet: ONNX model directories and their format, inference, language routing, decisions.
No torch: the running services import only this half of models/."""
