"""The root of every error Bad Buzz Watch raises on purpose, so callers can tell our failures from library bugs.

It lives in ``models/``, the package every other one builds on, so that no package has to import a later
one for it (``stream/errors.py`` derives the streaming stages' errors from it)."""


class BadBuzzError(Exception):
    """Root of every error raised on purpose by Bad Buzz Watch."""
