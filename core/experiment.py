"""The paper's Algorithm 1 as a reproducible engine.

scenario -> source model -> pool embeddings (stored once) -> selector -> adaptation -> records.
Each (scenario, method, budget, seed, adaptation mode, hyper-parameters) is one run, stored
under a hash of that full config; a finished run is reused, never recomputed.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import torch

from core import selection
from core.adaptation import adapt
from core.device import resolve_device
from core.embeddings import PoolEmbedding
from core.hparams import HParams, hparams_for
from core.models import FeatureClassifier, embed, per_sample_loss
from core.records import pair_table, summary_table
from core.scenarios import Scenario, load_scenario
from core.scenarios import available as available_scenarios
from core.source_model import get_source_model
from core.store import RunStore, config_id
from core.validation import ForgeLensError, check_choice, check_fraction

ADAPTATION_MODES = ("full",)
SPLITS = ("selected_train", "unselected_train", "val", "test")
Progress = Callable[[dict[str, Any]], None]


@dataclass
class PreparedPool:
    """Everything about one scenario's target pool under its source model, computed once."""

    scenario: Scenario
    hparams: HParams
    model: FeatureClassifier
    model_info: dict[str, Any]
    pool_id: str
    embedding: PoolEmbedding
    loss_before: dict[str, np.ndarray]  # per split name: CE with true labels under theta_0
    pred_before: dict[str, np.ndarray]
    seconds: float


def budget_count(fraction: float, pool_size: int) -> int:
    """Number of labels for a budget given as a fraction of the pool (at least one)."""
    return int(min(pool_size, max(1, round(fraction * pool_size))))


def run_config(scenario: str, method: str, budget: float, seed: int, hparams: HParams,
               adaptation: str = "full") -> dict[str, Any]:
    """The full config that identifies a run (its hash is the run id). Device is not part of it."""
    return {
        "scenario": scenario,
        "method": method,
        "budget": float(budget),
        "seed": int(seed),
        "adaptation": adaptation,
        "hparams": asdict(hparams),
    }


def _versions() -> dict[str, str]:
    import pyarrow
    import sklearn

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "scikit-learn": sklearn.__version__,
        "pyarrow": pyarrow.__version__,
    }


def _pool_frame(embedding: PoolEmbedding, labels: np.ndarray, logits: np.ndarray) -> pd.DataFrame:
    """Per-sample facts of the pool under theta_0 that views colour and filter by."""
    logits64 = logits.astype(np.float64)
    shifted = logits64 - logits64.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    p = np.exp(log_p)
    top2 = np.sort(logits64, axis=1)[:, -2:] if logits.shape[1] > 1 else np.zeros((len(p), 2))
    pseudo = np.asarray(embedding.pseudo)
    residual = p.copy()
    residual[np.arange(len(p)), pseudo] -= 1.0
    return pd.DataFrame({
        "idx": np.arange(len(labels), dtype=np.int64),
        "label": labels.astype(np.int64),
        "pseudo": pseudo.astype(np.int64),
        "correct": pseudo == labels,
        "confidence": p.max(axis=1),
        "margin": top2[:, 1] - top2[:, 0],
        "entropy": -(p * log_p).sum(axis=1),
        "znorm": np.asarray(embedding.znorm, dtype=np.float64),
        "anorm": np.linalg.norm(residual, axis=1),
    })


