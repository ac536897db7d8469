"""Frozen copies of k-center greedy and k-means++ seeding as they were before the speed and
numerics work of issue 13 (uncentred z, torch elementwise ops), the reference that the new
selectors must pick identically to. Only the distance code is restated; the draw helpers are
the library's (unchanged)."""

from __future__ import annotations

import numpy as np
import torch

from core.selection.embeddings import residual_factors
from core.selection.kmeanspp import _draw_centre


class OldSpace:
    """The former EmbeddingSpace: z (D x N, not centred) and a left factor, torch ops."""

    def __init__(
        self, z: np.ndarray, logits: np.ndarray, space: str, dtype: torch.dtype = torch.float32
    ) -> None:
        np_dtype = np.float32 if dtype == torch.float32 else np.float64
        self.z_t = torch.from_numpy(np.ascontiguousarray(z.T, dtype=np_dtype))
        sq_z = np.einsum("ij,ij->i", z.astype(np.float64), z.astype(np.float64))
        if space == "coreset":
            self.left_t, sq_left = None, np.ones(len(z))
        else:
            factors = residual_factors(logits)
            factor = factors.residual if space == "badge" else factors.direction
            self.left_t = torch.as_tensor(np.ascontiguousarray(factor.T), dtype=dtype)
            sq_left = np.einsum("ij,ij->i", factor, factor)
        self.sq = torch.as_tensor(sq_left * sq_z, dtype=dtype)
        self.n = len(z)
        self.dtype = dtype

    def sq_dist_to(self, index: int) -> torch.Tensor:
        inner = self.z_t[:, index] @ self.z_t
        if self.left_t is not None:
            inner.mul_(self.left_t[:, index] @ self.left_t)
        d2 = inner.mul_(-2.0)
        d2.add_(self.sq).add_(self.sq[index])
        return d2.clamp_min_(0.0)


def old_kcenter(space: OldSpace, n_picks: int, first: int) -> np.ndarray:
    picks = np.empty(n_picks, dtype=np.int64)
    picks[0] = current = first
    min_sq = torch.full((space.n,), float("inf"), dtype=space.dtype)
    for step in range(1, n_picks):
        torch.minimum(min_sq, space.sq_dist_to(current), out=min_sq)
        min_sq[current] = float("-inf")
        current = int(torch.argmax(min_sq))
        picks[step] = current
    return picks


def old_kmeanspp(space: OldSpace, n_picks: int, seed: int, first: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    free = np.ones(space.n)
    picks = np.empty(n_picks, dtype=np.int64)
    picks[0] = current = first
    free[current] = 0.0
    min_sq = torch.full((space.n,), float("inf"), dtype=space.dtype)
    for step in range(1, n_picks):
        torch.minimum(min_sq, space.sq_dist_to(current), out=min_sq)
        d2 = min_sq.to(torch.float64).numpy()
        current = _draw_centre(rng, [d2], free)
        picks[step] = current
        free[current] = 0.0
    return picks


def brute_kcenter(u: np.ndarray, n_picks: int, first: int) -> np.ndarray:
    """k-center greedy on explicit float64 vectors u (N x M), exact differences (no expansion)."""
    picks = [first]
    min_sq = np.full(len(u), np.inf)
    for _ in range(1, n_picks):
        diff = u - u[picks[-1]]
        min_sq = np.minimum(min_sq, np.einsum("ij,ij->i", diff, diff))
        min_sq[picks] = -np.inf
        picks.append(int(np.argmax(min_sq)))
    return np.array(picks, dtype=np.int64)
