"""Selector registry (name -> class, resolved on first use) and the public entry points.

The one list of selectors: the CLI's choices and defaults, the dashboard, the reports' order
and the contract tests all read it. Listing names imports no selector (and no torch).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from core.base.registry import Registry
from core.base.validation import ForgeLensError
from core.selection.plugins import (
    entry_point_selectors,
    import_selector,
    is_spec,
    selector_params,
    stored_name,
)
from core.storage.integrity import NAME_PATTERN

if TYPE_CHECKING:
    import numpy as np
    import torch

    from core.selection.base import Selector
    from core.selection.embeddings import PoolEmbedding

# Insertion order is the display order.
SELECTORS: Registry[type[Selector]] = Registry(
    "method",
    {
        "random": "core.selection.uncertainty:RandomSelector",
        "margin": "core.selection.uncertainty:MarginSelector",
        "entropy": "core.selection.uncertainty:EntropySelector",
        "duc": "core.selection.duc:DucSelector",
        "coreset": "core.selection.kcenter:CoresetSelector",
        "badge": "core.selection.kmeanspp:BadgeSelector",
        "clue": "core.selection.clue:ClueSelector",
        "forge": "core.selection.kcenter:ForgeSelector",
        "forge-kmeanspp": "core.selection.kmeanspp:ForgeKMeansPPSelector",
    },
)
# registered selectors a sweep leaves out unless asked for (ablations of another selector)
NOT_IN_DEFAULT_SWEEP = ("forge-kmeanspp",)
# registry name -> "package.module:ClassName" of every selector registered from outside ForgeLens
PLUGIN_SOURCES: dict[str, str] = {}
_discovered = False


def available() -> tuple[str, ...]:
    """Registered selector names in display order (installed plugins included, see plugins)."""
    discover_entry_points()
    return SELECTORS.names()


def default_methods(*, plugins: bool = False) -> tuple[str, ...]:
    """The selectors `python -m core run` sweeps when not told which: the built-ins but the
    ablations. Installed plugins join only when named, or with ``plugins`` (``--with-plugins``):
    installing a package never changes the default experiment silently."""
    return tuple(
        name
        for name in available()
        if name not in NOT_IN_DEFAULT_SWEEP and (plugins or name not in PLUGIN_SOURCES)
    )


def method_order(methods: Any) -> list[str]:
    """The distinct names in ``methods`` in display order: registered first, others sorted."""
    present = set(methods)
    known = [name for name in available() if name in present]
    return known + sorted(present - set(known))


def register(cls: type[Selector]) -> type[Selector]:
    """Add a Selector subclass under ``cls.name`` (usable as a class decorator)."""
    from core.selection.base import Selector

    if not (isinstance(cls, type) and issubclass(cls, Selector) and cls.name):
        raise ForgeLensError(
            f"cls={cls!r} is not allowed; allowed: a Selector subclass with a name"
        )
    SELECTORS.add(cls.name, cls)
    return cls


def get_selector(name: str, **params: Any) -> Selector:
    """A new selector instance for ``name`` with constructor ``params`` (validated here)."""
    selector = SELECTORS.get_class(name)(**params)
    selector.validate_params()
    return selector


def select_from_pool(name: str, pool: PoolEmbedding, n_picks: int, *, seed: int = 0) -> np.ndarray:
    """Run selector ``name`` on a prepared pool: ``n_picks`` distinct int64 indices, in order."""
    return get_selector(name).select(pool, n_picks, seed=seed)


def select(
    name: str,
    z: np.ndarray,
    logits: np.ndarray,
    n_picks: int,
    *,
    seed: int = 0,
    device: str | torch.device | None = None,
) -> np.ndarray:
    """Build the pool from (z, logits) on ``device`` (CUDA when present) and run selector
    ``name``."""
    from core.selection.embeddings import PoolEmbedding

    selector = get_selector(name)
    pool = PoolEmbedding.from_arrays(z, logits, device=device)
    return selector.select(pool, n_picks, seed=seed)


# ---- selectors from outside ForgeLens (core.selection.plugins finds and checks them) ---------
def _register_plugin(name: str, cls: type[Selector], spec: str) -> str:
    if not (isinstance(name, str) and NAME_PATTERN.match(name) and not is_spec(name)):
        raise ForgeLensError(
            f"selector {spec!r} wants the name {name!r}; allowed: a plain name (1-128 letters, "
            "digits, spaces, '.', '_', '+' or '-', starting with a letter or digit), which "
            "its runs are stored under"
        )
    existing = SELECTORS.get(name)
    if existing is not None and existing is not cls:
        raise ForgeLensError(
            f"selector {spec!r} wants the name {name!r}, already taken by "
            f"{existing.__module__}.{existing.__qualname__}; allowed: a free "
            f"name (set the class's `name`), not one of {', '.join(SELECTORS)}"
        )
    SELECTORS[name] = cls
    PLUGIN_SOURCES[name] = spec
    return name


def register_spec(spec: str) -> str:
    """Import and register the selector ``spec`` (``package.module:ClassName``); returns its
    registry name: the class's own ``name`` when it sets a plain one that is free, else a plain
    name made from the spec (``plugins.stored_name``), which its runs are stored under."""
    for name, source in PLUGIN_SOURCES.items():
        if source == spec and name in SELECTORS:
            return name
    cls = import_selector(spec)
    own_name = cls.__dict__.get("name")
    plain = isinstance(own_name, str) and bool(NAME_PATTERN.match(own_name))
    taken = plain and own_name in SELECTORS and SELECTORS[own_name] is not cls
    name = own_name if plain and not taken else stored_name(spec)
    return _register_plugin(name, cls, spec)


def discover_entry_points(*, force: bool = False) -> list[str]:
    """Register every installed ``forgelens.selectors`` entry point (once per process unless
    ``force``); returns the names registered by this call."""
    global _discovered
    if _discovered and not force:
        return []
    _discovered = True
    return [
        _register_plugin(name, cls, source)
        for name, source, cls in entry_point_selectors()
        if PLUGIN_SOURCES.get(name) != source
    ]


def resolve_methods(methods: list[str] | tuple[str, ...]) -> list[str]:
    """Method names with every ``package.module:ClassName`` spec imported and replaced by its
    registry name; installed plugins are discovered first."""
    discover_entry_points()
    return [register_spec(m) if is_spec(m) else m for m in methods]


def plugin_config(method: str) -> dict[str, Any]:
    """What a run config records about a plugin selector (empty for built-ins): its import
    path and parameters, so a changed plugin default gives new run ids."""
    if method not in PLUGIN_SOURCES:
        return {}
    return {
        "selector": {
            "source": PLUGIN_SOURCES[method],
            "params": selector_params(get_selector(method)),
        }
    }


def plugin_sources(methods: list[str] | tuple[str, ...]) -> dict[str, str]:
    """{name: "package.module:ClassName"} of the plugin selectors among ``methods``: what a
    worker process needs to register them as this process did (``use_plugins``)."""
    return {m: PLUGIN_SOURCES[m] for m in methods if m in PLUGIN_SOURCES}


def use_plugins(sources: dict[str, str]) -> None:
    """Register each plugin ``sources`` names (from ``plugin_sources`` of another process)
    under the same name; a name already registered to that source is left as it is."""
    for name, spec in sources.items():
        if PLUGIN_SOURCES.get(name) != spec or name not in SELECTORS:
            _register_plugin(name, import_selector(spec), spec)
