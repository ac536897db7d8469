"""Budget split across target domains (the paper's C -> VLS setting, section 6.4).

With several target domains the budget fraction applies to each domain: "5% from each target
domain". Domain d of n_d pool samples gets k_d = max(1, round(fraction * n_d)) labels (at most
n_d), chosen by the selector run on that domain's samples alone (same seed); the picks are
concatenated in domain order. So a selector never trades one domain's labels for another's.
"""

from __future__ import annotations

import numpy as np

from core.base.validation import check_fraction
from core.selection.base import Selector
from core.selection.embeddings import PoolEmbedding
from core.selection.registry import get_selector


def group_counts(fraction: float, groups: np.ndarray) -> dict[int, int]:
    """Labels per group: max(1, round(fraction * n_g)), at most n_g."""
    fraction = check_fraction("fraction", fraction)
    values, sizes = np.unique(np.asarray(groups), return_counts=True)
    return {
        int(g): int(min(n, max(1, round(fraction * n)))) for g, n in zip(values, sizes, strict=True)
    }


def select_per_group(
    method: str | Selector,
    pool: PoolEmbedding,
    fraction: float,
    groups: np.ndarray,
    *,
    seed: int = 0,
) -> np.ndarray:
    """Selector ``method`` (a registered name or an instance) run on each group's sub-pool with
    that group's count of ``group_counts``; pool indices of all picks, group by group."""
    selector = get_selector(method) if isinstance(method, str) else method
    groups = np.asarray(groups)
    z = pool.features()
    picks = []
    for group, count in group_counts(fraction, groups).items():
        rows = np.flatnonzero(groups == group)
        sub = PoolEmbedding.from_arrays(
            z[rows], pool.logits[rows], device=pool.device, dtype=pool.dtype
        )
        picks.append(rows[selector.select(sub, count, seed=seed)])
    return np.concatenate(picks).astype(np.int64)
