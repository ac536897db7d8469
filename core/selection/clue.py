"""CLUE (Prabhu et al. 2021): entropy-weighted k-means on z, then the sample nearest each centroid.

Following the authors' code (github.com/virajprabhu/CLUE, ``sample.py``): sample weights are the
predictive entropy of softmax(logits / T) with T = 1 (their ``clue_softmax_t`` in every config),
K = budget clusters, weighted k-means on the penultimate features z. Differences, all documented:

- weights are the exact entropy (the authors add 1e-8 to the probabilities); when every weight
  is 0 (a saturated or one-class pool) all weights become 1, i.e. plain k-means;
- one k-means run in torch (not scikit-learn, n_init=1): weighted k-means++ seeding (first centre
  drawn proportionally to w, then to w D^2, see ``kmeanspp``), then Lloyd iterations until the
  assignment stops changing, the centroid shift falls to ``tol`` times the mean per-feature
  variance of z (scikit-learn's tolerance, tol = 1e-4), or ``max_iter`` = 100 iterations.
  A cluster with zero total weight keeps its previous centroid;
- representatives: centroids are visited by decreasing cluster weight (ties: lower centroid
  index) and each takes its nearest pool sample not yet taken (ties: lowest index). This gives
  ``budget`` distinct samples without the authors' K x N distance matrix; the selection order is
  the visiting order.

Everything streams over chunks of samples and centroids: memory O(N D + K D + chunk).
"""

from __future__ import annotations

import numbers

import numpy as np
import torch

from core.embeddings import PoolEmbedding
from core.params import Interval
from core.selection.base import Selector
from core.selection.kmeanspp import kmeanspp_seeding
from core.selection.uncertainty import predictive_entropy

MAX_ITER = 100
TOL = 1e-4
TEMPERATURE = 1.0
_BLOCK_FLOATS = 1 << 22  # elements per sample x centroid block (16 MiB in float32)


def _block_rows(n_cols: int) -> int:
    return max(1, _BLOCK_FLOATS // max(1, n_cols))


def assign_to_centroids(z_t: torch.Tensor, sq_z: torch.Tensor,
                        centroids: torch.Tensor) -> torch.Tensor:
    """Nearest centroid (K x D) of every column of z_t (D x N), ties to the lowest index."""
    n = z_t.shape[1]
    sq_c = (centroids * centroids).sum(dim=1)
    labels = torch.empty(n, dtype=torch.int64, device=z_t.device)
    step = _block_rows(len(centroids))
    for r0 in range(0, n, step):
        r1 = min(r0 + step, n)
        d2 = z_t[:, r0:r1].T @ centroids.T
        d2.mul_(-2.0).add_(sq_z[r0:r1, None]).add_(sq_c[None, :])
        labels[r0:r1] = d2.argmin(dim=1)
    return labels


def weighted_kmeans(pool: PoolEmbedding, k: int, weights: np.ndarray, *, seed: int,
                    max_iter: int = MAX_ITER, tol: float = TOL) -> tuple[torch.Tensor, torch.Tensor]:
    """Weighted k-means on z: (centroids K x D, labels N) on the pool's device and dtype."""
    space = pool.space("coreset")
    z_t, sq_z = pool.z_t, space.sq_norms()
    w = torch.as_tensor(weights, dtype=pool.dtype, device=pool.device)
    init = kmeanspp_seeding(space, k, seed=seed, weights=weights)
    centroids = z_t[:, torch.as_tensor(init, device=pool.device)].T.clone()
    threshold = tol * float(torch.var(z_t, dim=1, unbiased=False).mean())
    labels = assign_to_centroids(z_t, sq_z, centroids)
    step = _block_rows(z_t.shape[0])
    for _ in range(max_iter):
        sums = torch.zeros_like(centroids)
        for r0 in range(0, pool.n, step):
            r1 = min(r0 + step, pool.n)
            sums.index_add_(0, labels[r0:r1], z_t[:, r0:r1].T * w[r0:r1, None])
        mass = torch.zeros(k, dtype=pool.dtype, device=pool.device).index_add_(0, labels, w)
        filled = mass > 0
        updated = torch.where(filled[:, None], sums / mass.clamp_min(torch.finfo(pool.dtype).tiny)[:, None], centroids)
        shift = float(((updated - centroids) ** 2).sum())
        centroids = updated
        new_labels = assign_to_centroids(z_t, sq_z, centroids)
        unchanged = bool(torch.equal(new_labels, labels))
        labels = new_labels
        if unchanged or shift <= threshold:
            break
    return centroids, labels


def nearest_distinct(pool: PoolEmbedding, centroids: torch.Tensor, order: np.ndarray) -> np.ndarray:
    """For centroids in ``order``: each one's nearest pool sample not yet taken (ties: lowest)."""
    z_t, sq_z = pool.z_t, pool.space("coreset").sq_norms()
    taken = torch.zeros(pool.n, dtype=torch.bool, device=pool.device)
    picks = np.empty(len(order), dtype=np.int64)
    step = _block_rows(pool.n)
    for c0 in range(0, len(order), step):
        chunk = centroids[torch.as_tensor(order[c0:c0 + step], device=pool.device)]
        d2 = (chunk @ z_t).mul_(-2.0).add_(sq_z[None, :])  # |c|^2 is constant per row
        for row in range(len(chunk)):
            pick = int(torch.argmin(d2[row].masked_fill(taken, float("inf"))))
            taken[pick] = True
            picks[c0 + row] = pick
    return picks


class ClueSelector(Selector):
    """CLUE: entropy-weighted k-means on z with K = budget, nearest distinct sample per centroid."""

    name = "clue"

    _parameter_constraints = {
        "temperature": [Interval(numbers.Real, 0, None, closed="neither")],
        "max_iter": [Interval(numbers.Integral, 1, 10**6)],
        "tol": [Interval(numbers.Real, 0, None)],
    }

    def __init__(self, temperature: float = TEMPERATURE, max_iter: int = MAX_ITER,
                 tol: float = TOL) -> None:
        self.temperature = temperature
        self.max_iter = max_iter
        self.tol = tol

    def _select(self, pool: PoolEmbedding, budget: int, seed: int) -> np.ndarray:
        weights = predictive_entropy(pool.logits / self.temperature)
        if not weights.sum() > 0:
            weights = np.ones(pool.n)
        centroids, labels = weighted_kmeans(pool, budget, weights, seed=seed,
                                            max_iter=self.max_iter, tol=self.tol)
        w = torch.as_tensor(weights, dtype=torch.float64, device=pool.device)
        cluster_weight = torch.zeros(budget, dtype=torch.float64, device=pool.device)
        cluster_weight.index_add_(0, labels, w)
        order = np.argsort(-cluster_weight.cpu().numpy(), kind="stable")
        return nearest_distinct(pool, centroids, order)
