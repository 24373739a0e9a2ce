"""Simulated tweet timelines with known episodes, and the scoring of detectors against them (offline)."""
