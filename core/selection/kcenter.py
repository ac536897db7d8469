"""k-center greedy (Sener & Savarese 2018; FORGE Algorithm 1) on a factored embedding space.

The first centre is drawn uniformly with the seeded generator (Algorithm 1, line 2) unless
``first`` is given. Each later step keeps a running min-distance vector and updates it with the
one new centre, then the farthest point becomes the next centre. Already-selected points are
masked out (-inf) and ties go to the lowest index, so a pool of identical points yields the
lowest unselected indices. The first k picks of a run equal the run with n_picks = k (prefix
consistency).

Two exact algorithms (``ALGORITHMS``):

- ``scan``: every step reads all of z and the left factor (N (C + D) floats): one mat-vec on
  the device's BLAS, then a few elementwise passes (numpy on CPU, see ``sq_dist_to``).
- ``pruned``: skips the points the new centre cannot move (Elkan / Hamerly style, kept per
  point). Each point remembers its current centre a(i) and squared distance m_i. By the
  triangle inequality d(i, c) >= d(a(i), c) - d(i, a(i)), so when d(a(i), c) >= 2 d(i, a(i)) the
  new centre c is no closer than a(i) and m_i stays. Centre-to-centre distances cost K (C + D)
  per step; only the remaining points are read (their columns, gathered; when more than a
  quarter of the pool remains, the scan's contiguous mat-vec reads everything instead: strided
  gathers cost more than their bytes). No extra copy of z. The test is made safe against rounding:
  every computed
  squared distance is within delta = 2 (D + C + 20) eps (nu_i^2 + nu_max^2) of the exact one
  (nu_i >= |u_i| bounds the factored product, the standard dot-product error bound), and a point
  is skipped only when even the rounded-down centre distance and rounded-up radius pass the test,
  so a skipped point's computed distance could not have gone below m_i. The distances it does
  compute are the scan's own, bit for bit (``_Rows``), so the picks equal the scan's, ties
  included (tested on random and clustered pools in float32 and float64, and against a float64
  brute-force reference). That relies on the BLAS summing each column the same way whatever
  the number of columns (MKL on CPU does; a GPU BLAS may pick another kernel for another shape,
  and then only candidates tied within float rounding could be ordered differently).
"""

from __future__ import annotations

import numpy as np
import torch

from core.base.validation import check_choice, check_int_range
from core.selection.base import Selector, check_n_picks, check_seed
from core.selection.embeddings import EmbeddingSpace, PoolEmbedding

ALGORITHMS = ("scan", "pruned")


def _first_centre(n: int, seed: int, first: int | None) -> int:
    if first is None:
        first = int(np.random.default_rng(seed).integers(n))
    return check_int_range("first", first, 0, n - 1)


def kcenter_greedy(
    space: EmbeddingSpace,
    n_picks: int,
    *,
    seed: int = 0,
    first: int | None = None,
    algorithm: str = "scan",
    stats: dict | None = None,
) -> np.ndarray:
    """``n_picks`` pool indices in selection order, greedily maximising the min distance.

    ``algorithm``: "scan" or "pruned" (module notes). ``stats``, when a dict, receives
    ``scanned`` (points whose distance was computed, per step) for the pruned algorithm and,
    on CPU, ``lines`` (distinct 64-byte cache lines per matrix row its gathers touched).
    """
    n = space.n
    n_picks = check_n_picks(n_picks, n)
    seed = check_seed(seed)
    check_choice("algorithm", algorithm, ALGORITHMS)
    current = _first_centre(n, seed, first)
    if algorithm == "pruned":
        return _pruned(space, n_picks, current, stats)
    picks = np.empty(n_picks, dtype=np.int64)
    picks[0] = current
    if space.host_steps:
        min_sq = np.full(
            n, np.inf, dtype=np.float32 if space.dtype == torch.float32 else np.float64
        )
        for step in range(1, n_picks):
            np.minimum(min_sq, space.sq_dist_to(current).numpy(), out=min_sq)
            min_sq[current] = -np.inf
            current = int(np.argmax(min_sq))  # first maximum: lowest index on ties
            picks[step] = current
        return picks
    min_sq_t = torch.full((n,), float("inf"), dtype=space.dtype, device=space.device)
    for step in range(1, n_picks):
        torch.minimum(min_sq_t, space.sq_dist_to(current), out=min_sq_t)
        min_sq_t[current] = float("-inf")
        current = int(torch.argmax(min_sq_t))  # first maximum: lowest index on ties
        picks[step] = current
    return picks


