"""The revisions, oldest first: ``vNNNN_<what>.py``."""
