"""Train the source-only model once per (scenario, hyper-parameters, seed) and cache it on disk.

Cache layout under ``cache_dir``: ``<model_id>.safetensors`` (weights) and ``<model_id>.json``
(metadata: accuracies, timing). Both are written to a temporary file and moved into place with
``os.replace``; the JSON goes last and marks the entry complete, so a crash mid-write only
costs a retrain. Each file has a checksum sidecar (``core.storage.integrity.seal``): a damaged
entry is
quarantined (``_models/_quarantine/``) and trained again. ``model_id`` hashes the scenario name,
``scenario.summary()`` (sizes, seed and
a fingerprint of the data) and the hyper-parameters that decide source training.

Pretrained backbones (``hp.pretrained``): the source model is the frozen pretrained backbone
plus a linear head trained on the source train split's features (cheap with cached features,
see ``core.nn.feature_cache``); only the head's two tensors are saved, the backbone is reloaded
from its package, and the model id also hashes the backbone's identity.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from core.base.data import Scenario
from core.base.device import resolve_device
from core.base.hparams import HParams
from core.base.progress import Progress, ignore
from core.base.validation import check_finite
from core.nn.feature_cache import compute_features
from core.nn.local_backbones import backbone_class
from core.nn.models import (
    FeatureClassifier,
    accuracy,
    build_model,
    loss_tensor,
    per_sample_loss_from_features,
)
from core.nn.optimizers import make_optimizer
from core.nn.threads import single_cpu_thread
from core.storage.atomic import write_atomic
from core.storage.integrity import check_file, quarantine, seal

CACHE_FORMAT = 1


def source_model_id(scenario: Scenario, hp: HParams) -> str:
    """Hash of everything that decides the source model's weights."""
    key = {
        "format": CACHE_FORMAT,
        "scenario": scenario.name,
        "summary": scenario.summary(),
        "hparams": hp.source_params(),
    }
    if hp.pretrained:
        key["backbone"] = backbone_class(hp.arch, scenario).identity()
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]


