"""Selector registry (name -> class) and the public entry points."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from core.embeddings import PoolEmbedding
from core.selection.base import Selector
from core.selection.clue import ClueSelector
from core.selection.duc import DucSelector
from core.selection.kcenter import CoresetSelector, ForgeSelector
from core.selection.kmeanspp import BadgeSelector, ForgeKMeansPPSelector
from core.selection.uncertainty import EntropySelector, MarginSelector, RandomSelector
from core.validation import ForgeLensError, check_choice

# Insertion order is the display order.
SELECTORS: dict[str, type[Selector]] = {cls.name: cls for cls in (
    RandomSelector, MarginSelector, EntropySelector, DucSelector, CoresetSelector,
    BadgeSelector, ClueSelector, ForgeSelector, ForgeKMeansPPSelector,
)}


def available() -> tuple[str, ...]:
    """Registered selector names in display order (installed plugins included, see plugins)."""
    from core.selection.plugins import discover_entry_points

    discover_entry_points()
    return tuple(SELECTORS)


def register(cls: type[Selector]) -> type[Selector]:
    """Add a Selector subclass under ``cls.name`` (usable as a class decorator)."""
    if not (isinstance(cls, type) and issubclass(cls, Selector) and cls.name):
        raise ForgeLensError(f"cls={cls!r} is not allowed; allowed: a Selector subclass with a name")
    if cls.name in SELECTORS:
        raise ForgeLensError(f"selector name {cls.name!r} is already registered; allowed: a new "
                             f"name, not one of {', '.join(SELECTORS)}")
    SELECTORS[cls.name] = cls
    return cls


def get_selector(name: str, **params: Any) -> Selector:
    """A new selector instance for ``name`` (constructor ``params`` optional)."""
    check_choice("name", name, available())
    return SELECTORS[name](**params)


def select_from_pool(name: str, pool: PoolEmbedding, budget: int, *, seed: int = 0) -> np.ndarray:
    """Run selector ``name`` on a prepared pool: ``budget`` distinct int64 indices, in order."""
    return get_selector(name).select(pool, budget, seed=seed)


def select(name: str, z: np.ndarray, logits: np.ndarray, budget: int, *, seed: int = 0,
           device: str | torch.device | None = None) -> np.ndarray:
    """Build the pool from (z, logits) on ``device`` (CUDA when present) and run selector ``name``."""
    selector = get_selector(name)
    pool = PoolEmbedding.from_arrays(z, logits, device=device)
    return selector.select(pool, budget, seed=seed)
