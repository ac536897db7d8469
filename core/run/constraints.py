"""The sweep's declared parameter constraints: `python -m core run`, the Run page, run_sweep.

The one list of default budgets and seeds (default methods: ``core.selection.default_methods``).
Checked with ``core.base.params.validate_params``; names come from the registries, so a
selector registered later is allowed too. No torch or numpy: the CLI checks in milliseconds.
"""

from __future__ import annotations

import numbers
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from core.base.device import DEVICE_CHOICES
from core.base.hparams import ADAPTATION_MODES, LOSSES, PRESETS
from core.base.params import (
    MAX_SEED,
    Constraint,
    Interval,
    ListOf,
    Options,
    Pattern,
    WritableDir,
    WritableFile,
    validate_params,
)
from core.base.validation import ForgeLensError, check_choice, check_int_range
from core.scenarios import ScenarioEntry, scenario_entry
from core.scenarios.scenario_file import unlabelled_target
from core.selection import available as available_selectors

# the sweep `python -m core run` performs without arguments
DEFAULT_BUDGETS = (0.05, 0.1)
DEFAULT_SEEDS = (0, 1, 2)

# the scenario is looked up in the sweep's run store (core.scenarios.scenario_entry)
SWEEP_CONSTRAINTS: dict[str, list[Constraint | None]] = {
    "methods": [ListOf(Options(available_selectors))],
    "budgets": [ListOf(Interval(numbers.Real, 0, 1, closed="right"))],
    "seeds": [ListOf(Interval(numbers.Integral, 0, MAX_SEED))],
    "adaptation": [None, Options(ADAPTATION_MODES)],
}
# what the CLI and the Run page add around a sweep
RUN_CONSTRAINTS: dict[str, list[Constraint | None]] = {
    **SWEEP_CONSTRAINTS,
    "device": [Options(DEVICE_CHOICES), Pattern(r"cuda:\d+", "cuda:N")],
    "out": [None, WritableDir()],
    "progress": [None, WritableFile()],
    "loss": [None, Options(LOSSES)],
    "preset": [None, Options(PRESETS)],
}


@dataclass(frozen=True)
class Sweep:
    """A validated sweep: every (method, budget, seed) of one scenario in one adaptation mode.
    A budget is a fraction of the pool (``core.run.engine.budget_count`` turns it into picks);
    ``scenario`` is the scenario as the sweep's run store knows it."""

    scenario: ScenarioEntry
    methods: tuple[str, ...]
    budgets: tuple[float, ...]
    seeds: tuple[int, ...]
    adaptation: str

    @property
    def grid(self) -> list[tuple[str, float, int]]:
        """(method, budget, seed) in sweep order: budgets outermost, then methods, then seeds."""
        return [(m, b, s) for b in self.budgets for m in self.methods for s in self.seeds]


def check_sweep(
    scenario: str,
    methods: Sequence[str],
    budgets: Sequence[float],
    seeds: Sequence[int],
    adaptation: str | None = None,
    *,
    root: str | Path | None = None,
) -> Sweep:
    """Validate a sweep against SWEEP_CONSTRAINTS and look its scenario up in the run store
    ``root`` (the default store when None); None adaptation -> the scenario's default."""
    params = {
        "methods": list(methods),
        "budgets": list(budgets),
        "seeds": list(seeds),
        "adaptation": adaptation,
    }
    validate_params(SWEEP_CONSTRAINTS, params)
    entry = scenario_entry(scenario, root)
    if unlabelled_target(entry.table):
        raise ForgeLensError(
            f"scenario={scenario!r} has an unlabelled target (unlabelled_target = true): runs "
            "need target labels (every record measures the target loss and accuracy); allowed: "
            f"a labelled target, or `python -m core pick --scenario {scenario}` to pick what "
            "to label"
        )
    if entry.table is not None and entry.table.get("kind") == "embeddings" and adaptation == "full":
        raise ForgeLensError(
            f"adaptation='full' is not allowed for the embeddings scenario {scenario!r} (given "
            "z and logits, no network to fine-tune); allowed: head"
        )
    return Sweep(
        entry,
        tuple(methods),
        tuple(float(b) for b in budgets),
        tuple(int(s) for s in seeds),
        adaptation or entry.adaptation,
    )


# where a sweep's runs execute (core.run.executors)
EXECUTORS = ("local", "ray")
MAX_JOBS = 256


_ADDRESS = re.compile(
    r"^(?:ray://)?(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):(?P<port>\d{1,5})\Z"
)


def split_address(address: str) -> tuple[str, int]:
    """(host, port) of a Ray address ``host:port`` or ``ray://host:port``; a ForgeLensError
    naming the value and the allowed forms otherwise."""
    match = _ADDRESS.match(address) if isinstance(address, str) else None
    port = int(match["port"]) if match else 0
    if match is None or not 1 <= port <= 65535:
        raise ForgeLensError(
            f"address={address!r} is not allowed; allowed: 'auto', 'HOST:PORT' or "
            "'ray://HOST:PORT' with a port in 1..65535 (the address 'ray start --head' prints)"
        )
    return match["host"].strip("[]"), port


def check_executor(executor: str, jobs: int = 1, address: str | None = None) -> tuple[str, int]:
    """Validate the executor options (before any work): (executor, jobs)."""
    check_choice("executor", executor, EXECUTORS)
    jobs = check_int_range("jobs", jobs, 1, MAX_JOBS)
    if address is not None and address != "auto":
        split_address(address)
    if address is not None and executor != "ray":
        raise ForgeLensError(
            f"address={address!r} was given with executor={executor!r}; "
            "allowed: an address only with executor='ray'"
        )
    if jobs > 1 and executor != "local":
        raise ForgeLensError(
            f"jobs={jobs} was given with executor={executor!r}; allowed: jobs "
            "only with executor='local' (Ray schedules its own workers)"
        )
    return executor, jobs
