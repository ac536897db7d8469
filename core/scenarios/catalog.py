"""What a scenario name means in one run store: a built-in, or a scenario file saved in it.

The built-in registry (``core.scenarios.registry.SCENARIOS``) never changes after import. A
scenario file saved in a store (``<store>/_scenarios/<name>.toml``) is found through that store
only: ``scenario_entry(name, root)`` returns a ``ScenarioEntry``, a small picklable value (the
name and, for a file, its parsed table) that carries everything the engine asks about a
scenario (its builder, default hyper-parameters and adaptation mode) and travels explicitly to
workers (local processes, Ray tasks) and to the dashboard. Two stores holding different files
under one name never see each other's.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.base.hparams import HParams, default_adaptation, hparams_for, with_preset
from core.base.validation import ForgeLensError, suggest
from core.scenarios.registry import SCENARIOS
from core.scenarios.scenario_file import file_adaptation, read_saved, scenarios_dir, to_toml

if TYPE_CHECKING:
    from core.base.data import Scenario, ScenarioBuilder


@dataclass(frozen=True, eq=False)
class ScenarioEntry:
    """One scenario as a store knows it. ``table`` is the saved scenario file's table (absolute
    paths), None for a built-in. Equal entries have the same name and table."""

    name: str
    table: dict[str, Any] | None = field(default=None)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ScenarioEntry) and (self.name, self.table) == (
            other.name,
            other.table,
        )

    def __hash__(self) -> int:
        return hash(self.name)

    @property
    def from_file(self) -> bool:
        return self.table is not None

    @property
    def builder(self) -> type[ScenarioBuilder]:
        """The builder class (a scenario file's is made from its table, once per process)."""
        if self.table is None:
            return SCENARIOS.get_class(self.name)
        from core.scenarios.file_builders import builder_class  # loads the builders and torch

        return builder_class(to_toml(self.table))

    @property
    def description(self) -> str:
        return self.builder.description

    @property
    def adaptation(self) -> str:
        """The adaptation mode a run uses unless told otherwise."""
        if self.table is None:
            return default_adaptation(self.name)
        return file_adaptation(self.table)

    def hparams(self, preset: str = "default", **overrides: Any) -> HParams:
        """Default hyper-parameters (``preset`` "default" or "paper") with ``overrides``."""
        if self.table is None:
            return hparams_for(self.name, preset, **overrides)
        from core.scenarios.file_builders import file_hparams  # loads the local backbones

        return with_preset(file_hparams(self.table), preset, **overrides)

    def build(self, **params: Any) -> Scenario:
        """Build the scenario with builder parameters ``params`` (not cached)."""
        builder_cls = self.builder
        try:
            builder = builder_cls(**params)
        except TypeError as error:
            allowed = [
                name
                for name in inspect.signature(builder_cls.__init__).parameters
                if name not in ("self", "args", "kwargs")
            ]
            unknown = sorted(set(params) - set(allowed))
            if not unknown:  # the builder's own bug, not a bad parameter: keep its traceback
                raise
            raise ForgeLensError(
                f"scenario {self.name!r}: bad parameters: {', '.join(unknown)} not known; "
                f"allowed: {', '.join(allowed)}"
            ) from error
        return builder.build()

    def load(self) -> Scenario:
        """The scenario with its default parameters: a built-in is built once per process, a
        scenario file on every call (its files may change while the process lives)."""
        return self.build() if self.table is not None else _load_builtin(self.name)


@cache
def _load_builtin(name: str) -> Scenario:
    return ScenarioEntry(name).build()


def saved_scenarios(root: str | Path | None) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """The scenario files saved in the store ``root``: (table by name, error by file name), so
    one broken file never hides the others and never breaks a listing."""
    return read_saved(root)


def available(root: str | Path | None = None) -> tuple[str, ...]:
    """The built-in scenarios, then those saved in the store ``root`` (default store if None)."""
    saved, _ = saved_scenarios(root)
    return SCENARIOS.names() + tuple(sorted(n for n in saved if n not in SCENARIOS))


def scenario_entry(name: str, root: str | Path | None = None) -> ScenarioEntry:
    """The scenario called ``name`` in the store ``root``: a built-in, else the scenario file
    saved there; an error naming the allowed names otherwise."""
    if isinstance(name, str) and name in SCENARIOS:
        return ScenarioEntry(name)
    saved, broken = saved_scenarios(root)
    if isinstance(name, str) and name in saved:
        return ScenarioEntry(name, saved[name])
    problem = broken.get(f"{name}.toml") if isinstance(name, str) else None
    if problem:
        raise ForgeLensError(f"scenario={name!r} is saved but cannot be read: {problem}")
    names = SCENARIOS.names() + tuple(sorted(saved))
    raise ForgeLensError(
        f"scenario={name!r} is not allowed{suggest(name, names)}; allowed: one of "
        f"{', '.join(names)} (built-ins, and the scenario files saved in the run store "
        f"{str(scenarios_dir(root).parent)!r})"
    )
