"""CLUE (Prabhu et al. 2021): entropy-weighted k-means on z, then the sample nearest each centroid.

Following the authors' code (github.com/virajprabhu/CLUE, ``sample.py``): sample weights are the
predictive entropy of softmax(logits / T) with T = 1 (their ``clue_softmax_t`` in every config),
K = n_picks clusters, weighted k-means on the penultimate features z. Differences, all documented:

- weights are the exact entropy (the authors add 1e-8 to the probabilities); when every weight
  is 0 (a saturated or one-class pool) all weights become 1, i.e. plain k-means;
- one k-means run (n_init=1): weighted k-means++ seeding (first centre drawn proportionally to
  w, then to w D^2, see ``kmeanspp``), then Lloyd iterations until the assignment stops
  changing, the centroid shift falls to ``tol`` times the mean per-feature variance of z
  (scikit-learn's tolerance, tol = 1e-4), or ``max_iter`` = 100 iterations. On CPU the Lloyd
  iterations are scikit-learn's ``KMeans(sample_weight=w)`` from these seeds; on CUDA a torch
  loop on the device (``IMPLEMENTATION`` says why). torch keeps a zero-weight cluster's
  centroid, scikit-learn relocates it;
- representatives: centroids are visited by decreasing cluster weight (ties: lower centroid
  index) and each takes its nearest pool sample not yet taken (ties: lowest index). This gives
  ``n_picks`` distinct samples without the authors' K x N distance matrix; the selection order is
  the visiting order.

Everything streams over chunks of samples and centroids: memory O(N D + K D + chunk).
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np
import torch

from core.base.params import Interval
from core.selection.base import Selector
from core.selection.embeddings import PoolEmbedding
from core.selection.kmeanspp import kmeanspp_seeding
from core.selection.uncertainty import predictive_entropy

MAX_ITER = 100
TOL = 1e-4
TEMPERATURE = 1.0
_BLOCK_FLOATS = 1 << 22  # elements per sample x centroid block (16 MiB in float32)


def _block_rows(n_cols: int) -> int:
    return max(1, _BLOCK_FLOATS // max(1, n_cols))


def assign_to_centroids(
    z_t: torch.Tensor, sq_z: torch.Tensor, centroids: torch.Tensor
) -> torch.Tensor:
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


def _seeds(pool: PoolEmbedding, k: int, weights: np.ndarray, seed: int) -> torch.Tensor:
    """Weighted k-means++ seeding on z: K x D initial centroids (stored, centred units)."""
    init = kmeanspp_seeding(pool.space("coreset"), k, seed=seed, weights=weights)
    return pool.z_t[:, torch.as_tensor(init, device=pool.device)].T.clone()


def torch_weighted_kmeans(
    pool: PoolEmbedding,
    k: int,
    weights: np.ndarray,
    *,
    seed: int,
    max_iter: int = MAX_ITER,
    tol: float = TOL,
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Weighted Lloyd iterations in torch on the pool's device: (centroids, labels, iterations).

    A cluster with zero total weight keeps its previous centroid."""
    z_t, sq_z = pool.z_t, pool.space("coreset").sq_norms()
    w = torch.as_tensor(weights, dtype=pool.dtype, device=pool.device)
    centroids = _seeds(pool, k, weights, seed)
    threshold = tol * float(torch.var(z_t, dim=1, unbiased=False).mean())
    labels = assign_to_centroids(z_t, sq_z, centroids)
    step = _block_rows(z_t.shape[0])
    iterations = 0
    for iterations in range(1, max_iter + 1):  # noqa: B007 (the count is returned)
        sums = torch.zeros_like(centroids)
        for r0 in range(0, pool.n, step):
            r1 = min(r0 + step, pool.n)
            sums.index_add_(0, labels[r0:r1], z_t[:, r0:r1].T * w[r0:r1, None])
        mass = torch.zeros(k, dtype=pool.dtype, device=pool.device).index_add_(0, labels, w)
        filled = mass > 0
        updated = torch.where(
            filled[:, None], sums / mass.clamp_min(torch.finfo(pool.dtype).tiny)[:, None], centroids
        )
        shift = float(((updated - centroids) ** 2).sum())
        centroids = updated
        new_labels = assign_to_centroids(z_t, sq_z, centroids)
        unchanged = bool(torch.equal(new_labels, labels))
        labels = new_labels
        if unchanged or shift <= threshold:
            break
    return centroids, labels, iterations


