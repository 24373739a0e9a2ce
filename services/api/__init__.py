"""The HTTP API (FastAPI): score texts, read topic status, timelines and alerts, acknowledge alerts.

``badbuzz services api`` serves it in stack mode and in embedded mode alike: it reads the same tables the
scorer and the alerter write (PostgreSQL or SQLite) and scores with the same models.
"""
