"""Single-round active-learning selectors over a prepared pool (``core.selection.embeddings``).

``available()`` lists them in display order (the registry, ``core.selection.registry``);
``select(name, z, logits, n_picks, seed=..., device=...)`` returns ``n_picks`` distinct int64
pool indices in selection order (a count; the sweep's ``budget`` is a fraction of the pool);
``select_from_pool`` reuses one prepared ``PoolEmbedding`` for several selectors. The same seed
gives the same result. Importing this package loads no
selector and no torch; the names below that need them load on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

from core.selection.plugins import is_spec
from core.selection.registry import (
    NOT_IN_DEFAULT_SWEEP,
    SELECTORS,
    available,
    default_methods,
    get_selector,
    method_order,
    plugin_config,
    plugin_sources,
    register,
    resolve_methods,
    select,
    select_from_pool,
    use_plugins,
)
from core.selection.spaces import SPACES

_LAZY = {
    "Selector": "core.selection.base",
    "top_indices": "core.selection.base",
    "kcenter_greedy": "core.selection.kcenter",
    "kmeanspp_seeding": "core.selection.kmeanspp",
    "largest_norm_index": "core.selection.kmeanspp",
    "check_selector": "core.selection.contract",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "NOT_IN_DEFAULT_SWEEP",
    "SELECTORS",
    "SPACES",
    "Selector",
    "available",
    "check_selector",
    "default_methods",
    "get_selector",
    "is_spec",
    "kcenter_greedy",
    "kmeanspp_seeding",
    "largest_norm_index",
    "method_order",
    "plugin_config",
    "plugin_sources",
    "register",
    "resolve_methods",
    "select",
    "select_from_pool",
    "top_indices",
    "use_plugins",
]
