"""The alerter deploys the detector that docs/alerting.md measures.

The alert tables come from ``DetectorConfig()`` (bench/field_tiers.py); the alerter builds its detector from
the settings. The settings' cool-down had stayed at 30 minutes while the measured detector moved to 60, so
the deployed alerter could page again sooner than the tables' "no double alerts" said.
"""

from __future__ import annotations

import os
from dataclasses import asdict

import pytest

from badbuzz.services.settings import Settings
from badbuzz.stream.detection.detector import DetectorConfig


def test_the_default_settings_build_the_measured_detector(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in os.environ:
        if name.startswith("BADBUZZ_ALERT_"):
            monkeypatch.delenv(name)
    deployed, measured = asdict(Settings().detector_config()), asdict(DetectorConfig())
    assert {k: (deployed[k], measured[k]) for k in measured if deployed[k] != measured[k]} == {}


def test_an_operator_can_still_tune_the_detector(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BADBUZZ_ALERT_COOLDOWN_MINUTES", "15")
    assert Settings().detector_config().cooldown_minutes == 15
