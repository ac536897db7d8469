"""DUC: Dirichlet-based uncertainty calibration (Xie et al., ICLR 2023), two-round selection.

Taken from the authors' code (github.com/BIT-DA/DUC, ``core/active/active.py`` and
``core/config/defaults.py``):

- evidence from the logits: Dirichlet alpha = exp(logits), S = sum_c alpha_c,
  expected probability p = alpha / S (= softmax(logits));
- data uncertainty U_dat = sum_c p_c (psi(S + 1) - psi(alpha_c + 1)) (expected entropy);
- point entropy H = -sum_c p_c log(p_c + 1e-7) (the authors' eps = 1e-7);
- distribution uncertainty U_dis = H - U_dat (mutual information);
- round 1 keeps the ceil(kappa * n_picks) samples of highest U_dis (kappa = 2, the authors'
  TRAINER.KAPPA default, no config overrides it); round 2 takes the ``n_picks`` of highest U_dat
  among them. Both sorts are stable and descending, as the authors' ``sorted(..., reverse=True)``,
  so ties keep pool order in round 1 and round-1 order in round 2.

Here the logits are the source model's (trained with cross-entropy, not the DUC evidential loss).
exp(logits) overflows for large logits, so S and psi(alpha + 1) are computed from log alpha:
psi(exp(x) + 1) uses scipy's digamma for x <= 30 and the asymptotic x + exp(-x) / 2 above
(the next term, -exp(-2x) / 12, is below 1e-27 there).
"""

from __future__ import annotations

import math
import numbers

import numpy as np
from scipy.special import digamma, logsumexp

from core.base.params import Interval
from core.selection.base import Selector, top_indices
from core.selection.embeddings import PoolEmbedding

KAPPA = 2.0
ENTROPY_EPS = 1e-7
_ASYMPTOTIC_FROM = 30.0


def digamma_exp_plus_one(log_x: np.ndarray) -> np.ndarray:
    """psi(exp(log_x) + 1) without overflowing exp (see the module docstring)."""
    log_x = np.asarray(log_x, dtype=np.float64)
    out = np.empty_like(log_x)
    small = log_x <= _ASYMPTOTIC_FROM
    out[small] = digamma(np.exp(log_x[small]) + 1.0)
    big = log_x[~small]
    out[~small] = big + 0.5 * np.exp(-big)
    return out


def dirichlet_uncertainties(logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distribution uncertainty, data uncertainty) per sample, as in the authors' code."""
    logits = np.asarray(logits, dtype=np.float64)
    log_total = logsumexp(logits, axis=1)
    p = np.exp(logits - log_total[:, None])
    point_entropy = -(p * np.log(p + ENTROPY_EPS)).sum(axis=1)
    data = (p * (digamma_exp_plus_one(log_total)[:, None] - digamma_exp_plus_one(logits))).sum(1)
    return point_entropy - data, data


class DucSelector(Selector):
    """Highest distribution uncertainty (ceil(kappa * n_picks) kept), then highest data
    uncertainty."""

    name = "duc"
    seeded = False

    _parameter_constraints = {"kappa": [Interval(numbers.Real, 1, None)]}

    def __init__(self, kappa: float = KAPPA) -> None:
        self.kappa = kappa

    def _select(self, pool: PoolEmbedding, n_picks: int, seed: int) -> np.ndarray:
        distribution, data = dirichlet_uncertainties(pool.logits)
        first_round = min(pool.n, math.ceil(n_picks * self.kappa))
        candidates = top_indices(distribution, first_round, largest=True)
        return candidates[top_indices(data[candidates], n_picks, largest=True)]
