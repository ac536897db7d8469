"""The picks and labels-back results of a run store, read without torch (the dashboard's Picks
page lists them; ``core.run.pick`` and ``core.run.labels_back`` write them).

Layout: ``<root>/_picks/<pick_id>/`` (config.json, picks.parquet, manifest.csv,
manifest.jsonl, labelstudio.json, DONE with checksums) and ``<root>/_labels/<labels_id>/``
(config.json, summary.json, flips.parquet, labels.csv, head.safetensors, DONE).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core.base.validation import ForgeLensError
from core.scenarios.embeddings_file import EmbeddingsTable, read_embeddings
from core.storage.integrity import check_id, inside, verify_folder
from core.storage.store import DONE, RunStore

PICKS = "_picks"
LABELS = "_labels"
PICK_FORMAT = 1
MANIFEST_FILES = ("manifest.csv", "manifest.jsonl", "labelstudio.json")


@dataclass(frozen=True)
class Pool:
    """What a pick needs of a pool: arrays, per-row facts and where they came from."""

    table: EmbeddingsTable
    source: dict[str, Any]  # identifies the pool in the pick config
    modality: str  # image, text or embeddings


def picks_dir(root: str | Path | None) -> Path:
    return RunStore(root).root / PICKS


def pick_dir(root: str | Path | None, pick_id: str) -> Path:
    base = RunStore(root).root
    return inside(base, base / PICKS / check_id("pick_id", pick_id))


def file_pool(path: str | Path, domain: str | None = None) -> Pool:
    """A pool of precomputed embeddings read (and checked) from ``path``."""
    table = read_embeddings(path, domain=domain)
    source = {"embeddings": table.source_file, "sha256": table.checksum, "domain": domain}
    modality = "text" if table.text is not None else "image" if table.path else "embeddings"
    return Pool(table, source, modality)


def pick_ids(root: str | Path | None) -> list[str]:
    """Ids of the stored picks that verify, newest first."""
    base = picks_dir(root)
    if not base.is_dir():
        return []
    found = [
        p
        for p in base.iterdir()
        if p.is_dir() and not p.name.startswith(".") and (p / DONE).is_file()
    ]
    found = [p for p in found if verify_folder(p) is None]
    return [p.name for p in sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)]


def load_pick(root: str | Path | None, pick_id: str) -> tuple[dict[str, Any], pd.DataFrame]:
    """(config.json, picks table) of a stored pick; a clear error if it is missing or damaged."""
    folder = pick_dir(root, pick_id)
    if not (folder / DONE).is_file():
        known = ", ".join(pick_ids(root)[:10]) or "none yet (python -m core pick)"
        raise ForgeLensError(f"pick_id={pick_id!r} is not stored in {folder.parent}; has: {known}")
    problem = verify_folder(folder)
    if problem is not None:
        raise ForgeLensError(f"pick {pick_id} in {folder} is damaged ({problem}); pick again")
    info = json.loads((folder / "config.json").read_text())
    return info, pd.read_parquet(folder / "picks.parquet")


def pool_of(root: str | Path | None, info: dict[str, Any]) -> Pool:
    """The pool a stored pick was made on, re-read and checked to be the same data."""
    source = info["config"]["pool"]
    if "embeddings" in source:
        pool = file_pool(source["embeddings"], source.get("domain"))
        if pool.table.checksum != source["sha256"]:
            raise ForgeLensError(
                f"embeddings file {source['embeddings']} changed since the pick "
                f"(sha256 {pool.table.checksum[:12]}, was {source['sha256'][:12]}); "
                "allowed: the file the pick was made on; pick again on the new file"
            )
        return pool
    store = RunStore(root)
    if source.get("unlabelled_target"):  # a scenario file's unlabelled target, kept embedded
        from core.run.unlabelled import unlabelled_pool_file  # loads torch

        path = unlabelled_pool_file(store.root, source)
        if not path.is_file():
            raise ForgeLensError(
                f"the pool of this pick ({path}) is no longer in the store; allowed: a pick "
                f"made again with python -m core pick --scenario {source['scenario']}"
            )
        return Pool(read_embeddings(path), source, info.get("modality", "image"))
    z, logits = store.load_embeddings(source["pool_id"])
    meta = store.load_pool_meta(source["pool_id"])
    table = EmbeddingsTable(
        z=np.asarray(z, dtype=np.float32),
        logits=np.asarray(logits, dtype=np.float32),
        ids=tuple(f"pool-{i}" for i in range(len(z))),
        class_names=tuple(meta["class_names"]),
    )
    return Pool(table, source, info.get("modality", "image"))


def labels_dir(root: str | Path | None, labels_id: str) -> Path:
    base = RunStore(root).root
    return inside(base, base / LABELS / check_id("labels_id", labels_id))


def load_labels_result(root: str | Path | None, labels_id: str) -> tuple[dict, pd.DataFrame]:
    """(summary.json, flips table) of a stored labels-back result."""
    folder = labels_dir(root, labels_id)
    if not (folder / DONE).is_file() or verify_folder(folder) is not None:
        raise ForgeLensError(f"labels_id={labels_id!r} is not stored (intact) in {folder.parent}")
    summary = json.loads((folder / "summary.json").read_text())
    return summary, pd.read_parquet(folder / "flips.parquet")


def labels_of_pick(root: str | Path | None, pick_id: str) -> list[str]:
    """Ids of the intact labels-back results made on ``pick_id``, oldest first."""
    base = RunStore(root).root / LABELS
    found = []
    for folder in base.iterdir() if base.is_dir() else []:
        try:
            config = json.loads((folder / "config.json").read_text())
        except (OSError, json.JSONDecodeError):
            continue
        intact = (folder / DONE).is_file() and verify_folder(folder) is None
        if config.get("pick_id") == pick_id and intact:
            found.append(folder)
    return [f.name for f in sorted(found, key=lambda f: f.stat().st_mtime)]


def count_labels(root: str | Path | None) -> int:
    """How many labels-back results the store holds."""
    base = RunStore(root).root / LABELS
    return sum((f / DONE).is_file() for f in base.iterdir()) if base.is_dir() else 0
