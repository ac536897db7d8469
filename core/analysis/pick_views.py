"""What the UMAP and Compare pages show of a store's picks when it holds no labelled runs, and
what ``python -m core picks`` prints: the pool on a 2-D map with each pick's order, and, for the
picks of one pool, their overlap (Jaccard), their predicted-class mix against the pool's (no
labels: the model's predictions stand in) and their target-domain mix when the pool has domains.

A scenario's pool reuses its cached UMAP (``projection.umap_2d``); an embeddings-file pool is
laid out from the file's own z and logits and cached under ``<root>/_picks/.maps/``.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

from core.analysis.projection import PROJECTION_SPACES, _read_layout, compute_umap, umap_2d
from core.base.validation import ForgeLensError, check_choice
from core.run import pick_store
from core.storage.atomic import config_id, write_parquet_atomic
from core.storage.integrity import quarantine, seal
from core.storage.store import RunStore

MAPS = ".maps"  # under _picks/; a dot folder, so never listed as a pick


def pool_key(info: dict[str, Any]) -> str:
    """A short name of the pool a pick was made on: picks with the same key share the pool."""
    source = info["config"]["pool"]
    if "pool_id" in source:
        return f"scenario {source.get('scenario', '?')} (pool {source['pool_id']})"
    where = str(source.get("embeddings", "?")).rsplit("/", 1)[-1]
    domain = f", domain {source['domain']}" if source.get("domain") else ""
    return f"file {where} ({str(source.get('sha256', ''))[:8]}{domain})"


def picks_by_pool(root: Any) -> dict[str, list[str]]:
    """The store's intact picks grouped by pool (``pool_key``), newest pool and pick first."""
    groups: dict[str, list[str]] = {}
    for pick_id in pick_store.pick_ids(root):
        info, _ = pick_store.load_pick(root, pick_id)
        groups.setdefault(pool_key(info), []).append(pick_id)
    return groups


def pick_name(info: dict[str, Any]) -> str:
    """ "<selector> · seed <s> · <n>": how a pick is named in the comparison."""
    config = info["config"]
    return f"{config['method']} · seed {config['seed']} · {config['n_picks']}"