def prepare_pool(store: RunStore, scenario_name: str, *, device: torch.device,
                 hparams: HParams | None = None, progress: Progress | None = None) -> PreparedPool:
    """Load the scenario, get (train or load) its source model, store the pool embeddings once."""
    notify = progress or (lambda event: None)
    start = time.perf_counter()
    notify({"stage": "scenario", "message": f"loading scenario {scenario_name}"})
    scenario = load_scenario(scenario_name)
    hp = hparams or hparams_for(scenario_name)
    notify({"stage": "source model", "message": "training or loading the source model"})
    model, info = get_source_model(scenario, hp, cache_dir=store.models_dir, device=device)
    notify({"stage": "embed", "message": "embedding the target pool"})
    pool_split = scenario.split("target_pool")
    z, logits = embed(model, pool_split.x, device=device)
    pool_id = config_id({"scenario": scenario.summary(), "model_id": info["model_id"]})
    embedding = PoolEmbedding.from_arrays(z, logits, device=device)
    if not store.has_pool(pool_id):
        meta = {
            "pool_id": pool_id,
            "scenario": scenario_name,
            "model_id": info["model_id"],
            "n": int(len(pool_split)),
            "n_classes": len(scenario.class_names),
            "class_names": list(scenario.class_names),
            "modality": scenario.modality,
            "source_val_accuracy": info.get("source_val_accuracy"),
            "target_test_accuracy": info.get("target_test_accuracy"),
            "scenario_summary": scenario.summary(),
            "hparams": asdict(hp),
        }
        store.write_pool(pool_id, meta, _pool_frame(embedding, pool_split.y, logits), z, logits)
    losses, preds = {}, {}
    for split in ("target_pool", "target_val", "target_test"):
        losses[split], preds[split] = per_sample_loss(model, scenario.split(split), device=device)
    return PreparedPool(scenario, hp, model, info, pool_id, embedding, losses, preds,
                        time.perf_counter() - start)


