"""Backbone features z of every split, computed once and cached in the run store.

``head`` adaptation trains only the last linear layer, so the backbone's output never changes:
each split's z is computed once per backbone and reused by source-head training, adaptation and
evaluation. Layout: ``<root>/_features/<feature_id>.npz`` with one float32 (N, D) array per split
name and a ``meta`` JSON string; written to a temporary file and renamed into place, so a reader
sees a whole file or none; a checksum sidecar (``core.storage.integrity.seal``) follows it. An
unreadable, damaged or mismatching file is quarantined and recomputed.

``feature_id`` hashes what decides the features: for a pretrained (frozen) backbone its identity
(name, package versions, preprocessing) and the scenario's summary (data fingerprint included);
for a backbone trained from scratch, the id of the trained source model.
"""

from __future__ import annotations

import io
import json
import time
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from core.base.data import SPLIT_NAMES, Scenario
from core.base.device import resolve_device
from core.base.hparams import HParams
from core.base.progress import Progress, ignore
from core.nn.local_backbones import backbone_class
from core.nn.models import FeatureClassifier
from core.storage.atomic import config_id, write_bytes_atomic
from core.storage.integrity import check_file, quarantine, seal

FEATURES = "_features"
FEATURE_FORMAT = 1


def feature_id(scenario: Scenario, hp: HParams, model_id: str | None = None) -> str:
    """The cache key of ``scenario``'s features under ``hp``'s backbone (see module doc)."""
    if hp.pretrained:
        key = {
            "format": FEATURE_FORMAT,
            "backbone": backbone_class(hp.arch, scenario).identity(),
            "scenario": scenario.summary(),
        }
        return "pre-" + config_id(key)
    if model_id is None:
        raise ValueError("a backbone trained from scratch is identified by its source model_id")
    return model_id


def features_path(root: str | Path, key: str) -> Path:
    return Path(root) / FEATURES / f"{key}.npz"


@torch.no_grad()
def compute_features(
    model: FeatureClassifier,
    scenario: Scenario,
    *,
    device,
    splits: Sequence[str] = SPLIT_NAMES,
    batch_size: int = 128,
    progress: Progress | None = None,
) -> dict[str, np.ndarray]:
    """z (float32 (N, D)) of each split through ``model.features`` in eval mode.

    Rows are batched by input length when the backbone reports one (text: fewer padded
    tokens per batch) and returned in split order. After the first batch ``progress`` gets an
    estimate of the whole pass (``estimate_seconds``), then about every 5% of the rows the
    counts so far (``done``, ``total``).
    """
    notify = progress or ignore
    device = resolve_device(device)
    was_training = model.training
    model.to(device).eval()
    total = sum(len(scenario.split(name)) for name in splits)
    done, reported, start, out = 0, 0, time.perf_counter(), {}
    lengths_of = getattr(model.backbone, "input_lengths", lambda x: None)
    try:
        for name in splits:
            x = scenario.split(name).x
            lengths = lengths_of(x)
            order = (
                torch.argsort(lengths, stable=True) if lengths is not None else torch.arange(len(x))
            )
            z = torch.empty((len(x), model.feature_dim), dtype=torch.float32)
            for begin in range(0, len(x), batch_size):
                rows = order[begin : begin + batch_size]
                z[rows] = model.features(x[rows].to(device)).float().cpu()
                if done == 0:
                    seconds = time.perf_counter() - start
                    estimate = seconds * total / max(1, len(rows))
                    notify(
                        {
                            "stage": "features",
                            "estimate_seconds": estimate,
                            "message": f"features of {total} samples: about {estimate:.0f} s "
                            f"on {device}",
                        }
                    )
                done += len(rows)
                if done - reported >= total / 20 and done < total:
                    reported = done
                    notify(
                        {
                            "stage": "features",
                            "done": done,
                            "total": total,
                            "message": f"features: {done}/{total} samples",
                        }
                    )
            out[name] = z.numpy()
            notify(
                {
                    "stage": "features",
                    "done": done,
                    "total": total,
                    "message": f"features of {name}: {len(x)} samples ({done}/{total})",
                }
            )
    finally:
        model.train(was_training)
    return out


def _read(
    path: Path, scenario: Scenario, splits: Sequence[str], feature_dim: int
) -> dict[str, np.ndarray] | None:
    """The cached arrays if the file is whole and fits the scenario's splits; None otherwise."""
    if check_file(path) is not None:
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in splits}
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile):
        return None
    for name, z in arrays.items():
        if (
            z.dtype != np.float32
            or z.shape != (len(scenario.split(name)), feature_dim)
            or not np.isfinite(z).all()
        ):
            return None
    return arrays


def cached_features(
    root: str | Path,
    key: str,
    model: FeatureClassifier,
    scenario: Scenario,
    *,
    device,
    batch_size: int = 128,
    progress: Progress | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Every split's z: read from ``<root>/_features/<key>.npz`` or computed and written there.

    Returns the arrays and info: feature_id, path, cached (bool), seconds (of this call).
    """
    start = time.perf_counter()
    path = features_path(root, key)
    arrays = _read(path, scenario, SPLIT_NAMES, model.feature_dim) if path.is_file() else None
    cached = arrays is not None
    if arrays is None and path.is_file():
        quarantine(
            path,
            Path(root),
            kind="features",
            reason=f"{path.name} damaged or not matching the scenario",
        )
    if arrays is None:
        arrays = compute_features(
            model, scenario, device=device, batch_size=batch_size, progress=progress
        )
        meta = {
            "feature_id": key,
            "scenario": scenario.name,
            "fingerprint": scenario.fingerprint,
            "feature_dim": model.feature_dim,
            "device": str(resolve_device(device)),
            "seconds": time.perf_counter() - start,
            "created": time.time(),
        }
        buffer = io.BytesIO()
        np.savez(buffer, meta=np.array(json.dumps(meta)), **arrays)
        write_bytes_atomic(path, buffer.getvalue())
        seal(path)
    info = {
        "feature_id": key,
        "path": str(path),
        "cached": cached,
        "seconds": time.perf_counter() - start,
    }
    return arrays, info