def train_source(
    model: FeatureClassifier,
    scenario: Scenario,
    hp: HParams,
    *,
    device: torch.device,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Train ``model`` in place on the source train split (shuffled with hp.source_seed)."""
    info = _fit(
        model,
        scenario.source_train.x,
        scenario.source_train.y,
        hp,
        device=device,
        progress=progress,
    )
    model.eval()
    return info


def train_head(
    model: FeatureClassifier,
    z: np.ndarray | torch.Tensor,
    labels: np.ndarray,
    hp: HParams,
    *,
    device: torch.device,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Train only ``model.head`` in place on precomputed features ``z`` of the source train
    split (same loop and settings as ``train_source``); the backbone is not touched."""
    info = _fit(
        model.head,
        torch.as_tensor(z, dtype=torch.float32),
        labels,
        hp,
        device=device,
        progress=progress,
    )
    model.eval()
    return info


def _fit(
    module: torch.nn.Module,
    inputs: torch.Tensor,
    labels: np.ndarray,
    hp: HParams,
    *,
    device: torch.device,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Minimise the mean ``hp.source_loss()`` of ``module(inputs)`` with the source_* settings.

    After each epoch ``progress`` gets {"stage": "source model", "epoch", "epochs", "loss"}."""
    notify = progress or ignore
    module.to(device).train()
    optimizer = make_optimizer(
        hp.source_optimizer,
        module.parameters(),
        lr=hp.source_lr,
        weight_decay=hp.source_weight_decay,
    )
    x = inputs.to(device)
    y = torch.from_numpy(np.asarray(labels, dtype=np.int64)).to(device)
    generator = torch.Generator().manual_seed(hp.source_seed)
    start, iterations, epoch_losses = time.perf_counter(), 0, []
    with single_cpu_thread(device):  # the same weights at any thread count (core.nn.threads)
        for _ in range(hp.source_epochs):
            iterations = _epoch(module, optimizer, x, y, hp, generator, iterations, epoch_losses)
            notify(
                {
                    "stage": "source model",
                    "epoch": len(epoch_losses),
                    "epochs": hp.source_epochs,
                    "loss": epoch_losses[-1],
                    "message": f"source training epoch {len(epoch_losses)}/{hp.source_epochs}, "
                    f"loss {epoch_losses[-1]:.3f}",
                }
            )
    check_finite("source training loss", np.asarray(epoch_losses))
    module.eval()
    return {
        "train_seconds": time.perf_counter() - start,
        "epochs": hp.source_epochs,
        "iterations": iterations,
        "epoch_losses": epoch_losses,
        "final_train_loss": epoch_losses[-1],
    }


def _epoch(
    module: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
    hp: HParams,
    generator: torch.Generator,
    iterations: int,
    epoch_losses: list[float],
) -> int:
    """One shuffled pass of steps on the mean ``hp.source_loss()`` (cross-entropy unless MSE
    adaptation asks for the squared error); appends its mean loss, returns the iteration count
    so far."""
    order = torch.randperm(len(x), generator=generator).to(x.device)
    total = 0.0
    for begin in range(0, len(x), hp.source_batch):
        rows = order[begin : begin + hp.source_batch]
        if hp.source_loss() == "ce":
            loss = F.cross_entropy(module(x[rows]), y[rows])
        else:  # the squared error to one-hot labels, as MSE adaptation (HParams.source_loss)
            loss = loss_tensor(module(x[rows]), y[rows], hp.source_loss()).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += float(loss.detach()) * len(rows)
        iterations += 1
    epoch_losses.append(total / len(x))
    return iterations


def _load_weights(model: FeatureClassifier, path: Path, head_only: bool) -> None:
    state = load_file(str(path), device="cpu")
    if head_only:
        model.head.load_state_dict({name.removeprefix("head."): t for name, t in state.items()})
    else:
        model.load_state_dict(state)


def get_source_model(
    scenario: Scenario,
    hp: HParams,
    *,
    cache_dir: Path,
    device,
    features: dict[str, np.ndarray] | None = None,
    progress: Progress | None = None,
    build: Callable[[Scenario, HParams], FeatureClassifier] = build_model,
) -> tuple[FeatureClassifier, dict[str, Any]]:
    """The source-only model for ``scenario``: loaded from ``cache_dir`` or trained and saved.

    ``build`` makes a fresh model (the task's builder, ``core.tasks.Task.build_model``: a pair
    model for reward scenarios); the classifier of ``core.nn.models`` by default.

    Returns the model in eval mode on ``device`` and its metadata (model_id, accuracies on
    source train/val and target val/test, train seconds, epochs, iterations, ``cached``).
    For a pretrained backbone only the head is trained, on ``features`` (every split's z, as
    ``core.nn.feature_cache`` gives them; computed here, uncached, when not given).
    """
    device = resolve_device(device)
    cache_dir = Path(cache_dir)
    model_id = source_model_id(scenario, hp)
    weights_path = cache_dir / f"{model_id}.safetensors"
    meta_path = cache_dir / f"{model_id}.json"
    model = build(scenario, hp)
    if meta_path.is_file() and weights_path.is_file():
        damage = check_file(weights_path) or check_file(meta_path)
        try:
            if damage is None:
                _load_weights(model, weights_path, head_only=hp.pretrained)
                info = json.loads(meta_path.read_text())
                if not isinstance(info, dict):
                    raise ValueError("model metadata is not a JSON object")
                return model.to(device).eval(), {**info, "cached": True}
        except (OSError, RuntimeError, ValueError, SafetensorError) as error:
            damage = f"unreadable ({type(error).__name__})"
        for path in (meta_path, weights_path):  # damaged entry: set aside, train again
            quarantine(path, cache_dir, kind="model", reason=f"{model_id}: {damage}")
        model = build(scenario, hp)

    info: dict[str, Any] = {
        "model_id": model_id,
        "scenario": scenario.name,
        "hparams": hp.source_params(),
    }
    splits = ("source_train", "source_val", "target_val", "target_test")
    if hp.pretrained:
        if features is None:
            features = compute_features(model, scenario, device=device)
        info.update(
            train_head(
                model,
                features["source_train"],
                scenario.source_train.y,
                hp,
                device=device,
                progress=progress,
            ),
            saved="head",
        )
        for split in splits:
            _, predictions = per_sample_loss_from_features(
                model, features[split], scenario.split(split).y, device=device
            )
            info[f"{split}_accuracy"] = float(np.mean(predictions == scenario.split(split).y))
    else:
        info.update(train_source(model, scenario, hp, device=device, progress=progress))
        for split in splits:
            info[f"{split}_accuracy"] = accuracy(
                model, scenario.split(split), device=device, batch_size=hp.eval_batch
            )
    info.update(device=str(device), torch_version=torch.__version__, created=time.time())
    cache_dir.mkdir(parents=True, exist_ok=True)
    saved = model.head if hp.pretrained else model
    prefix = "head." if hp.pretrained else ""
    state = {prefix + name: t.detach().cpu().contiguous() for name, t in saved.state_dict().items()}
    write_atomic(weights_path, lambda tmp: save_file(state, tmp))
    seal(weights_path)
    write_atomic(meta_path, lambda tmp: Path(tmp).write_text(json.dumps(info, indent=2)))
    seal(meta_path)
    return model.to(device).eval(), {**info, "cached": False}
