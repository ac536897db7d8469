"""Scenarios: the built-in registry (``registry``), scenario files of a user's own data saved in
a run store (``scenario_file``), and what a name means in one store (``catalog``).

Every built-in is built only from data that ship inside installed packages, so nothing is
fetched at run time. Listing and checking names loads no builder (and no torch); the data
containers (``Scenario``, ``Split``) live in ``core.base.data`` and load on first use here.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from core.scenarios.catalog import ScenarioEntry, available, saved_scenarios, scenario_entry
from core.scenarios.registry import DEFAULT_SCENARIO, SCENARIOS

if TYPE_CHECKING:
    from core.base.data import Scenario

_LAZY = {
    "SPLIT_NAMES": "core.base.splits",
    "Scenario": "core.base.data",
    "ScenarioBuilder": "core.base.data",
    "Split": "core.base.data",
}

__all__ = [
    "DEFAULT_SCENARIO",
    "SCENARIOS",
    "SPLIT_NAMES",
    "Scenario",
    "ScenarioBuilder",
    "ScenarioEntry",
    "Split",
    "available",
    "build_scenario",
    "describe",
    "load_scenario",
    "saved_scenarios",
    "scenario_entry",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def describe(name: str, root: Any = None) -> str:
    """One-line description of scenario ``name`` in the store ``root`` (builds nothing)."""
    return scenario_entry(name, root).description


def build_scenario(name: str, **params: Any) -> Scenario:
    """Build built-in scenario ``name`` with builder parameters ``params`` (not cached)."""
    SCENARIOS.get_class(name)
    return ScenarioEntry(name).build(**params)


def load_scenario(name: str) -> Scenario:
    """Built-in scenario ``name`` with its default parameters, built once per process."""
    SCENARIOS.get_class(name)
    return ScenarioEntry(name).load()