def sklearn_weighted_kmeans(
    pool: PoolEmbedding,
    k: int,
    weights: np.ndarray,
    *,
    seed: int,
    max_iter: int = MAX_ITER,
    tol: float = TOL,
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """scikit-learn's ``KMeans`` (lloyd, n_init=1, the same k-means++ seeds, ``sample_weight``)
    on the host: (centroids, labels, iterations), returned on the pool's device.

    Same tolerance rule as the torch loop; scikit-learn relocates an empty cluster to a far
    point instead of keeping its centroid."""
    from sklearn.cluster import KMeans
    from sklearn.exceptions import ConvergenceWarning

    init = _seeds(pool, k, weights, seed).cpu().numpy()
    x = np.ascontiguousarray(pool.z_t.cpu().numpy().T)
    with warnings.catch_warnings():  # duplicate points -> fewer distinct clusters: expected,
        warnings.simplefilter("ignore", ConvergenceWarning)  # the picks stay distinct
        fit = KMeans(
            n_clusters=k,
            init=init,
            n_init=1,
            max_iter=max_iter,
            tol=tol,
            algorithm="lloyd",
            random_state=seed,
        ).fit(x, sample_weight=weights)
    centroids = torch.as_tensor(fit.cluster_centers_, dtype=pool.dtype, device=pool.device)
    labels = torch.as_tensor(fit.labels_.astype(np.int64), device=pool.device)
    return centroids, labels, int(fit.n_iter_)


def weighted_kmeans(
    pool: PoolEmbedding,
    k: int,
    weights: np.ndarray,
    *,
    seed: int,
    max_iter: int = MAX_ITER,
    tol: float = TOL,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Weighted k-means on z: (centroids K x D, labels N) on the pool's device and dtype.

    Which implementation runs, and why: see ``IMPLEMENTATION`` (measured with
    ``benchmarks/bench_clue.py`` at equal objective)."""
    fit = IMPLEMENTATION["cuda" if pool.device.type == "cuda" else "cpu"]
    centroids, labels, _ = fit(pool, k, weights, seed=seed, max_iter=max_iter, tol=tol)
    return centroids, labels


def nearest_distinct(pool: PoolEmbedding, centroids: torch.Tensor, order: np.ndarray) -> np.ndarray:
    """For centroids in ``order``: each one's nearest pool sample not yet taken (ties: lowest)."""
    z_t, sq_z = pool.z_t, pool.space("coreset").sq_norms()
    taken = torch.zeros(pool.n, dtype=torch.bool, device=pool.device)
    picks = np.empty(len(order), dtype=np.int64)
    step = _block_rows(pool.n)
    for c0 in range(0, len(order), step):
        chunk = centroids[torch.as_tensor(order[c0 : c0 + step], device=pool.device)]
        d2 = (chunk @ z_t).mul_(-2.0).add_(sq_z[None, :])  # |c|^2 is constant per row
        for row in range(len(chunk)):
            pick = int(torch.argmin(d2[row].masked_fill(taken, float("inf"))))
            taken[pick] = True
            picks[c0 + row] = pick
    return picks


# Per device, the faster at equal objective (benchmarks/bench_clue.py, N=20k, D=512, K=500, same
# seeds, equal objective to 1e-6, on the shared 2-core machine at load 6-8): on CPU scikit-learn's
# Cython/OpenMP Lloyd took 13.7 s vs 18.7 s for this torch loop with two threads (torch's many
# small two-thread ops stall on a loaded machine) and 10.8 s vs 7.8 s with one thread; the
# maintained library wins by default and is never much slower, so the CPU uses it. On CUDA the
# torch loop keeps the pool on the device (no host copy of z), measured in benchmarks/bench_gpu.py.
IMPLEMENTATION = {"cpu": sklearn_weighted_kmeans, "cuda": torch_weighted_kmeans}


class ClueSelector(Selector):
    """CLUE: entropy-weighted k-means on z with K = n_picks, the nearest distinct sample per
    centroid."""

    name = "clue"

    _parameter_constraints = {
        "temperature": [Interval(numbers.Real, 0, None, closed="neither")],
        "max_iter": [Interval(numbers.Integral, 1, 10**6)],
        "tol": [Interval(numbers.Real, 0, None)],
    }

    def __init__(
        self, temperature: float = TEMPERATURE, max_iter: int = MAX_ITER, tol: float = TOL
    ) -> None:
        self.temperature = temperature
        self.max_iter = max_iter
        self.tol = tol

    def _select(self, pool: PoolEmbedding, n_picks: int, seed: int) -> np.ndarray:
        weights = predictive_entropy(pool.logits / self.temperature)
        if not weights.sum() > 0:
            weights = np.ones(pool.n)
        centroids, labels = weighted_kmeans(
            pool, n_picks, weights, seed=seed, max_iter=self.max_iter, tol=self.tol
        )
        w = torch.as_tensor(weights, dtype=torch.float64, device=pool.device)
        cluster_weight = torch.zeros(n_picks, dtype=torch.float64, device=pool.device)
        cluster_weight.index_add_(0, labels, w)
        order = np.argsort(-cluster_weight.cpu().numpy(), kind="stable")
        return nearest_distinct(pool, centroids, order)
