"""A fixture that puts every run-time registry back after a test registers scenario files."""

from __future__ import annotations

import pytest

from core.base import hparams
from core.nn import backbones
from core.scenarios import SCENARIOS, scenario_file


@pytest.fixture
def restore_registries():
    """Scenario files register scenarios, hyper-parameter defaults and backbones globally:
    undo it, so other tests see the built-in registries only."""
    saved = [
        (d, dict(d))
        for d in (
            hparams.DEFAULTS,
            hparams.DEFAULT_ADAPTATION,
            hparams.PRETRAINED_FEATURE_DIMS,
            scenario_file.REGISTERED,
            backbones.PRETRAINED_BACKBONES,
        )
    ]
    scenarios = SCENARIOS.snapshot()
    architectures = hparams.ARCHITECTURES
    yield
    for registry, content in saved:
        registry.clear()
        registry.update(content)
    SCENARIOS.restore(scenarios)
    hparams.ARCHITECTURES = architectures
