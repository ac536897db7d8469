"""The pool's full-network tangent norms |grad_theta f(x)| as a file beside the pool
(``_pools/<pool_id>/tangent_norm_full.npy``, sealed): written once per pool, after the first
runs (``core.run.follow_up``), and joined onto a run's ``samples`` table when it is read.

Runs recorded before this file existed carry the column in their own ``samples`` table; that
column is kept as it is. NumPy only: the pages read these without loading torch.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd

from core.base.validation import ForgeLensError
from core.storage.atomic import write_bytes_atomic
from core.storage.integrity import check_file, quarantine, seal
from core.storage.store import RunStore

FULL_TANGENT = "tangent_norm_full"  # per pool sample: |grad_theta f(x)| over all parameters
TANGENT_FILE = "tangent_norm_full.npy"
ARCHS_WITH_FULL_TANGENT = ("cnn", "mlp")  # small enough for per-sample Jacobians on a CPU


def tangent_path(store: RunStore, pool_id: str) -> Path:
    return store.pool_dir(pool_id) / TANGENT_FILE


def read_pool_tangent_norms(store: RunStore, pool_id: str, n: int) -> np.ndarray | None:
    """The pool's ``n`` stored norms; None when not computed (yet). A damaged file is
    quarantined (and so computed again by the next sweep on the pool)."""
    path = tangent_path(store, pool_id)
    if not path.is_file():
        return None
    norms, reason = _read(path, n)
    if norms is None:
        quarantine(path, store.root, kind="tangent", reason=f"pool {pool_id}: {reason}")
    return norms


def write_pool_tangent_norms(root: str | Path, pool_id: str, norms: np.ndarray) -> None:
    """Store the pool's norms atomically, with a checksum (a flipped bit is caught on read)."""
    store = RunStore(str(root))
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(norms, dtype=np.float64))
    path = tangent_path(store, pool_id)
    write_bytes_atomic(path, buffer.getvalue())
    seal(path)


def with_tangent_norms(store: RunStore, pool_id: str, samples: pd.DataFrame) -> pd.DataFrame:
    """A run's ``samples`` table with the ``tangent_norm_full`` column last, as runs recorded
    it before the norms moved beside the pool: its own column when it has one, else the pool's
    stored norms by ``idx``, else NaN (pretrained backbones, or not computed yet)."""
    if FULL_TANGENT in samples.columns or "idx" not in samples.columns:
        return samples
    try:
        n = store.load_pool_meta(pool_id).get("n")
    except ForgeLensError:  # a missing or damaged pool: the sidebar names it
        n = None
    norms = read_pool_tangent_norms(store, pool_id, n) if isinstance(n, int) else None
    idx = samples["idx"].to_numpy(np.int64)
    column = norms[idx] if norms is not None else np.full(len(samples), np.nan)
    return samples.assign(**{FULL_TANGENT: column})


def _read(path: Path, n: int) -> tuple[np.ndarray | None, str | None]:
    """(norms, None) for an intact file of ``n`` norms; (None, reason) for a damaged one."""
    reason = check_file(path)
    if reason is not None:
        return None, reason
    try:
        norms = np.load(path, allow_pickle=False)
    except Exception as error:  # noqa: BLE001 - any failure to parse means damaged
        return None, f"{path.name} unreadable ({type(error).__name__})"
    if norms.shape != (n,) or norms.dtype.kind != "f":
        return None, f"{path.name} holds {norms.dtype} {norms.shape}, not {n} norms"
    return norms, None
