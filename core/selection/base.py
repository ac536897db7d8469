"""The selector contract, its input checks and the shared tie rule for score-ranked selection."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from core.base.params import MAX_SEED, ParamsMixin
from core.base.validation import ForgeLensError, check_int_range
from core.selection.embeddings import PoolEmbedding


def check_budget(budget: Any, n: int) -> int:
    """``budget`` as int in [1, n] (n = pool size)."""
    return check_int_range("budget", budget, 1, n, f" (the pool has {n} samples)")


def check_seed(seed: Any) -> int:
    """``seed`` as a non-negative int (it seeds numpy's default Generator)."""
    return check_int_range("seed", seed, 0, MAX_SEED)


def top_indices(scores: np.ndarray, budget: int, *, largest: bool) -> np.ndarray:
    """Indices of the ``budget`` best scores, best first; ties go to the lowest index."""
    key = -scores if largest else scores
    return np.argsort(key, kind="stable")[:budget].astype(np.int64)


class Selector(ParamsMixin):
    """Picks ``budget`` distinct pool indices, in selection order, from a prepared pool.

    Subclasses set ``name`` and implement ``_select``; constructors only store parameters (each
    under its own name, so ``get_params()`` returns them for the run config) and declare their
    allowed forms in ``_parameter_constraints``. ``select`` validates once; ``_select`` trusts.
    """

    name: ClassVar[str] = ""
    # False for selectors whose picks do not depend on the seed (pure score ranking)
    seeded: ClassVar[bool] = True

    def select(self, pool: PoolEmbedding, budget: int, seed: int = 0) -> np.ndarray:
        """Validate, select, and check the result: a 1-D int64 array of ``budget`` distinct
        indices."""
        if not isinstance(pool, PoolEmbedding):
            raise ForgeLensError(
                f"pool={type(pool).__name__} is not allowed; allowed: a "
                "core.selection.embeddings.PoolEmbedding (PoolEmbedding.from_arrays)"
            )
        budget = check_budget(budget, pool.n)
        seed = check_seed(seed)
        self.validate_params()
        picks = np.asarray(self._select(pool, budget, seed), dtype=np.int64)
        if (
            picks.shape != (budget,)
            or len(np.unique(picks)) != budget
            or picks.min() < 0
            or picks.max() >= pool.n
        ):
            raise RuntimeError(f"selector {self.name!r} broke its contract: {picks!r}")
        return picks

    def _select(self, pool: PoolEmbedding, budget: int, seed: int) -> np.ndarray:
        raise NotImplementedError
