"""2-D UMAP views of a pool in a chosen embedding space, computed once and cached on disk.

The k-nearest-neighbour graph is built here in the factored form of each space (chunks of rows
against the whole pool, O(chunk * N) memory, never N x N, never N x C*D) and handed to UMAP as
``precomputed_knn``; UMAP then only lays the graph out. The raw features given to UMAP are z,
used by UMAP solely to place disconnected components relative to each other.
"""

from __future__ import annotations

import functools
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from core.base.validation import check_choice
from core.storage.atomic import write_parquet_atomic
from core.storage.integrity import check_file, quarantine, seal
from core.storage.store import RunStore
from core.tasks import task_of
from core.tasks.pool_jobs import PoolJob

if TYPE_CHECKING:  # reading a cached layout (the UMAP page) must not load torch
    from core.selection.embeddings import PoolEmbedding

PROJECTION_SPACES = ("z", "badge", "forge")
_SPACE_OF = {"z": "coreset", "badge": "badge", "forge": "forge"}


def knn_graph(
    pool: PoolEmbedding, space: str, k: int = 15, chunk_size: int = 512
) -> tuple[np.ndarray, np.ndarray]:
    """Exact k nearest neighbours (self first) of every pool point in ``space``, chunked."""
    import torch

    check_choice("space", space, PROJECTION_SPACES)
    embedding = pool.space(_SPACE_OF[space])
    sq = embedding.sq_norms()
    k = min(k, pool.n)
    indices = np.empty((pool.n, k), dtype=np.int64)
    distances = np.empty((pool.n, k), dtype=np.float32)
    for start in range(0, pool.n, chunk_size):
        rows = np.arange(start, min(start + chunk_size, pool.n))
        inner = embedding.inner(rows).T  # (chunk, N)
        d2 = (sq[rows, None] + sq[None, :] - 2 * inner).clamp_min_(0)
        d2[torch.arange(len(rows)), torch.as_tensor(rows, device=d2.device)] = -1.0  # self first
        values, found = torch.topk(d2, k, dim=1, largest=False)
        indices[rows] = found.cpu().numpy()
        distances[rows] = values.clamp_min(0).sqrt().cpu().numpy()
    return indices, distances


@functools.cache
def umap_with_cached_compilation() -> Any:
    """The umap module, its numba functions set to keep their compiled code on disk.

    Why: numba compiles umap's layout code in every new process, ~4 s of CPU (a sweep's
    helper, the server's first UMAP); most of umap's functions do not ask numba to cache it
    (pynndescent's do). Cached, a later process loads it in ~0.2 s. The cache is numba's own
    (beside umap's sources, or numba's user-wide cache folder when those are read-only), keyed
    by each source file and the machine; the machine code, and so every layout, is the same.
    """
    import umap  # deferred: importing umap loads numba and pynndescent (~1.7 s)
    from numba.core.caching import NullCache
    from numba.core.registry import CPUDispatcher

    for name, module in list(sys.modules.items()):
        if name == "umap" or name.startswith("umap."):
            for value in list(vars(module).values()):
                if isinstance(value, CPUDispatcher) and isinstance(value._cache, NullCache):
                    value.enable_caching()
    return umap


def compute_umap(
    pool: PoolEmbedding, z: np.ndarray, space: str, *, n_neighbors: int = 15, seed: int = 0
) -> pd.DataFrame:
    """UMAP layout of the pool in ``space`` (z, badge or forge): DataFrame[idx, x, y]."""
    umap = umap_with_cached_compilation()
    indices, distances = knn_graph(pool, space, k=n_neighbors)
    reducer = umap.UMAP(
        n_neighbors=indices.shape[1],
        precomputed_knn=(indices, distances),
        random_state=seed,
        n_jobs=1,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        layout = reducer.fit_transform(np.asarray(z, dtype=np.float32))
    return pd.DataFrame(
        {
            "idx": np.arange(pool.n, dtype=np.int64),
            "x": layout[:, 0].astype(np.float64),
            "y": layout[:, 1].astype(np.float64),
        }
    )


def _read_layout(path: Path, n: int | None) -> tuple[pd.DataFrame | None, str | None]:
    """(layout, None) for an intact cache; (None, reason) for a damaged one."""
    reason = check_file(path)
    if reason is not None:
        return None, reason
    try:
        layout = pd.read_parquet(path)
    except Exception as error:  # noqa: BLE001 - any failure to parse means damaged
        return None, f"{path.name} unreadable ({type(error).__name__})"
    if (
        list(layout.columns) != ["idx", "x", "y"]
        or (n is not None and len(layout) != n)
        or not np.isfinite(layout[["x", "y"]].to_numpy()).all()
    ):
        return None, f"{path.name} does not hold a whole layout of the pool"
    return layout, None


def umap_2d(store: RunStore, pool_id: str, space: str) -> pd.DataFrame:
    """The pool's cached 2-D UMAP in ``space``; computed and stored on first use.

    The cache carries a checksum (``core.storage.integrity.seal``); a damaged one is quarantined and
    computed again.
    """
    check_choice("space", space, PROJECTION_SPACES)
    path = store.pool_dir(pool_id) / f"umap_{space}.parquet"
    if path.is_file():
        n = store.load_pool_meta(pool_id).get("n")
        layout, reason = _read_layout(path, n if isinstance(n, int) else None)
        if layout is not None:
            return layout
        quarantine(path, store.root, kind="umap", reason=f"pool {pool_id}: {reason}")
    z, logits = store.load_embeddings(pool_id)
    pool = task_of(store.load_pool_meta(pool_id)).pool_embedding(z, logits, device="cpu")
    layout = compute_umap(pool, z, space)
    write_parquet_atomic(path, layout)
    seal(path)
    return layout


def umap_jobs(root: str, pool_id: str) -> list[PoolJob]:
    """The pool's UMAP views not stored yet, as pool jobs a sweep computes beside its runs
    (``core.run.follow_up``)."""
    store = RunStore(root)
    return [
        PoolJob(
            label=f"UMAP of pool {pool_id} in {space} space",
            stage="umap",
            compute=store_umap,
            args=(root, pool_id, space),
        )
        for space in PROJECTION_SPACES
        if not (store.pool_dir(pool_id) / f"umap_{space}.parquet").is_file()
    ]


def store_umap(root: str, pool_id: str, space: str) -> None:
    """``umap_2d`` for its side effect: the layout stored beside the pool."""
    umap_2d(RunStore(root), pool_id, space)


def warm_up() -> None:
    """Import umap and have numba compile its layout code on a layout of 200 points (~4 s
    once per process; the first real layout then takes ~1 s more than the next, not ~4 s)."""
    umap = umap_with_cached_compilation()
    rng = np.random.default_rng(0)
    z = rng.normal(size=(200, 8)).astype(np.float32)
    d2 = ((z[:, None, :] - z[None, :, :]) ** 2).sum(-1)
    indices = np.argsort(d2, axis=1)[:, :15]
    distances = np.sqrt(np.take_along_axis(d2, indices, axis=1)).astype(np.float32)
    reducer = umap.UMAP(
        n_neighbors=15, precomputed_knn=(indices, distances), random_state=0, n_jobs=1
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reducer.fit_transform(z)
