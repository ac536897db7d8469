"""Decide what to label: pick part of an (unlabelled) pool and write a labelling manifest.

A pick runs one registered selector (``core.selection``) with one seed on a pool given either
as a scenario of the store (its source model embeds the target pool, ``prepare_pool``) or as a
file of precomputed embeddings (``core.scenarios.embeddings_file``). It is kept in the store
like a run: ``<root>/_picks/<pick_id>/`` holds ``config.json`` (everything that identifies it;
its hash is the id, so the same request reuses it), ``picks.parquet``, ``manifest.csv``,
``manifest.jsonl`` and ``labelstudio.json``, written in one staged folder with checksums.

Manifest columns: rank (1 = first picked), id, path, text, selector, seed, and per-sample
scores: margin (top-two logit gap), entropy (nats), z_norm (|z|), tangent_norm (sqrt(C) |z|, the
last-layer tangent-feature norm of FORGE Def. 5), gradient_norm (|p - onehot(yhat)| |z|, the
BADGE gradient's norm), nearest_pick_distance (Euclidean distance in z to the nearest earlier
pick; empty for the first), predicted (the model's class) and confidence (its probability).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core import selection
from core.base.device import resolve_device
from core.base.validation import ForgeLensError, check_fraction, check_int_range
from core.run.engine import prepare_pool
from core.run.pick_store import MANIFEST_FILES, PICK_FORMAT, Pool, file_pool, load_pick, pick_dir
from core.run.unlabelled import target_pool
from core.scenarios.catalog import scenario_entry
from core.scenarios.embeddings_file import EmbeddingsTable, write_embeddings
from core.scenarios.scenario_file import unlabelled_target
from core.selection.embeddings import PoolEmbedding
from core.selection.uncertainty import logit_margin, predictive_entropy
from core.storage.atomic import config_id
from core.storage.integrity import verify_folder
from core.storage.store import DONE, RunStore, staged_folder

__all__ = ["MANIFEST_FILES", "export_pool", "load_pick", "pick", "pick_dir"]
SCORE_COLUMNS = (
    "margin",
    "entropy",
    "z_norm",
    "tangent_norm",
    "gradient_norm",
    "nearest_pick_distance",
    "predicted",
    "confidence",
)


def scenario_pool(
    store: RunStore, scenario: str, *, device: Any, with_labels: bool = False
) -> Pool:
    """The target pool of ``scenario`` embedded by its source model (trained or loaded); its
    labels only when asked (a pick never looks at them; an export may). A scenario file with
    ``unlabelled_target = true``: its unlabelled target, embedded by its source model."""
    entry = scenario_entry(scenario, store.root)
    if unlabelled_target(entry.table):
        if with_labels:
            raise ForgeLensError(
                f"scenario {scenario!r} has an unlabelled target (unlabelled_target = true); "
                "allowed: an export without labels (--no-labels)"
            )
        table, source, modality = target_pool(store, entry, device=device)
        return Pool(table, source, modality)
    prepared = prepare_pool(store, entry, device=device)
    z, logits = store.load_embeddings(prepared.pool_id)
    built = prepared.scenario
    n = len(z)
    texts = built.texts.get("target_pool") if built.modality == "text" else None
    domains = built.domain_column("target_pool")
    table = EmbeddingsTable(
        z=np.asarray(z, dtype=np.float32),
        logits=np.asarray(logits, dtype=np.float32),
        ids=tuple(f"pool-{i}" for i in range(n)),
        class_names=tuple(built.class_names),
        labels=np.asarray(built.target_pool.y, dtype=np.int64) if with_labels else None,
        domain=None if domains is None else tuple(str(d) for d in domains),
        text=None if texts is None else tuple(texts),
    )
    source = {"scenario": built.name, "pool_id": prepared.pool_id}
    return Pool(table, source, built.modality)


def export_pool(
    root: str | Path | None,
    scenario: str,
    out: str | Path,
    *,
    labels: bool = True,
    device: Any = None,
) -> Path:
    """Write the target pool of ``scenario`` (z, logits, ids, texts; labels unless
    ``labels=False``: an unlabelled copy) as an embeddings file (.npz/.parquet/.safetensors)."""
    pool = scenario_pool(
        RunStore(root), scenario, device=resolve_device(device), with_labels=labels
    )
    return write_embeddings(out, pool.table)


def count_of(n_picks: Any, fraction: Any, pool_size: int) -> int:
    """How many to pick: ``n_picks`` (a count) or ``fraction`` of the pool, exactly one given."""
    if (n_picks is None) == (fraction is None):
        raise ForgeLensError(
            f"n_picks={n_picks!r} and fraction={fraction!r}: allowed: exactly one of them "
            "(a number of samples, or a fraction in (0, 1] of the pool)"
        )
    if fraction is not None:
        share = check_fraction("fraction", fraction)
        return int(min(pool_size, max(1, round(share * pool_size))))
    return check_int_range("n_picks", n_picks, 1, pool_size, f" (the pool has {pool_size})")


def nearest_earlier(z: np.ndarray, picks: np.ndarray, chunk: int = 1024) -> np.ndarray:
    """Distance in z from each pick to the nearest pick before it (NaN for the first), in
    blocks of ``chunk`` picks (never a picks x picks matrix)."""
    chosen = np.asarray(z[picks], dtype=np.float64)
    sq = np.einsum("ij,ij->i", chosen, chosen)
    out = np.full(len(picks), np.nan)
    for start in range(1, len(picks), chunk):
        stop = min(len(picks), start + chunk)
        block = chosen[start:stop]
        earlier = chosen[:stop]
        d2 = sq[start:stop, None] + sq[None, :stop] - 2.0 * block @ earlier.T
        later = np.arange(stop)[None, :] >= np.arange(start, stop)[:, None]
        d2[later] = np.inf
        out[start:stop] = np.sqrt(np.clip(d2.min(axis=1), 0.0, None))
    return out


def manifest_frame(
    pool: Pool, embedding: PoolEmbedding, picks: np.ndarray, method: str, seed: int
) -> pd.DataFrame:
    """One row per pick, in pick order, with the module doc's columns."""
    table = pool.table
    logits = table.logits[picks]
    z_norm = np.asarray(embedding.znorm, dtype=np.float64)[picks]
    residual = np.asarray(embedding.residual, dtype=np.float64)[picks]
    probs = np.asarray(embedding.probs, dtype=np.float64)[picks]
    pseudo = np.asarray(embedding.pseudo, dtype=np.int64)[picks]
    names = np.asarray(table.class_names, dtype=object)

    def column(values: tuple[str, ...] | None) -> list[str]:
        return [""] * len(picks) if values is None else [values[i] for i in picks]

    return pd.DataFrame(
        {
            "rank": np.arange(1, len(picks) + 1, dtype=np.int64),
            "id": column(table.ids),
            "path": column(table.path),
            "text": column(table.text),
            "domain": column(table.domain),
            "selector": method,
            "seed": int(seed),
            "margin": logit_margin(logits),
            "entropy": predictive_entropy(logits),
            "z_norm": z_norm,
            "tangent_norm": np.sqrt(table.logits.shape[1]) * z_norm,
            "gradient_norm": np.linalg.norm(residual, axis=1) * z_norm,
            "nearest_pick_distance": nearest_earlier(table.z, picks),
            "predicted": names[pseudo],
            "confidence": probs.max(axis=1),
            "row": picks.astype(np.int64),
        }
    )