class _Rows:
    """Distances of a gathered subset of points, computed exactly as the scan computes them.

    The subset's columns are gathered from the D x N matrices and multiplied by the same row
    vector as in ``EmbeddingSpace.sq_dist_to``, then the same elementwise steps in the same
    order, so each value equals the scan's bit for bit (the mat-vec kernel sums every column in
    the same order whatever the number of columns; tested against the scan). On CPU the N-length
    bookkeeping runs in numpy (see ``sq_dist_to``); on a GPU it stays in torch on the device.
    """

    def __init__(self, space: EmbeddingSpace, n_picks: int = 1) -> None:
        self.space = space
        self.n_picks = n_picks
        self.cpu = space.host_steps
        self.sq = space.sq_norms()

    def sq_dist(self, rows, index: int):
        """|u_rows - u_index|^2, clamped at 0; numpy on CPU, a device tensor otherwise."""
        space = self.space
        rows_t = torch.from_numpy(rows) if self.cpu else rows
        d2 = space.z_t[:, index] @ torch.index_select(space.z_t, 1, rows_t)
        if space.left_t is not None:
            d2.add_(space.shift[rows_t]).add_(space._shift_of(index))
            d2.mul_(space.left_t[:, index] @ torch.index_select(space.left_t, 1, rows_t))
        d2.mul_(-2.0).add_(self.sq[rows_t]).add_(self.sq[index]).clamp_min_(0.0)
        return d2.numpy() if self.cpu else d2

    def add_centre(self, position: int, index: int) -> None:
        """Keep the centre's factors contiguous (rows), for centre-to-centre bounds."""
        space = self.space
        if position == 0:
            n_picks = self.n_picks
            self.cz = space.z_t.new_empty((n_picks, space.z_t.shape[0]))
            self.cl = (
                None
                if space.left_t is None
                else space.left_t.new_empty((n_picks, space.left_t.shape[0]))
            )
            self.cs = space.z_t.new_empty(n_picks)
            self.csq = space.z_t.new_empty(n_picks)
        self.cz[position] = space.z_t[:, index]
        if self.cl is not None:
            self.cl[position] = space.left_t[:, index]
            self.cs[position] = space.shift[index]
        self.csq[position] = self.sq[index]

    def centre_sq_dist(self, count: int, index: int):
        """|u_c - u_index|^2 for the first ``count`` centres, float64 (numpy on CPU). Any
        summation order will do: the bounds allow for rounding (module notes)."""
        space = self.space
        d2 = self.cz[:count] @ space.z_t[:, index]
        if self.cl is not None:
            d2.add_(self.cs[:count]).add_(space._shift_of(index))
            d2.mul_(self.cl[:count] @ space.left_t[:, index])
        d2.mul_(-2.0).add_(self.csq[:count]).add_(self.sq[index]).clamp_min_(0.0)
        d2 = d2.to(torch.float64)
        return d2.numpy() if self.cpu else d2

    def f64(self, x):
        return x.astype(np.float64) if self.cpu else x.to(torch.float64)

    def nonzero(self, mask):
        return np.flatnonzero(mask) if self.cpu else torch.nonzero(mask).squeeze(1)

    def argmax(self, x) -> int:
        return int(np.argmax(x)) if self.cpu else int(torch.argmax(x))