def _accuracy_rows(stage: str, pool_labels: np.ndarray, selected_mask: np.ndarray,
                   loss: dict[str, np.ndarray], pred: dict[str, np.ndarray],
                   labels: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    """Table 1's decomposition: selected train, unselected train, validation, test."""
    parts = {
        "selected_train": ("target_pool", selected_mask),
        "unselected_train": ("target_pool", ~selected_mask),
        "val": ("target_val", None),
        "test": ("target_test", None),
    }
    rows = []
    for name, (split, mask) in parts.items():
        keep = np.ones(len(labels[split]), dtype=bool) if mask is None else mask
        n = int(keep.sum())
        correct = pred[split][keep] == labels[split][keep]
        rows.append({
            "split": name, "stage": stage, "n": n,
            "accuracy": float(correct.mean()) if n else float("nan"),
            "loss": float(loss[split][keep].mean()) if n else float("nan"),
        })
    return rows


def run_one(store: RunStore, prepared: PreparedPool, method: str, budget: float, seed: int, *,
            device: torch.device, adaptation: str = "full",
            progress: Progress | None = None) -> tuple[str, bool]:
    """Run (or reuse) one selection + adaptation + records. Returns (run_id, reused)."""
    notify = progress or (lambda event: None)
    scenario, hp = prepared.scenario, prepared.hparams
    config = run_config(scenario.name, method, budget, seed, hp, adaptation)
    run_id = config_id(config)
    if store.is_finished(run_id):
        return run_id, True
    timings: dict[str, float] = {}
    start = time.perf_counter()
    pool = prepared.embedding
    k = budget_count(budget, pool.n)

    notify({"stage": "select", "message": f"{method}: selecting {k} of {pool.n}"})
    tick = time.perf_counter()
    selected = selection.select_from_pool(method, pool, k, seed=seed)
    timings["select"] = time.perf_counter() - tick

    notify({"stage": "adapt", "message": f"{method}: fine-tuning on {k} labels + source"})
    tick = time.perf_counter()
    adapted, adapt_info = adapt(prepared.model, scenario, selected, hp, seed=seed, device=device)
    timings["adapt"] = time.perf_counter() - tick

    notify({"stage": "records", "message": f"{method}: losses, accuracies and gap pairs"})
    tick = time.perf_counter()
    loss_after, pred_after = {}, {}
    for split in ("target_pool", "target_val", "target_test"):
        loss_after[split], pred_after[split] = per_sample_loss(adapted, scenario.split(split),
                                                               device=device)
    labels = {s: scenario.split(s).y for s in ("target_pool", "target_val", "target_test")}
    mask = np.zeros(pool.n, dtype=bool)
    mask[selected] = True
    accuracy = pd.DataFrame(
        _accuracy_rows("before", labels["target_pool"], mask, prepared.loss_before,
                       prepared.pred_before, labels)
        + _accuracy_rows("after", labels["target_pool"], mask, loss_after, pred_after, labels)
    )
    before, after = prepared.loss_before["target_pool"], loss_after["target_pool"]
    order = np.full(pool.n, -1, dtype=np.int64)
    order[selected] = np.arange(k)
    samples = pd.DataFrame({
        "idx": np.arange(pool.n, dtype=np.int64),
        "label": labels["target_pool"],
        "pseudo": np.asarray(pool.pseudo, dtype=np.int64),
        "selected": mask,
        "order": order,
        "loss_before": before,
        "loss_after": after,
        "r": before - after,
        "pred_after": pred_after["target_pool"],
        "znorm": np.asarray(pool.znorm, dtype=np.float64),
    })
    pairs = pair_table(pool, selected, labels["target_pool"], before, after)
    summary = summary_table(pairs, selected, before - after)
    timings["records"] = time.perf_counter() - tick
    timings["total"] = time.perf_counter() - start

    info = {
        "run_id": run_id,
        "config": config,
        "budget_count": k,
        "pool_id": prepared.pool_id,
        "model_id": prepared.model_info["model_id"],
        "source_model": {key: value for key, value in prepared.model_info.items()
                         if isinstance(value, int | float | str)},
        "device": str(device),
        "versions": _versions(),
        "timings": timings,
        "iterations": adapt_info.get("iterations"),
        "param_distance": adapt_info.get("param_distance"),
        "adaptation_info": adapt_info,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    tables = {
        "selection": pd.DataFrame({"idx": selected.astype(np.int64), "order": np.arange(k)}),
        "accuracy": accuracy,
        "samples": samples,
        "pairs": pairs,
        "summary": summary,
    }
    store.write_run(run_id, info, tables)
    return run_id, False


def validate_sweep(scenario: str, methods: Sequence[str], budgets: Sequence[float],
                   seeds: Sequence[int], adaptation: str = "full") -> tuple[list[float], list[int]]:
    """Check every argument of a sweep before any work starts; returns clean budgets and seeds."""
    check_choice("scenario", scenario, available_scenarios())
    if not methods:
        raise ForgeLensError("methods=[] is empty; give at least one of: "
                             + ", ".join(selection.available()))
    for method in methods:
        check_choice("method", method, selection.available())
    if not budgets:
        raise ForgeLensError("budgets=[] is empty; give fractions of the pool in (0, 1]")
    clean_budgets = [check_fraction("budget", b) for b in budgets]
    if not seeds:
        raise ForgeLensError("seeds=[] is empty; give at least one integer seed")
    clean_seeds = []
    for seed in seeds:
        if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
            raise ForgeLensError(f"seed={seed!r} must be a non-negative integer")
        clean_seeds.append(int(seed))
    check_choice("adaptation", adaptation, ADAPTATION_MODES)
    return clean_budgets, clean_seeds


def run_sweep(scenario: str, methods: Sequence[str], budgets: Sequence[float],
              seeds: Sequence[int], *, root: str | None = None, device: str = "auto",
              adaptation: str = "full", progress: Progress | None = None,
              hparams: HParams | None = None) -> list[str]:
    """Run every (method, budget, seed) of one scenario; returns the run ids in sweep order."""
    budgets, seeds = validate_sweep(scenario, methods, budgets, seeds, adaptation)
    torch_device = resolve_device(device)
    store = RunStore(root)
    store.remove_stale_staging()
    notify = progress or (lambda event: None)
    prepared = prepare_pool(store, scenario, device=torch_device, hparams=hparams, progress=notify)
    grid = [(m, b, s) for b in budgets for m in methods for s in seeds]
    run_ids = []
    for index, (method, budget, seed) in enumerate(grid):
        def forward(event: dict[str, Any], index: int = index, method: str = method,
                    budget: float = budget, seed: int = seed) -> None:
            notify({**event, "run_index": index, "n_runs": len(grid), "method": method,
                    "budget": budget, "seed": seed})
        run_id, reused = run_one(store, prepared, method, budget, seed, device=torch_device,
                                 adaptation=adaptation, progress=forward)
        forward({"stage": "done", "run_id": run_id, "reused": reused,
                 "message": f"{method} {budget:g} seed {seed}: {'reused' if reused else 'done'}"})
        run_ids.append(run_id)
    return run_ids
