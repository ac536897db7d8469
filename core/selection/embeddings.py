"""The three embedding spaces of a pool (coreset, badge, forge), kept factored, in torch.

A pool is given by penultimate features z (N x D) and logits (N x C). With p = softmax(logits),
pseudo-label yhat = argmax p (ties: lowest class index) and residual a = p - onehot(yhat):

- ``coreset``: u_i = z_i.
- ``badge``:   u_i = g_i = a_i (x) z_i, the last-layer (weight, no bias) cross-entropy gradient
  with the pseudo-label, dimension C*D.
- ``forge``:   u_i = phi_i = |z_i| g_i / |g_i| = ahat_i (x) z_i with ahat = a / |a| (FORGE,
  Def. 5: the last-layer tangent-feature norm is sqrt(C) |z|; the constant sqrt(C) is dropped).

The C*D-dimensional vectors are never built. Every space is u_i = l_i (x) z_i with a left factor
l (none, a or ahat), so <u_i, u_j> = <l_i, l_j> <z_i, z_j> and |u_i|^2 = |l_i|^2 |z_i|^2;
squared distances are |u|^2 + |v|^2 - 2 <u, v>, clamped at 0 (so a point's distance to itself
is rounding-level, not exactly 0). Storage is z as a D x N matrix (row vector times matrix is the
fast mat-vec on CPU) plus C x N left factors: O(N (C + D)), on the chosen torch device (CUDA when
present), float32 by default, float64 on request; squared norms are computed in float64.

Numerics (why z is stored centred, and sometimes rescaled):

- |u|^2 + |v|^2 - 2 <u, v> cancels when the points sit far from the origin: with z shifted by
  +1000, float32 rounding of <z_i, z_j> (~1e6 D) exceeds the distances themselves and k-center
  picks noise. So the stored matrix is zc = z - m (m = the pool mean of z, in float64).
  The ``coreset`` space IS zc (u_i = z_i - m): its distances equal those of z (translation
  invariance), but ``inner`` and ``sq_norms`` of that space are those of the centred vectors.
- ``badge`` and ``forge`` are not translation invariant (the gradient is a (x) z with z as the
  network produced it, the origin is meaningful), so their vectors stay a (x) z and their inner
  products are rebuilt exactly: <z_i, z_j> = <zc_i, zc_j> + s_i + s_j + |m|^2 with s = <zc, m>
  in float64 (one extra N-vector add per step). This is never less accurate than the direct
  product; their distances are dominated by |m|^2 |l_i - l_j|^2 when z is far from the origin,
  and two points with nearly equal l keep float32's relative precision of <z_i, z_j> (use
  ``dtype=torch.float64`` for such pools).
- Scale: when the RMS of zc lies outside [2^-32, 2^32] (e.g. z scaled by 1e-30, whose squares
  underflow float32 and turn every distance into a tie) zc, m are multiplied by a power of two
  ``scale`` (exact in floating point, picks unchanged) and a ``RescaledFeaturesWarning`` says so.
  ``nearest`` returns distances in the units of z; ``inner`` and ``sq_norms`` are in the stored
  (scaled) units. A badge/forge space whose scaled |z|^2 would still overflow is rejected.

Residual rules (all computed in float64 from the logits, then cast to the storage dtype):

- 1 - p_yhat is computed as exp(logsumexp(logits without yhat) - logsumexp(logits)), without
  cancellation, and a = (1 - p_yhat) (q - e_yhat) where q = softmax of the logits with the yhat
  entry removed (q_yhat = 0). This equals p - onehot(yhat) exactly in exact arithmetic.
- ahat = (q - e_yhat) / sqrt(|q|^2 + 1). It is the same direction as a whenever a != 0 and its
  limit when the softmax saturates (a = 0 in float, e.g. a float32 softmax that is an exact
  one-hot). So FORGE needs no special case: |ahat| = 1 and |phi_i| = |z_i| for every sample,
  while the BADGE residual (the true gradient) may be exactly 0.
- C = 1: a = 0 and q is undefined; ahat is defined as 0. Every BADGE and FORGE point is then the
  origin (all distances 0) and selectors fall back on their documented tie rules.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from scipy.special import logsumexp

from core.base.device import resolve_device
from core.base.validation import ForgeLensError, check_choice, check_finite, check_int_range
from core.selection.spaces import SPACES

DTYPES = (torch.float32, torch.float64)
DEFAULT_CHUNK = 2048
_NORM_CHUNK = 8192


@dataclass(frozen=True)
class ResidualFactors:
    """Per-sample softmax facts in float64: probabilities, pseudo-label, residual a, direction."""

    probs: np.ndarray  # (N, C) softmax
    pseudo: np.ndarray  # (N,) int64 argmax, ties to the lowest class index
    residual: np.ndarray  # (N, C) a = p - onehot(yhat)
    direction: np.ndarray  # (N, C) ahat = a / |a|, its limit when a = 0 in float, 0 when C = 1


def residual_factors(logits: np.ndarray) -> ResidualFactors:
    """Stable float64 residual a = p - onehot(argmax) and its unit direction (module rules)."""
    logits = np.asarray(logits, dtype=np.float64)
    n, c = logits.shape
    rows = np.arange(n)
    pseudo = np.argmax(logits, axis=1).astype(np.int64)
    lse = logsumexp(logits, axis=1)
    probs = np.exp(logits - lse[:, None])
    if c == 1:
        zeros = np.zeros_like(logits)
        return ResidualFactors(probs, pseudo, zeros, zeros.copy())
    rest = logits.copy()
    rest[rows, pseudo] = -np.inf
    lse_rest = logsumexp(rest, axis=1)
    q = np.exp(rest - lse_rest[:, None])  # q_yhat = exp(-inf) = 0
    q_minus_e = q.copy()
    q_minus_e[rows, pseudo] = -1.0
    one_minus_top = np.exp(lse_rest - lse)  # 1 - p_yhat, no cancellation
    residual = one_minus_top[:, None] * q_minus_e
    direction = q_minus_e / np.sqrt(1.0 + np.einsum("ij,ij->i", q, q))[:, None]
    return ResidualFactors(probs, pseudo, residual, direction)


def _as_matrix(name: str, array: Any, what: str) -> np.ndarray:
    """A real-valued 2-D numpy array, or a ForgeLensError naming ``name`` and the problem."""
    if isinstance(array, torch.Tensor):
        array = array.detach().cpu().numpy()
    array = np.asarray(array)
    if array.dtype == bool or not (
        np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)
    ):
        raise ForgeLensError(
            f"{name} has dtype {array.dtype}; allowed: a real-valued "
            f"(integer or floating) array of shape {what}"
        )
    if array.ndim != 2:
        raise ForgeLensError(
            f"{name} has shape {array.shape} ({array.ndim}-D); allowed: a 2-D array of shape {what}"
        )
    return array


def _row_sq_norms(z: np.ndarray) -> np.ndarray:
    """Squared row norms in float64, computed in row chunks (no full float64 copy of z)."""
    out = np.empty(z.shape[0], dtype=np.float64)
    for start in range(0, z.shape[0], _NORM_CHUNK):
        block = np.asarray(z[start : start + _NORM_CHUNK], dtype=np.float64)
        out[start : start + len(block)] = np.einsum("ij,ij->i", block, block)
    return out


def _check_indices(name: str, indices: Any, n: int) -> np.ndarray:
    """Pool indices as a non-empty 1-D int64 array with every value in [0, n)."""
    if isinstance(indices, torch.Tensor):
        indices = indices.detach().cpu().numpy()
    arr = np.asarray(indices)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if (
        arr.ndim != 1
        or arr.size == 0
        or not (np.issubdtype(arr.dtype, np.integer) and arr.dtype != bool)
    ):
        raise ForgeLensError(
            f"{name} must be a non-empty 1-D array of integer pool indices; "
            f"got dtype {arr.dtype} and shape {arr.shape}"
        )
    bad = (arr < 0) | (arr >= n)
    if bad.any():
        raise ForgeLensError(
            f"{name} holds index {int(arr[bad][0])}, out of range: allowed [0, {n - 1}]"
        )
    return arr.astype(np.int64)


def auto_chunk(device: torch.device, dtype: torch.dtype) -> int:
    """Side of the square (samples x centres) blocks that streamed distances work in.

    CPU: ``DEFAULT_CHUNK`` (blocks stay in cache). CUDA: follows free device memory: a few
    chunk^2 temporaries fill at most a quarter of it, between DEFAULT_CHUNK and 32768.
    """
    if device.type != "cuda":
        return DEFAULT_CHUNK
    free, _ = torch.cuda.mem_get_info(device)
    itemsize = torch.finfo(dtype).bits // 8
    side = int(np.sqrt(free / 4 / (4 * itemsize)))
    return int(min(32768, max(DEFAULT_CHUNK, side)))


class RescaledFeaturesWarning(UserWarning):
    """z was multiplied by a power of two so its squared distances neither underflow nor
    overflow."""


def _scalar(value: float, dtype: torch.dtype) -> float:
    """``value`` rounded to ``dtype`` (so adding it to a tensor rounds the same on every device)."""
    return float(torch.tensor(value, dtype=dtype))


class EmbeddingSpace:
    """One space of a pool, u_i = l_i (x) z_i, answering norms, inner products and nearest centres.

    ``z_t`` is the centred D x N feature matrix, ``left_t`` the C x N left factor (None for
    coreset, where u_i = z_i - m); ``shift`` (N,) and ``shift0`` rebuild the uncentred products
    <z_i, z_j> = <zc_i, zc_j> + shift_i + shift_j + shift0 (None for coreset). All tensors live on
    the pool's device in its dtype; results that leave the space as numpy are float64/int64.
    ``scale`` is the power of two the stored vectors carry (1 unless rescaled, see the module).
    """

    def __init__(
        self,
        name: str,
        z_t: torch.Tensor,
        left_t: torch.Tensor | None,
        sq_norms: torch.Tensor,
        shift: torch.Tensor | None = None,
        shift0: float = 0.0,
        scale: float = 1.0,
    ) -> None:
        if shift is None and left_t is not None:  # z given uncentred (a task's own pool)
            shift = torch.zeros(z_t.shape[1], dtype=z_t.dtype, device=z_t.device)
        self.name = name
        self.z_t = z_t
        self.left_t = left_t
        self._sq = sq_norms
        self.shift = shift
        self.shift0 = shift0
        self.scale = scale
        # True on CPU: selection steps run their elementwise passes in numpy (see sq_dist_to);
        # tests set it False to run the device (torch) path on CPU
        self.host_steps = z_t.device.type == "cpu"
        self._sq_np = sq_norms.numpy() if self.host_steps else None
        self._shift_np = shift.numpy() if (self.host_steps and shift is not None) else None

    @property
    def n(self) -> int:
        return self.z_t.shape[1]

    @property
    def device(self) -> torch.device:
        return self.z_t.device

    @property
    def dtype(self) -> torch.dtype:
        return self.z_t.dtype

    def sq_norms(self) -> torch.Tensor:
        """|u_i|^2 for every pool sample, shape (N,), in stored units."""
        return self._sq

    def _shift_of(self, index: int) -> float:
        return _scalar(float(self.shift[index]) + self.shift0, self.dtype)

    def inner_one(self, index: int) -> torch.Tensor:
        """<u_i, u_index> for all i, shape (N,): one pass over z and one over the left factor."""
        inner = self.z_t[:, index] @ self.z_t
        if self.left_t is not None:
            inner.add_(self.shift).add_(self._shift_of(index))
            inner.mul_(self.left_t[:, index] @ self.left_t)
        return inner

    def sq_dist_to(self, index: int) -> torch.Tensor:
        """|u_i - u_index|^2 for all i, shape (N,), clamped at 0 (a fresh tensor).

        One mat-vec over z (and one over the left factor) on the device's BLAS; on CPU the few
        elementwise passes run in numpy on the same memory: single-threaded, they cost
        microseconds, where torch's two-thread elementwise kernels wait milliseconds for a
        second core on a loaded machine. Same operations, same order, on both paths.
        """
        inner = self.z_t[:, index] @ self.z_t
        if not self.host_steps:
            if self.left_t is not None:
                inner.add_(self.shift).add_(self._shift_of(index))
                inner.mul_(self.left_t[:, index] @ self.left_t)
            return inner.mul_(-2.0).add_(self._sq).add_(self._sq[index]).clamp_min_(0.0)
        d2 = inner.numpy()
        scalar = d2.dtype.type
        if self.left_t is not None:
            d2 += self._shift_np
            d2 += scalar(self._shift_of(index))
            d2 *= (self.left_t[:, index] @ self.left_t).numpy()
        d2 *= scalar(-2.0)
        d2 += self._sq_np
        d2 += self._sq_np[index]
        np.maximum(d2, scalar(0.0), out=d2)
        return inner

    def inner(self, centres: Any) -> torch.Tensor:
        """<u_i, u_c> for all pool samples i and the given pool indices c, shape (N, len(c)).

        The result itself is N x len(centres): meant for a few centres; use ``nearest`` for many.
        """
        idx = torch.as_tensor(_check_indices("centres", centres, self.n), device=self.device)
        return self._block(slice(None), idx)

    def _block(self, rows: slice, cidx: torch.Tensor) -> torch.Tensor:
        """<u_i, u_c> for the pool samples in ``rows`` and the centres ``cidx``."""
        block = self.z_t[:, rows].T @ self.z_t[:, cidx]
        if self.left_t is not None:
            block.add_(self.shift[rows, None]).add_(self.shift[cidx][None, :] + self.shift0)
            block.mul_(self.left_t[:, rows].T @ self.left_t[:, cidx])
        return block

    def nearest(
        self, centres: Any, *, chunk_size: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """For every pool sample: position in ``centres`` of its nearest centre and the distance.

        Streams over chunks of samples and of centres, so memory is chunk_size^2 beyond the pool.
        Ties go to the lowest position. Returns (int64 positions (N,), float64 distances (N,)),
        distances in the units of z (``scale`` undone). ``chunk_size`` None: ``auto_chunk``.
        """
        cent = _check_indices("centres", centres, self.n)
        if chunk_size is None:
            chunk_size = auto_chunk(self.device, self.dtype)
        chunk = check_int_range("chunk_size", chunk_size, 1, 2**31 - 1)
        best_d2 = torch.full((self.n,), float("inf"), dtype=self.dtype, device=self.device)
        best_pos = torch.zeros(self.n, dtype=torch.int64, device=self.device)
        for c0 in range(0, len(cent), chunk):
            cidx = torch.as_tensor(cent[c0 : c0 + chunk], device=self.device)
            csq = self._sq[cidx]
            for r0 in range(0, self.n, chunk):
                r1 = min(r0 + chunk, self.n)
                block = self._block(slice(r0, r1), cidx)
                block.mul_(-2.0).add_(self._sq[r0:r1, None]).add_(csq[None, :]).clamp_min_(0.0)
                values, where = block.min(dim=1)
                better = values < best_d2[r0:r1]
                best_d2[r0:r1] = torch.where(better, values, best_d2[r0:r1])
                best_pos[r0:r1] = torch.where(better, where + c0, best_pos[r0:r1])
        distance = best_d2.to(torch.float64).sqrt().cpu().numpy() / self.scale
        return best_pos.cpu().numpy(), distance


def _centre_and_scale(
    z: np.ndarray, np_dtype: type
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float]:
    """(zc_t D x N in ``np_dtype``, |zc_i|^2, the mean m, s = <zc, m>, scale), all scaled.

    Centred and scaled in float64 row chunks: no full float64 copy of z is kept.
    """
    n, d = z.shape
    mean = np.zeros(d)
    for start in range(0, n, _NORM_CHUNK):
        mean += np.asarray(z[start : start + _NORM_CHUNK], dtype=np.float64).sum(axis=0)
    mean /= n
    spread = 0.0
    for start in range(0, n, _NORM_CHUNK):
        block = np.asarray(z[start : start + _NORM_CHUNK], dtype=np.float64) - mean
        spread += float(np.einsum("ij,ij->", block, block))
    rms = np.sqrt(spread / (n * d))
    magnitude = np.sqrt(rms**2 + float(mean @ mean) / d)  # RMS of z itself
    if rms <= 2.0**-40 * magnitude:  # no spread beyond float64 rounding of the mean: judge z
        rms = magnitude or 1.0
    scale = 1.0
    if not 2.0**-32 <= rms <= 2.0**32:
        scale = 2.0 ** -int(np.round(np.log2(rms)))
        warnings.warn(
            f"z has a root-mean-square spread of {rms:.3g}, whose squared distances "
            f"would underflow or overflow {np.dtype(np_dtype).name}; it is rescaled by "
            f"2^{int(np.log2(scale))} internally (exact, picks unchanged); distances "
            "are reported in the units of z",
            RescaledFeaturesWarning,
            stacklevel=3,
        )
    mean *= scale
    z_t = np.empty((d, n), dtype=np_dtype)
    sq = np.empty(n)
    shift = np.empty(n)
    for start in range(0, n, _NORM_CHUNK):
        block = np.asarray(z[start : start + _NORM_CHUNK], dtype=np.float64) * scale - mean
        stored = block.astype(np_dtype)
        z_t[:, start : start + len(block)] = stored.T
        exact = stored.astype(np.float64)  # norms and shifts of the vectors actually stored
        sq[start : start + len(block)] = np.einsum("ij,ij->i", exact, exact)
        shift[start : start + len(block)] = exact @ mean
    return z_t, sq, mean, shift, scale


class PoolEmbedding:
    """A prepared pool: centred z stored D x N and the residual factors C x N on one device, dtype.

    Build it with ``PoolEmbedding.from_arrays``. Numpy views (float64): ``znorm`` (|z|, of z as
    given), ``logits``, ``probs``, ``residual`` (a), ``direction`` (ahat); ``pseudo`` (int64
    argmax); ``mean`` (m, scaled) and ``scale`` (see the module notes). ``z_t`` holds
    scale * (z - m). ``space(name)`` returns the ``EmbeddingSpace`` for one of ``SPACES``.
    """

    def __init__(
        self,
        *,
        z_t: torch.Tensor,
        factors: ResidualFactors,
        logits: np.ndarray,
        sq_z: np.ndarray,
        sq_zc: np.ndarray | None = None,
        mean: np.ndarray | None = None,
        shift: np.ndarray | None = None,
        scale: float = 1.0,
    ) -> None:
        self.z_t = z_t
        self.logits = logits
        self.probs = factors.probs
        self.pseudo = factors.pseudo
        self.residual = factors.residual
        self.direction = factors.direction
        self.znorm = np.sqrt(sq_z)
        self._sq_z = sq_z
        n = z_t.shape[1]
        self.mean = np.zeros(z_t.shape[0]) if mean is None else mean
        self.scale = scale
        self._sq_zc = sq_z * scale**2 if sq_zc is None else sq_zc
        self._shift = np.zeros(n) if shift is None else shift
        self._spaces: dict[str, EmbeddingSpace] = {}

    @classmethod
    def from_arrays(
        cls,
        z: Any,
        logits: Any,
        *,
        device: str | torch.device | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> PoolEmbedding:
        """Validate (z, logits), compute the residual factors in float64, store on ``device``."""
        z = _as_matrix("z", z, "(N, D) penultimate features")
        logits = _as_matrix("logits", logits, "(N, C)")
        if z.shape[0] != logits.shape[0]:
            raise ForgeLensError(
                f"z has {z.shape[0]} rows but logits has {logits.shape[0]}; "
                "allowed: one row per pool sample in both"
            )
        if z.shape[0] < 1:
            raise ForgeLensError("z and logits have 0 rows; allowed: at least one pool sample")
        if z.shape[1] < 1 or logits.shape[1] < 1:
            raise ForgeLensError(
                f"z has shape {z.shape} and logits {logits.shape}; allowed: at "
                "least one feature column and one class column"
            )
        check_choice("dtype", dtype, DTYPES)
        check_finite("z", z)
        logits64 = check_finite("logits", np.asarray(logits, dtype=np.float64))
        torch_device = resolve_device(device)
        np_dtype = np.float32 if dtype == torch.float32 else np.float64
        sq_z = _row_sq_norms(z)
        z_t, sq_zc, mean, shift, scale = _centre_and_scale(z, np_dtype)
        z_t = torch.from_numpy(z_t).to(torch_device)
        return cls(
            z_t=z_t,
            factors=residual_factors(logits64),
            logits=logits64,
            sq_z=sq_z,
            sq_zc=sq_zc,
            mean=mean,
            shift=shift,
            scale=scale,
        )

    def features(self) -> np.ndarray:
        """z as given (N x D, float64), rebuilt from the stored centred, scaled copy."""
        return (self.z_t.T.detach().to(torch.float64).cpu().numpy() + self.mean) / self.scale

    @property
    def n(self) -> int:
        return self.z_t.shape[1]

    @property
    def n_features(self) -> int:
        return self.z_t.shape[0]

    @property
    def n_classes(self) -> int:
        return self.logits.shape[1]

    @property
    def device(self) -> torch.device:
        return self.z_t.device

    @property
    def dtype(self) -> torch.dtype:
        return self.z_t.dtype

    def space(self, name: str) -> EmbeddingSpace:
        """The ``EmbeddingSpace`` named ``name`` (one of ``SPACES``), built once and cached."""
        check_choice("space", name, SPACES)
        if name not in self._spaces:
            if name == "coreset":
                self._spaces[name] = EmbeddingSpace(
                    name, self.z_t, None, self._to_device(self._sq_zc), scale=self.scale
                )
                return self._spaces[name]
            factor = self.residual if name == "badge" else self.direction
            sq_z = self._sq_z * self.scale**2
            finfo = np.finfo(np.float32 if self.dtype == torch.float32 else np.float64)
            if 8.0 * sq_z.max() > finfo.max:  # d^2 <= 4 max|u|^2 and |u|^2 <= 2|z|^2
                raise ForgeLensError(
                    f"z has rows whose {name} squared distances overflow "
                    f"{self.dtype} (max |z| = {np.sqrt(self._sq_z.max()):.3g}); "
                    "allowed: rescale z or use dtype=torch.float64"
                )
            left = self._to_device(np.ascontiguousarray(factor.T))
            sq = self._to_device(np.einsum("ij,ij->i", factor, factor) * sq_z)
            mean_sq = float(self.mean @ self.mean)
            self._spaces[name] = EmbeddingSpace(
                name, self.z_t, left, sq, self._to_device(self._shift), mean_sq, self.scale
            )
        return self._spaces[name]

    def _to_device(self, array: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(array, dtype=self.dtype).to(self.device)
