"""TypiClust (Hacohen, Dekel & Weinshall, ICML 2022): a low-budget selector as a ForgeLens plugin.

"Active learning on a budget": with few labels, pick *typical* samples of distinct clusters
rather than uncertain ones. Following the authors' code (github.com/avihu111/TypiClust,
``deep-al/pycls/al/typiclust.py``, TPC-RP), on the pool's penultimate features z:

1. cluster z into K = min(|L| + n_picks, 500) clusters (the authors' |L| + budget; |L| = 0
   labelled samples here: single round), with scikit-learn's KMeans when K <= 50, else
   MiniBatchKMeans (batch 5,000);
2. keep the clusters with more than 5 points, order them by labelled count (all 0), then by
   size, largest first;
3. for pick i take cluster i mod (number of clusters) and, among its points not yet taken, the
   most typical one: typicality = 1 / (mean squared L2 distance to its k nearest neighbours
   within the cluster + 1e-5), k = min(20, remaining // 2) (faiss's IndexFlatL2 distances are
   squared, so are these).

Differences, documented: KMeans gets ``random_state=seed`` and ``n_init=10`` (the authors left
both to scikit-learn's defaults of their time: unseeded, 10); ties in cluster order go to the
lower cluster id and ties in typicality to the lowest pool index; when no cluster has more than
5 points (tiny pools) every cluster is kept; a cluster whose points are all taken is skipped;
with k = 0 (one point left) that point is taken. Neighbours are searched in chunks of rows
(torch), so memory is chunk x cluster size, never N x N.

Use it without installing anything: ``python -m core run --methods
random,examples.typiclust:TypiClust``,
or install a package that declares it in the ``forgelens.selectors`` entry-point group
(see ``examples/pyproject.toml``) and use ``--methods typiclust``.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from sklearn.cluster import KMeans, MiniBatchKMeans
from sklearn.exceptions import ConvergenceWarning

from core.base.validation import check_int_range
from core.selection import Selector
from core.selection.embeddings import PoolEmbedding

MIN_CLUSTER_SIZE = 5
MAX_NUM_CLUSTERS = 500
K_NN = 20
FULL_KMEANS_UP_TO = 50
_CHUNK = 1024


def mean_sq_knn_distance(features: torch.Tensor, k: int) -> torch.Tensor:
    """Mean squared distance of each row to its ``k`` nearest other rows (chunked)."""
    sq = (features * features).sum(dim=1)
    out = torch.empty(len(features), dtype=torch.float64)
    for start in range(0, len(features), _CHUNK):
        block = features[start : start + _CHUNK]
        d2 = (sq[start : start + _CHUNK, None] + sq[None, :] - 2.0 * block @ features.T).clamp_min(
            0
        )
        d2[torch.arange(len(block)), torch.arange(start, start + len(block))] = float("inf")
        out[start : start + len(block)] = (
            torch.topk(d2, k, dim=1, largest=False).values.double().mean(1).cpu()
        )
    return out


def typicality(features: torch.Tensor, k: int) -> np.ndarray:
    """The authors' typicality: 1 / (mean squared k-NN distance + 1e-5)."""
    return (1.0 / (mean_sq_knn_distance(features, k) + 1e-5)).numpy()


def cluster_labels(z: np.ndarray, n_clusters: int, seed: int) -> np.ndarray:
    """KMeans (K <= 50) or MiniBatchKMeans labels of the rows of ``z``, seeded."""
    with warnings.catch_warnings():  # fewer distinct points than clusters: sklearn warns
        warnings.simplefilter("ignore", ConvergenceWarning)
        if n_clusters <= FULL_KMEANS_UP_TO:
            model = KMeans(n_clusters=n_clusters, n_init=10, random_state=seed)
        else:
            model = MiniBatchKMeans(
                n_clusters=n_clusters, batch_size=5000, n_init=10, random_state=seed
            )
        return model.fit_predict(z).astype(np.int64)


class TypiClust(Selector):
    """TPC-RP: the most typical sample of each of the ``n_picks`` largest k-means clusters of z."""

    name = "typiclust"

    def __init__(
        self,
        min_cluster_size: int = MIN_CLUSTER_SIZE,
        max_clusters: int = MAX_NUM_CLUSTERS,
        k_nn: int = K_NN,
    ) -> None:
        self.min_cluster_size = min_cluster_size
        self.max_clusters = max_clusters
        self.k_nn = k_nn

    def get_params(self) -> dict[str, int]:
        return {
            "min_cluster_size": self.min_cluster_size,
            "max_clusters": self.max_clusters,
            "k_nn": self.k_nn,
        }

    def _select(self, pool: PoolEmbedding, n_picks: int, seed: int) -> np.ndarray:
        check_int_range("min_cluster_size", self.min_cluster_size, 0, 10**9)
        check_int_range("max_clusters", self.max_clusters, 1, 10**9)
        check_int_range("k_nn", self.k_nn, 1, 10**6)
        z_t = pool.z_t.detach().to("cpu", torch.float64)
        z = z_t.T.contiguous()
        n_clusters = min(n_picks, self.max_clusters, pool.n)
        labels = cluster_labels(z.numpy(), n_clusters, seed % 2**32)
        ids, sizes = np.unique(labels, return_counts=True)
        keep = sizes > self.min_cluster_size
        if not keep.any():
            keep[:] = True
        ids, sizes = ids[keep], sizes[keep]
        order = ids[np.lexsort((ids, -sizes))]  # largest first, ties: lower cluster id
        taken = np.zeros(pool.n, dtype=bool)
        picks: list[int] = []
        step = 0
        while len(picks) < n_picks:
            cluster = order[step % len(order)]
            step += 1
            members = np.flatnonzero((labels == cluster) & ~taken)
            if len(members) == 0:
                if not np.isin(labels[~taken], order).any():  # kept clusters exhausted
                    order = np.unique(labels[~taken])
                continue
            k = min(self.k_nn, len(members) // 2)
            if k == 0:
                best = members[0]
            else:
                scores = typicality(z[torch.from_numpy(members)], k)
                best = members[int(np.argmax(scores))]  # first maximum: lowest index
            taken[best] = True
            picks.append(int(best))
        return np.asarray(picks, dtype=np.int64)