def _pruned(space: EmbeddingSpace, n_picks: int, first: int, stats: dict | None) -> np.ndarray:
    """Exact k-center greedy that reads only the points a new centre can move (module notes)."""
    n = space.n
    rows = _Rows(space, n_picks)
    eps = float(torch.finfo(space.dtype).eps)
    n_left = 0 if space.left_t is None else space.left_t.shape[0]
    kappa = 2.0 * (space.z_t.shape[0] + n_left + 20) * eps
    # nu_i >= |u_i| bounds every product in the distance formula (see the module notes)
    if space.left_t is None:
        nu2 = space.sq_norms().to(torch.float64)
    else:
        # |zc_i| from the stored dtype, inflated by (1 + kappa) to stay an upper bound
        zc = torch.linalg.vector_norm(space.z_t, dim=0).to(torch.float64) * (1.0 + kappa)
        sq_l = torch.linalg.vector_norm(space.left_t, dim=0).to(torch.float64) ** 2
        nu2 = sq_l * (1.0 + kappa) * (zc + float(np.sqrt(max(space.shift0, 0.0)))) ** 2
    nu2_max = float(nu2.max())
    delta = kappa * (nu2 + nu2_max)  # per point, float64
    delta = delta.cpu().numpy() if rows.cpu else delta
    delta_cc = 2.0 * kappa * nu2_max
    picks = np.empty(n_picks, dtype=np.int64)
    picks[0] = current = first
    min_sq = space.sq_dist_to(current)  # first step: every point is scanned (the scan's kernel)
    min_sq = min_sq.numpy() if rows.cpu else min_sq
    owner = (
        np.zeros(n, dtype=np.int64)
        if rows.cpu
        else torch.zeros(n, dtype=torch.int64, device=space.device)
    )  # position in picks of the current centre
    threshold = 4.0 * (rows.f64(min_sq) + delta)  # skip point i when L(owner_i)^2 >= this
    min_sq[current] = -np.inf
    threshold[current] = -np.inf  # a centre is never scanned again
    scanned = [n]
    per_line = 64 // space.z_t.element_size()
    n_lines = -(-n // per_line)
    lines = [n_lines] if (stats is not None and rows.cpu) else None
    rows.add_centre(0, current)
    for step in range(1, n_picks):
        current = rows.argmax(min_sq)  # first maximum: lowest index on ties
        picks[step] = current
        if step == n_picks - 1:
            break
        # squared distances from the new centre to the earlier ones, rounded down
        lower = rows.centre_sq_dist(step, current) - delta_cc
        rows.add_centre(step, current)
        lower[lower < 0] = 0.0
        todo = rows.nonzero(lower[owner] < threshold)
        scanned.append(len(todo))
        if lines is not None:  # distinct cache lines of each row the gather touches
            lines.append(n_lines if 4 * len(todo) > n else len(np.unique(todo // per_line)))
        if len(todo):
            if 4 * len(todo) > n:  # little to skip: the scan's contiguous mat-vec is faster
                d2 = space.sq_dist_to(current)
                d2 = (d2.numpy() if rows.cpu else d2)[todo]
            else:
                d2 = rows.sq_dist(todo, current)
            better = d2 < min_sq[todo]
            moved = todo[better]
            min_sq[moved] = d2[better]
            owner[moved] = step
            threshold[moved] = 4.0 * (rows.f64(d2[better]) + delta[moved])
        min_sq[current] = -np.inf
        threshold[current] = -np.inf
    if stats is not None:
        stats["scanned"] = scanned
        if lines is not None:
            stats["lines"] = lines
    return picks


class KCenterSelector(Selector):
    """k-center greedy in the embedding space named ``space``."""

    name = "kcenter"

    def __init__(self, space: str, algorithm: str = "scan") -> None:
        self.space = space
        self.algorithm = algorithm

    def _select(self, pool: PoolEmbedding, n_picks: int, seed: int) -> np.ndarray:
        return kcenter_greedy(pool.space(self.space), n_picks, seed=seed, algorithm=self.algorithm)


class CoresetSelector(KCenterSelector):
    """CORESET: k-center greedy on penultimate features z."""

    name = "coreset"

    def __init__(self, space: str = "coreset", algorithm: str = "scan") -> None:
        super().__init__(space, algorithm)


class ForgeSelector(KCenterSelector):
    """FORGE: k-center greedy on feature-norm scaled gradient embeddings."""

    name = "forge"

    def __init__(self, space: str = "forge", algorithm: str = "scan") -> None:
        super().__init__(space, algorithm)
