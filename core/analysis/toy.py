"""A 2-D toy pool for the teaching view (the paper's Figures 3 and 4).

Several tight clusters of small-|z| samples (low prediction variability) and one spread-out
cluster of large-|z| samples (high variability, confidently classified), with logits from a
fixed linear binary head ``logits = z @ TOY_HEAD.T``. So BADGE and FORGE embeddings are well
defined and, because the head is binary, each embedding space is exactly 2-D:

* the residual a = p - onehot(yhat) of a binary softmax always lies on the line spanned by
  b = (-1, 1) / sqrt(2), so a = s b with s = sigma * sqrt(2) * (1 - p_yhat), where sigma = +1
  when yhat = 0 and -1 when yhat = 1;
* BADGE g = a (x) z = s (b (x) z) and |b (x) z| = |z|, hence g is isometric to s * z;
* FORGE phi = (a / |a|) (x) z is isometric to sigma * z (the direction of a is defined even when
  the softmax saturates: the limit direction, see ``core.selection.embeddings``);
* CORESET is z itself.

``plane_coordinates`` returns these exact 2-D images, so the teaching view can draw the very
space k-center greedy works in, coverage circles included. BADGE multiplies |z| by
sqrt(2)(1 - p_yhat), which is tiny for confident large-|z| samples: they collapse onto the
origin and k-center ignores them; FORGE restores |z| and "pops them out".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from core.base.validation import ForgeLensError, check_choice, check_finite, check_int_range
from core.selection import SPACES

TOY_HEAD = np.array([[-1.5, 0.0], [1.5, 0.0]])  # class 0 left of z1 = 0, class 1 right of it
LOW_CENTRES = np.array([[-1.1, 0.6], [-0.8, -0.8], [0.9, 0.9], [1.1, -0.5]])
HIGH_CENTRE = np.array([3.2, 2.2])
LOW_SPREAD, HIGH_SPREAD = 0.12, 0.85
TOY_SPACES = SPACES  # the pool's spaces, drawn exactly in 2-D
LOW, HIGH = "low variability", "high variability"


@dataclass(frozen=True)
class ToyPool:
    """Features z (N x 2), logits (N x 2), cluster id and variability group per sample."""

    z: np.ndarray
    logits: np.ndarray
    cluster: np.ndarray
    high: np.ndarray

    @property
    def n(self) -> int:
        return len(self.z)

    @property
    def znorm(self) -> np.ndarray:
        return np.linalg.norm(self.z, axis=1)

    @property
    def pseudo(self) -> np.ndarray:
        return np.argmax(self.logits, axis=1)

    def frame(self) -> pd.DataFrame:
        """One row per sample: idx, z1, z2, znorm, cluster, group, pseudo."""
        return pd.DataFrame(
            {
                "idx": np.arange(self.n, dtype=np.int64),
                "z1": self.z[:, 0],
                "z2": self.z[:, 1],
                "znorm": self.znorm,
                "cluster": self.cluster,
                "group": np.where(self.high, HIGH, LOW),
                "pseudo": self.pseudo,
            }
        )


def make_toy_pool(*, n_per_cluster: int = 40, n_high: int = 40, seed: int = 0) -> ToyPool:
    """Four tight low-|z| clusters plus one spread high-|z| cluster, Gaussian, seeded."""
    n_per_cluster = check_int_range("n_per_cluster", n_per_cluster, 1, 10_000)
    n_high = check_int_range("n_high", n_high, 1, 10_000)
    rng = np.random.default_rng(seed)
    parts, clusters = [], []
    for c, centre in enumerate(LOW_CENTRES):
        parts.append(centre + LOW_SPREAD * rng.standard_normal((n_per_cluster, 2)))
        clusters.append(np.full(n_per_cluster, c))
    parts.append(HIGH_CENTRE + HIGH_SPREAD * rng.standard_normal((n_high, 2)))
    clusters.append(np.full(n_high, len(LOW_CENTRES)))
    z = np.concatenate(parts)
    cluster = np.concatenate(clusters).astype(np.int64)
    return ToyPool(z=z, logits=z @ TOY_HEAD.T, cluster=cluster, high=cluster == len(LOW_CENTRES))


def plane_coordinates(z: np.ndarray, logits: np.ndarray, space: str) -> np.ndarray:
    """Exact 2-D images of a binary-head pool's embeddings (pairwise distances preserved)."""
    check_choice("space", space, TOY_SPACES)
    z, logits = np.asarray(z, dtype=np.float64), np.asarray(logits, dtype=np.float64)
    if z.ndim != 2 or logits.ndim != 2 or logits.shape[1] != 2 or len(z) != len(logits):
        raise ForgeLensError(
            f"z.shape={z.shape}, logits.shape={logits.shape}: need N x D features and "
            "N x 2 logits (a binary head) with the same N"
        )
    check_finite("z", z)
    check_finite("logits", logits)
    if space == "coreset":
        return z.copy()
    pseudo = np.argmax(logits, axis=1)
    sigma = np.where(pseudo == 0, 1.0, -1.0)
    if space == "forge":
        return sigma[:, None] * z
    rows = np.arange(len(z))
    lead = logits[rows, pseudo] - logits[rows, 1 - pseudo]  # >= 0
    p_other = np.exp(-lead) / (1.0 + np.exp(-lead))  # 1 - p_yhat, stable for large margins
    return (sigma * np.sqrt(2.0) * p_other)[:, None] * z


def coverage_radii(coords: np.ndarray, picks: np.ndarray) -> np.ndarray:
    """Radius after each prefix of ``picks``: max over samples of the distance to the nearest
    pick."""
    nearest = np.full(len(coords), np.inf)
    radii = np.empty(len(picks))
    for step, pick in enumerate(picks):
        nearest = np.minimum(nearest, np.linalg.norm(coords - coords[pick], axis=1))
        radii[step] = nearest.max()
    return radii


def kcenter_walk(pool: ToyPool, space: str, n_picks: int, *, seed: int = 0) -> pd.DataFrame:
    """k-center greedy on one space of the toy pool, one row per pick.

    Columns: step (1..n_picks), idx, radius (coverage radius after this pick, in that space),
    high (the pick is a high-variability sample). Picks come from
    ``core.selection.kcenter_greedy``, which is prefix-consistent, so rows 1..k are the
    selection of k picks.
    """
    from core.selection.embeddings import PoolEmbedding  # loads torch: the teaching view only
    from core.selection.kcenter import kcenter_greedy

    check_choice("space", space, TOY_SPACES)
    n_picks = check_int_range("n_picks", n_picks, 1, pool.n)
    # a few hundred 2-D points: the CPU answers faster than a GPU round trip; float64 so the
    # greedy ties match the exact plane coordinates used for the radii
    embedding = PoolEmbedding.from_arrays(pool.z, pool.logits, device="cpu", dtype=torch.float64)
    picks = np.asarray(kcenter_greedy(embedding.space(space), n_picks, seed=seed), dtype=np.int64)
    radii = coverage_radii(plane_coordinates(pool.z, pool.logits, space), picks)
    return pd.DataFrame(
        {
            "step": np.arange(1, n_picks + 1),
            "idx": picks,
            "radius": radii,
            "high": pool.high[picks],
        }
    )
