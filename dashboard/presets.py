"""The experiments Home offers with one click: a quick demo for teaching, the full default.

Their expected durations come from the one estimator, ``core.run.duration`` (``dashboard.clock``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Preset:
    key: str
    title: str
    request: dict[str, Any]
    note: str

    @property
    def n_runs(self) -> int:
        r = self.request
        return len(r["methods"]) * len(r["budgets"]) * len(r["seeds"])


def demo_request() -> dict[str, Any]:
    """Four selectors that tell the paper's story, one budget, two seeds."""
    from dashboard.jobs import default_request

    scenario = default_request()["scenario"]
    return {
        "scenario": scenario,
        "methods": ["random", "coreset", "badge", "forge"],
        "budgets": [0.05],
        "seeds": [0, 1],
    }


def presets() -> list[Preset]:
    from dashboard.jobs import default_request

    return [
        Preset(
            "demo",
            "Quick demo",
            demo_request(),
            "Random, CORESET, BADGE and FORGE at a 5% budget with two seeds: enough for every "
            "page. Its source model is reused by the full experiment.",
        ),
        Preset(
            "default",
            "Full default experiment",
            default_request(),
            "Every selector at 5% and 10% with three seeds (`python -m core run`): the "
            "numbers behind the accuracy table and Figure 5.",
        ),
    ]