def label_studio_tasks(frame: pd.DataFrame, modality: str) -> list[dict[str, Any]]:
    """Label Studio tasks, importable as is: texts inline, images by local path (served by
    Label Studio's local-files storage: ``/data/local-files/?d=<path>``)."""
    tasks = []
    for row in frame.itertuples(index=False):
        data: dict[str, Any] = {"forgelens_id": row.id, "rank": int(row.rank)}
        if row.text:
            data["text"] = row.text
        elif row.path:
            data["image"] = "/data/local-files/?d=" + str(row.path).lstrip("/")
        else:
            data["text"] = f"pool sample {row.id} (no file path or text in the pool)"
        tasks.append({"data": data, "meta": {"selector": row.selector, "seed": int(row.seed)}})
    return tasks


def _jsonl(frame: pd.DataFrame) -> str:
    records = json.loads(frame.to_json(orient="records", double_precision=15))
    return "".join(json.dumps(record, sort_keys=False) + "\n" for record in records)


def pick(
    root: str | Path | None,
    *,
    method: str = "forge",
    n_picks: int | None = None,
    fraction: float | None = None,
    seed: int = 0,
    scenario: str | None = None,
    embeddings: str | Path | None = None,
    domain: str | None = None,
    device: Any = None,
    pool: Pool | None = None,
    params: dict[str, Any] | None = None,
) -> tuple[str, bool]:
    """Pick from a pool and keep the pick in the store ``root``: (pick_id, reused).
    ``params`` are the selector's constructor parameters (e.g. FORGE's exact
    ``algorithm="pruned"``), recorded in the pick's config."""
    if pool is None and (scenario is None) == (embeddings is None):
        raise ForgeLensError(
            f"scenario={scenario!r} and embeddings={embeddings!r}: allowed: exactly one "
            "(a scenario of the run store, or a file of precomputed z and logits)"
        )
    (method,) = selection.resolve_methods([method])
    try:
        selector = selection.get_selector(method, **(params or {}))
    except TypeError:
        allowed = ", ".join(selection.get_selector(method).get_params()) or "none"
        raise ForgeLensError(
            f"selector {method!r}: parameter(s) {', '.join(sorted(params or {}))} not all "
            f"known; allowed: {allowed}"
        ) from None
    device = resolve_device(device)
    store = RunStore(root)
    if pool is None:
        pool = (
            file_pool(embeddings, domain)
            if embeddings is not None
            else scenario_pool(store, scenario, device=device)
        )
    count = count_of(n_picks, fraction, pool.table.n)
    config = {
        "kind": "pick",
        "format": PICK_FORMAT,
        "pool": pool.source,
        "method": method,
        "selector_params": selector.get_params(),
        "n_picks": count,
        "seed": int(seed),
        **selection.plugin_config(method),
    }
    pick_id = config_id(config)
    folder = pick_dir(root, pick_id)
    if (folder / DONE).is_file() and verify_folder(folder) is None:
        return pick_id, True
    started = time.perf_counter()
    embedding = PoolEmbedding.from_arrays(pool.table.z, pool.table.logits, device=device)
    picks = selector.select(embedding, count, seed=seed)
    seconds = time.perf_counter() - started
    frame = manifest_frame(pool, embedding, picks, method, seed)
    info = {
        "pick_id": pick_id,
        "config": config,
        "pool_size": pool.table.n,
        "class_names": list(pool.table.class_names),
        "modality": pool.modality,
        "seconds": seconds,
        "created": time.time(),
    }
    public = frame.drop(columns=["row"])
    with staged_folder(folder) as staging:
        (staging / "config.json").write_text(json.dumps(info, indent=2, sort_keys=True))
        frame.to_parquet(staging / "picks.parquet", index=False)
        public.to_csv(staging / "manifest.csv", index=False)
        (staging / "manifest.jsonl").write_text(_jsonl(public))
        tasks = label_studio_tasks(frame, pool.modality)
        (staging / "labelstudio.json").write_text(json.dumps(tasks, indent=1))
    return pick_id, False
