"""Single-round active-learning selectors over a prepared pool (``core.embeddings``).

``available()`` lists them in display order: random, margin, entropy, duc, coreset, badge,
clue, forge, forge-kmeanspp. ``select(name, z, logits, budget, seed=..., device=...)`` returns
``budget`` distinct int64 pool indices in selection order; ``select_from_pool`` reuses one
prepared ``PoolEmbedding`` for several selectors. The same seed gives the same result.
"""

from core.selection.base import Selector, top_indices
from core.selection.contract import check_selector
from core.selection.kcenter import kcenter_greedy
from core.selection.kmeanspp import kmeanspp_seeding, largest_norm_index
from core.selection.plugins import plugin_config, resolve_methods
from core.selection.registry import (
    SELECTORS,
    available,
    get_selector,
    register,
    select,
    select_from_pool,
)

__all__ = [
    "SELECTORS",
    "Selector",
    "available",
    "check_selector",
    "get_selector",
    "kcenter_greedy",
    "kmeanspp_seeding",
    "largest_norm_index",
    "plugin_config",
    "register",
    "resolve_methods",
    "select",
    "select_from_pool",
    "top_indices",
]
