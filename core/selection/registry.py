"""Selector registry (name -> class, resolved on first use) and the public entry points.

The one list of selectors: the CLI's choices and defaults, the dashboard, the reports' order
and the contract tests all read it. Listing names imports no selector (and no torch).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from core.registry import Registry
from core.validation import ForgeLensError

if TYPE_CHECKING:
    import numpy as np
    import torch

    from core.embeddings import PoolEmbedding
    from core.selection.base import Selector

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


def available() -> tuple[str, ...]:
    """Registered selector names in display order (installed plugins included, see plugins)."""
    from core.selection.plugins import discover_entry_points

    discover_entry_points()
    return SELECTORS.names()


def default_methods() -> tuple[str, ...]:
    """The selectors `python -m core run` sweeps when not told which: all but the ablations."""
    return tuple(name for name in available() if name not in NOT_IN_DEFAULT_SWEEP)


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


def select_from_pool(name: str, pool: PoolEmbedding, budget: int, *, seed: int = 0) -> np.ndarray:
    """Run selector ``name`` on a prepared pool: ``budget`` distinct int64 indices, in order."""
    return get_selector(name).select(pool, budget, seed=seed)


def select(
    name: str,
    z: np.ndarray,
    logits: np.ndarray,
    budget: int,
    *,
    seed: int = 0,
    device: str | torch.device | None = None,
) -> np.ndarray:
    """Build the pool from (z, logits) on ``device`` (CUDA when present) and run selector
    ``name``."""
    from core.embeddings import PoolEmbedding

    selector = get_selector(name)
    pool = PoolEmbedding.from_arrays(z, logits, device=device)
    return selector.select(pool, budget, seed=seed)
