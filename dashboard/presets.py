"""The experiments Home offers with one click: a quick demo for teaching, the full default.

Durations shown before the click come from the runs already in the store (median seconds per
run of that scenario) when there are some, else from a reference measurement (below).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from dashboard import progress

# Reference timing, measured once: the default sweep (digits-to-mnist, 48 full-adaptation runs)
# took 167.5 s on a 2-core CPU machine shared with other jobs, about 3.5 s per run; loading the
# scenario, training the source model and the UMAP views add about 30 s.
REFERENCE_SECONDS_PER_RUN = {"digits-to-mnist": 3.5}
REFERENCE_SETUP_SECONDS = 30.0


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
            "page, in about a minute. Its source model is reused by the full experiment.",
        ),
        Preset(
            "default",
            "Full default experiment",
            default_request(),
            "Every selector at 5% and 10% with three seeds (`python -m core run`): the "
            "numbers behind the accuracy table and Figure 5.",
        ),
    ]


def estimate(preset: Preset, runs: pd.DataFrame) -> tuple[float | None, str]:
    """(seconds, where the number comes from) for running ``preset`` on this machine."""
    scenario = preset.request["scenario"]
    past = runs[runs["scenario"] == scenario]["total_seconds"] if not runs.empty else []
    if len(past):
        per_run = float(pd.Series(past).median())
        basis = f"median of the {len(past)} runs of {scenario} already in the store"
    elif scenario in REFERENCE_SECONDS_PER_RUN:
        per_run = REFERENCE_SECONDS_PER_RUN[scenario]
        basis = "measured on a 2-core CPU machine; yours may differ"
    else:
        return None, "no measurement for this scenario yet"
    return progress.sweep_estimate(per_run, preset.n_runs, REFERENCE_SETUP_SECONDS), basis