def predictions(logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(predicted class, its softmax probability) per row, without labels."""
    logits = np.asarray(logits, dtype=np.float64)
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs = shifted / shifted.sum(axis=1, keepdims=True)
    predicted = probs.argmax(axis=1)
    return predicted.astype(np.int64), probs[np.arange(len(probs)), predicted]


def _file_layout(root: Any, pool: pick_store.Pool, space: str) -> pd.DataFrame:
    """UMAP of an embeddings-file pool, cached under ``_picks/.maps`` by the file's checksum."""
    key = config_id({"sha256": pool.source["sha256"], "domain": pool.source.get("domain")})
    path = pick_store.picks_dir(root) / MAPS / f"umap_{key}_{space}.parquet"
    if path.is_file():
        layout, reason = _read_layout(path, pool.table.n)
        if layout is not None:
            return layout
        quarantine(path, RunStore(root).root, kind="umap", reason=f"picks map: {reason}")
    from core.selection.embeddings import PoolEmbedding  # torch: only to compute a new map

    embedding = PoolEmbedding.from_arrays(pool.table.z, pool.table.logits, device="cpu")
    layout = compute_umap(embedding, pool.table.z, space)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_parquet_atomic(path, layout)
    seal(path)
    return layout


def pick_map(root: Any, pick_id: str, space: str = "z") -> pd.DataFrame:
    """The pool of ``pick_id`` on a 2-D UMAP in ``space``: one row per pool sample with idx,
    x, y, predicted (class index), confidence, znorm and rank (1 = first picked, 0 = not
    picked)."""
    check_choice("space", space, PROJECTION_SPACES)
    info, frame = pick_store.load_pick(root, pick_id)
    pool = pick_store.pool_of(root, info)
    source = info["config"]["pool"]
    if "pool_id" in source:
        layout = umap_2d(RunStore(root), source["pool_id"], space)
    else:
        layout = _file_layout(root, pool, space)
    predicted, confidence = predictions(pool.table.logits)
    rank = np.zeros(pool.table.n, dtype=np.int64)
    rank[frame["row"].to_numpy(np.int64)] = frame["rank"].to_numpy(np.int64)
    facts = pd.DataFrame(
        {
            "idx": np.arange(pool.table.n, dtype=np.int64),
            "predicted": predicted,
            "confidence": confidence,
            "znorm": np.linalg.norm(np.asarray(pool.table.z, dtype=np.float64), axis=1),
            "rank": rank,
        }
    )
    return layout.merge(facts, on="idx", how="left", validate="one_to_one")


@dataclass(frozen=True)
class PickComparison:
    """The picks of one pool compared: ``jaccard`` (pick x pick), ``class_mix`` and
    ``domain_mix`` as long rows (method = pick name or "pool", label = class / domain
    position, fraction), with the names those positions stand for."""

    names: list[str]
    jaccard: pd.DataFrame
    class_mix: pd.DataFrame
    class_names: list[str]
    domain_mix: pd.DataFrame | None
    domains: list[str]


def _mix(codes: np.ndarray, picks: dict[str, np.ndarray], size: int) -> pd.DataFrame:
    """Share per code of the pool and of each pick (rows into ``codes``)."""
    rows = []
    for name, chosen in [("pool", np.arange(len(codes))), *picks.items()]:
        counts = np.bincount(codes[chosen], minlength=size)[:size] / max(len(chosen), 1)
        rows += [{"method": name, "label": c, "fraction": float(counts[c])} for c in range(size)]
    return pd.DataFrame(rows, columns=["method", "label", "fraction"])


def _pool_domains(root: Any, info: dict[str, Any], pool: pick_store.Pool) -> np.ndarray | None:
    """The target domain of every pool row, or None when the pool has no domains."""
    if pool.table.domain is not None:
        return np.asarray(pool.table.domain, dtype=object)
    source = info["config"]["pool"]
    if "pool_id" not in source:
        return None
    table = RunStore(root).load_pool(source["pool_id"])
    if "domain" not in table.columns or len(table) != pool.table.n:
        return None
    return table.sort_values("idx")["domain"].astype(str).to_numpy(dtype=object)


def compare_picks(root: Any, pick_ids: list[str]) -> PickComparison:
    """Overlap, predicted-class mix and domain mix of picks made on one pool."""
    if not pick_ids:
        raise ForgeLensError("pick_ids=[]: allowed: one or more picks of the same pool")
    loaded = [pick_store.load_pick(root, pick_id) for pick_id in pick_ids]
    pools = {pool_key(info) for info, _ in loaded}
    if len(pools) > 1:
        raise ForgeLensError(
            f"pick_ids={pick_ids!r} were made on {len(pools)} different pools "
            f"({'; '.join(sorted(pools))}); allowed: picks of one pool"
        )
    names = [pick_name(info) for info, _ in loaded]
    names = [  # the same selector, seed and size twice (other parameters): add the id
        f"{name} · {pick_id[:6]}" if names.count(name) > 1 else name
        for name, pick_id in zip(names, pick_ids, strict=True)
    ]
    rows = {
        name: frame["row"].to_numpy(np.int64)
        for name, (_, frame) in zip(names, loaded, strict=True)
    }
    jaccard = pd.DataFrame(np.eye(len(names)), index=names, columns=names)
    for first, second in combinations(names, 2):
        a, b = set(rows[first].tolist()), set(rows[second].tolist())
        jaccard.loc[first, second] = jaccard.loc[second, first] = len(a & b) / len(a | b)
    info = loaded[0][0]
    pool = pick_store.pool_of(root, info)
    predicted, _ = predictions(pool.table.logits)
    class_names = list(pool.table.class_names)
    class_mix = _mix(predicted, rows, len(class_names))
    domains = _pool_domains(root, info, pool)
    if domains is None or len(set(domains)) < 2:
        return PickComparison(names, jaccard, class_mix, class_names, None, [])
    domain_names = sorted(set(domains))
    codes = pd.Series(range(len(domain_names)), index=domain_names)[domains].to_numpy(np.int64)
    domain_mix = _mix(codes, rows, len(domain_names))
    return PickComparison(names, jaccard, class_mix, class_names, domain_mix, domain_names)
