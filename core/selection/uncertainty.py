"""Score-ranked selectors from the logits alone: random, margin, entropy.

Ranking ties go to the lowest pool index (stable sort), so these selectors ignore the seed
except ``random``.
"""

from __future__ import annotations

import numpy as np
from scipy.special import log_softmax

from core.selection.base import Selector, top_indices
from core.selection.embeddings import PoolEmbedding


def logit_margin(logits: np.ndarray) -> np.ndarray:
    """Largest minus second-largest logit per sample (FORGE Sec. 6.2); +inf when C = 1."""
    logits = np.asarray(logits, dtype=np.float64)
    if logits.shape[1] == 1:
        return np.full(len(logits), np.inf)
    top2 = np.partition(logits, logits.shape[1] - 2, axis=1)[:, -2:]
    return top2[:, 1] - top2[:, 0]


def predictive_entropy(logits: np.ndarray) -> np.ndarray:
    """Shannon entropy (nats) of softmax(logits), from log-softmax so saturation gives 0, not
    NaN."""
    log_p = log_softmax(np.asarray(logits, dtype=np.float64), axis=1)
    return -(np.exp(log_p) * log_p).sum(axis=1)


class RandomSelector(Selector):
    """Uniformly random subset without repetition (a seeded permutation's prefix)."""

    name = "random"

    def _select(self, pool: PoolEmbedding, n_picks: int, seed: int) -> np.ndarray:
        return np.random.default_rng(seed).permutation(pool.n)[:n_picks]


class MarginSelector(Selector):
    """Smallest gap between the two largest logits first (Balcan et al. 2007, as FORGE defines
    it)."""

    name = "margin"
    seeded = False

    def _select(self, pool: PoolEmbedding, n_picks: int, seed: int) -> np.ndarray:
        return top_indices(logit_margin(pool.logits), n_picks, largest=False)


class EntropySelector(Selector):
    """Largest predictive entropy of softmax(logits) first."""

    name = "entropy"
    seeded = False

    def _select(self, pool: PoolEmbedding, n_picks: int, seed: int) -> np.ndarray:
        return top_indices(predictive_entropy(pool.logits), n_picks, largest=True)
