"""The selector contract, its input checks and the shared tie rule for score-ranked selection.

Here ``n_picks`` is a number of pool samples to pick; the sweep's ``budget`` is a fraction of
the pool (``core.run`` turns one into the other).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch

from core.base.params import MAX_SEED, ParamsMixin
from core.base.validation import ForgeLensError, check_int_range
from core.selection.embeddings import PoolEmbedding
from core.selection.pool_guard import ContractViolation, read_only


def check_n_picks(n_picks: Any, n: int) -> int:
    """``n_picks`` as int in [1, n] (n = pool size)."""
    return check_int_range("n_picks", n_picks, 1, n, f" (the pool has {n} samples)")


def check_seed(seed: Any) -> int:
    """``seed`` as a non-negative int (it seeds numpy's default Generator)."""
    return check_int_range("seed", seed, 0, MAX_SEED)


def top_indices(scores: np.ndarray, n_picks: int, *, largest: bool) -> np.ndarray:
    """Indices of the ``n_picks`` best scores, best first; ties go to the lowest index."""
    key = -scores if largest else scores
    return np.argsort(key, kind="stable")[:n_picks].astype(np.int64)


def checked_picks(raw: Any, n_picks: int, n: int, who: str) -> np.ndarray:
    """A selector's output as int64 picks, or ``ContractViolation`` naming the rule it broke:
    exactly ``n_picks`` integer indices (floats are never truncated), unique, in [0, n)."""
    if isinstance(raw, torch.Tensor):
        raw = raw.detach().cpu().numpy()
    picks = np.asarray(raw)
    hint = "; check it with core.selection.check_selector"
    if picks.ndim != 1 or len(picks) != n_picks:
        raise ContractViolation(
            f"selector {who!r} returned shape {picks.shape} for n_picks={n_picks}; the "
            f"contract (rule 1): a 1-D array of exactly {n_picks} pool indices{hint}"
        )
    if picks.dtype == bool or not np.issubdtype(picks.dtype, np.integer):
        raise ContractViolation(
            f"selector {who!r} returned indices of dtype {picks.dtype}; the contract (rule 1): "
            f"integer pool indices (floats are not truncated){hint}"
        )
    picks = picks.astype(np.int64)
    if len(np.unique(picks)) != n_picks or picks.min() < 0 or picks.max() >= n:
        raise ContractViolation(
            f"selector {who!r} returned {picks.tolist()[:20]}{' ...' if n_picks > 20 else ''}; "
            f"the contract (rule 2): {n_picks} unique indices in [0, {n - 1}]{hint}"
        )
    return picks


class Selector(ParamsMixin):
    """Picks ``n_picks`` distinct pool indices, in selection order, from a prepared pool.

    Subclasses set ``name`` and implement ``_select(pool, n_picks, seed)``; constructors only
    store parameters (each under its own name, so ``get_params()`` returns them for the run
    config) and declare their allowed forms in ``_parameter_constraints``. ``select`` validates
    once; ``_select`` trusts. ``select`` calls ``_select`` positionally, so a plugin written
    when the count was called ``budget`` (``_select(self, pool, budget, seed)``) still works.
    """

    name: ClassVar[str] = ""
    # False for selectors whose picks do not depend on the seed (pure score ranking)
    seeded: ClassVar[bool] = True

    def select(self, pool: PoolEmbedding, n_picks: int, seed: int = 0) -> np.ndarray:
        """Validate, select, and check the result: a 1-D int64 array of ``n_picks`` distinct
        indices."""
        if not isinstance(pool, PoolEmbedding):
            raise ForgeLensError(
                f"pool={type(pool).__name__} is not allowed; allowed: a "
                "core.selection.embeddings.PoolEmbedding (PoolEmbedding.from_arrays)"
            )
        n_picks = check_n_picks(n_picks, pool.n)
        seed = check_seed(seed)
        self.validate_params()
        who = self.name or f"{type(self).__module__}:{type(self).__qualname__}"
        with read_only(pool, who):  # the pool is shared with the sweep's other selectors
            # positional on purpose: plugins may name the parameters differently (class doc)
            raw = self._select(pool, n_picks, seed)
        return checked_picks(raw, n_picks, pool.n, who)

    def _select(self, pool: PoolEmbedding, n_picks: int, seed: int) -> np.ndarray:
        """``n_picks`` distinct pool indices in selection order (inputs already validated)."""
        raise NotImplementedError
