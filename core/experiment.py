"""The paper's Algorithm 1 as a reproducible engine.

scenario -> source model -> pool embeddings (stored once) -> selector -> adaptation -> records.
Each (scenario, method, budget, seed, adaptation mode, hyper-parameters) is one run, stored
under a hash of that full config; a finished run is reused, never recomputed.

Adaptation modes (``ADAPTATION_MODES``): ``full`` fine-tunes everything (the paper's setting);
``head`` trains only the last linear layer on backbone features computed once per source model
and cached in ``<root>/_features/`` (``core.feature_cache``), and then evaluates from the same
cache. Pretrained-backbone scenarios always use their cached features for the source head and
the theta_0 quantities. A sweep's mode defaults to the scenario's (``hparams.default_adaptation``).
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
from core.adaptation import ADAPTATION_MODES, adapt, adapt_head
from core.device import resolve_device
from core.embeddings import PoolEmbedding
from core.feature_cache import cached_features, feature_id
from core.hparams import HParams, default_adaptation, hparams_for
from core.models import (
    FeatureClassifier,
    build_model,
    embed,
    head_logits,
    per_sample_loss,
    per_sample_loss_from_features,
)
from core.records import pair_table, summary_table
from core.scenarios import SCENARIOS, Scenario, load_scenario
from core.scenarios import available as available_scenarios
from core.source_model import get_source_model
from core.store import RunStore, config_id
from core.validation import ForgeLensError, check_choice, check_fraction

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
    # every split's backbone features z when cached (pretrained backbones, or head mode)
    features: dict[str, np.ndarray] | None = None
    features_info: dict[str, Any] | None = None


def budget_count(fraction: float, pool_size: int) -> int:
    """Number of labels for a budget given as a fraction of the pool (at least one)."""
    return int(min(pool_size, max(1, round(fraction * pool_size))))


def run_config(scenario: str, method: str, budget: float, seed: int, hparams: HParams,
               adaptation: str = "full",
               scenario_params: dict[str, Any] | None = None) -> dict[str, Any]:  # fmt: skip
    """The full config that identifies a run (its hash is the run id). Device is not part of it.

    ``scenario_params`` (builder parameters) is recorded only for a scenario built with
    non-default parameters (a slice), so its runs never share ids with the registered one's.
    """
    config = {
        "scenario": scenario,
        "method": method,
        "budget": float(budget),
        "seed": int(seed),
        "adaptation": adaptation,
        "hparams": asdict(hparams),
    }
    if scenario_params is not None:
        config["scenario_params"] = scenario_params
    return config


def non_default_params(scenario: Scenario) -> dict[str, Any] | None:
    """The scenario's builder parameters if they differ from its registered defaults, else None."""
    defaults = SCENARIOS[scenario.name]().get_params() if scenario.name in SCENARIOS else None
    return None if scenario.params == defaults else dict(scenario.params)


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
    p = np.asarray(embedding.probs, dtype=np.float64)
    top2 = np.sort(logits.astype(np.float64), axis=1)[:, -2:] if logits.shape[1] > 1 \
        else np.zeros((len(p), 2))
    pseudo = np.asarray(embedding.pseudo, dtype=np.int64)
    return pd.DataFrame({
        "idx": np.arange(len(labels), dtype=np.int64),
        "label": labels.astype(np.int64),
        "pseudo": pseudo,
        "correct": pseudo == labels,
        "confidence": p.max(axis=1),
        "margin": top2[:, 1] - top2[:, 0],
        "entropy": -np.sum(p * np.log(np.clip(p, 1e-300, None)), axis=1),
        "znorm": np.asarray(embedding.znorm, dtype=np.float64),
        "anorm": np.linalg.norm(np.asarray(embedding.residual, dtype=np.float64), axis=1),
    })


def resolve_adaptation(scenario: str, adaptation: str | None) -> str:
    """``adaptation`` checked against ADAPTATION_MODES, or the scenario's default when None."""
    if adaptation is None:
        return default_adaptation(scenario)
    return check_choice("adaptation", adaptation, ADAPTATION_MODES)


def _load_features(store: RunStore, scenario: Scenario, hp: HParams, model: FeatureClassifier,
                   model_id: str | None, device: torch.device,
                   notify: Progress) -> tuple[dict[str, np.ndarray], dict[str, Any]]:  # fmt: skip
    key = feature_id(scenario, hp, model_id)
    notify({"stage": "features", "message": f"backbone features of every split ({key})"})
    features, info = cached_features(store.root, key, model, scenario, device=device,
                                     batch_size=min(hp.eval_batch, 128), progress=notify)  # fmt: skip
    word = "read from the cache" if info["cached"] else "computed and cached"
    notify({"stage": "features", "seconds": info["seconds"], "cached": info["cached"],
            "message": f"features {word} in {info['seconds']:.1f} s"})  # fmt: skip
    return features, info


def prepare_pool(store: RunStore, scenario_name: str, *, device: torch.device,
                 hparams: HParams | None = None, progress: Progress | None = None,
                 adaptation: str | None = None, scenario: Scenario | None = None) -> PreparedPool:
    """Load the scenario, get (train or load) its source model, store the pool embeddings once.

    Backbone features are loaded or computed (and cached) first for a pretrained backbone, and
    after the source model for ``head`` adaptation. ``scenario`` overrides the registered one
    of the same name (a built slice, e.g. in tests).
    """
    notify = progress or (lambda event: None)
    start = time.perf_counter()
    notify({"stage": "scenario", "message": f"loading scenario {scenario_name}"})
    if scenario is not None and scenario.name != scenario_name:
        raise ForgeLensError(f"scenario={scenario.name!r} was given for {scenario_name!r}; "
                             "allowed: a scenario built under that name")
    scenario = scenario or load_scenario(scenario_name)
    hp = hparams or hparams_for(scenario_name)
    mode = resolve_adaptation(scenario_name, adaptation)
    features, features_info = None, None
    if hp.pretrained:
        features, features_info = _load_features(store, scenario, hp, build_model(scenario, hp),
                                                 None, device, notify)  # fmt: skip
    notify({"stage": "source model", "message": "training or loading the source model"})
    model, info = get_source_model(scenario, hp, cache_dir=store.models_dir, device=device,
                                   features=features)  # fmt: skip
    if features is None and mode == "head":
        features, features_info = _load_features(store, scenario, hp, model, info["model_id"],
                                                 device, notify)  # fmt: skip
    notify({"stage": "embed", "message": "embedding the target pool"})
    pool_split = scenario.split("target_pool")
    pool_id = config_id({"scenario": scenario.summary(), "model_id": info["model_id"]})
    if store.has_pool(pool_id):  # prepared once (maybe by another worker): shared via the store
        z, logits = store.load_embeddings(pool_id)
    elif features is not None:
        z = features["target_pool"]
        logits = head_logits(model, z, device=device)
    else:
        z, logits = embed(model, pool_split.x, device=device)
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
    losses, preds = _losses(model, scenario, features, device)
    return PreparedPool(scenario, hp, model, info, pool_id, embedding, losses, preds,
                        time.perf_counter() - start, features, features_info)


def _losses(model: FeatureClassifier, scenario: Scenario, features: dict[str, np.ndarray] | None,
            device: torch.device) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Per-sample CE (true labels) and predictions on pool / val / test, from cached features
    when given (the head alone), else through the whole model."""
    losses, preds = {}, {}
    for split in ("target_pool", "target_val", "target_test"):
        if features is not None:
            losses[split], preds[split] = per_sample_loss_from_features(
                model, features[split], scenario.split(split).y, device=device)
        else:
            losses[split], preds[split] = per_sample_loss(model, scenario.split(split),
                                                          device=device)  # fmt: skip
    return losses, preds


def _accuracy_rows(stage: str, selected_mask: np.ndarray,
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
            device: torch.device, adaptation: str | None = None,
            progress: Progress | None = None) -> tuple[str, bool]:
    """Run (or reuse) one selection + adaptation + records. Returns (run_id, reused).

    ``adaptation``: "full" or "head" (None: the scenario's default); the mode used is recorded
    in the run config.
    """
    notify = progress or (lambda event: None)
    scenario, hp = prepared.scenario, prepared.hparams
    adaptation = resolve_adaptation(scenario.name, adaptation)
    config = run_config(scenario.name, method, budget, seed, hp, adaptation,
                        non_default_params(scenario))
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

    what = "the head" if adaptation == "head" else "everything"
    notify({"stage": "adapt", "message": f"{method}: training {what} on {k} labels + source"})
    tick = time.perf_counter()
    if adaptation == "head":
        if prepared.features is None:
            prepared.features, prepared.features_info = _load_features(
                store, scenario, hp, prepared.model, prepared.model_info["model_id"], device,
                notify)  # fmt: skip
        adapted, adapt_info = adapt_head(prepared.model, prepared.features, scenario, selected,
                                         hp, seed=seed, device=device)  # fmt: skip
    else:
        adapted, adapt_info = adapt(prepared.model, scenario, selected, hp, seed=seed,
                                    device=device, progress=notify)  # fmt: skip
    timings["adapt"] = time.perf_counter() - tick

    notify({"stage": "records", "message": f"{method}: losses, accuracies and gap pairs"})
    tick = time.perf_counter()
    loss_after, pred_after = _losses(adapted, scenario,
                                     prepared.features if adaptation == "head" else None, device)
    labels = {s: scenario.split(s).y for s in ("target_pool", "target_val", "target_test")}
    mask = np.zeros(pool.n, dtype=bool)
    mask[selected] = True
    accuracy = pd.DataFrame(
        _accuracy_rows("before", mask, prepared.loss_before,
                       prepared.pred_before, labels)
        + _accuracy_rows("after", mask, loss_after, pred_after, labels)
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
        "features": prepared.features_info,
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
                   seeds: Sequence[int], adaptation: str | None = None,
                   ) -> tuple[list[float], list[int]]:  # fmt: skip
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
    if adaptation is not None:
        check_choice("adaptation", adaptation, ADAPTATION_MODES)
    return clean_budgets, clean_seeds


def run_sweep(scenario: str, methods: Sequence[str], budgets: Sequence[float],
              seeds: Sequence[int], *, root: str | None = None, device: str = "auto",
              adaptation: str | None = None, progress: Progress | None = None,
              hparams: HParams | None = None, built: Scenario | None = None,
              executor: str = "local", jobs: int = 1, address: str | None = None) -> list[str]:
    """Run every (method, budget, seed) of one scenario; returns the run ids in sweep order.

    ``adaptation`` None means the scenario's default mode. ``built`` replaces the registered
    scenario of that name by an already built one (e.g. a small slice for tests).
    ``executor`` / ``jobs`` / ``address``: where the runs execute (``core.executors``); the pool
    is prepared here first either way.
    """
    from core.executors import check_executor, run_grid

    executor, jobs = check_executor(executor, jobs, address)
    budgets, seeds = validate_sweep(scenario, methods, budgets, seeds, adaptation)
    adaptation = resolve_adaptation(scenario, adaptation)
    torch_device = resolve_device(device)
    store = RunStore(root)
    store.remove_stale_staging()
    notify = progress or (lambda event: None)
    prepared = prepare_pool(store, scenario, device=torch_device, hparams=hparams, progress=notify,
                            adaptation=adaptation, scenario=built)  # fmt: skip
    grid = [(m, b, s) for b in budgets for m in methods for s in seeds]
    if executor != "local" or jobs > 1:
        return [run_id for run_id, _ in run_grid(
            grid, scenario=scenario, root=store.root, device=str(torch_device),
            adaptation=adaptation, hparams=hparams, built=built, executor=executor, jobs=jobs,
            address=address, notify=notify)]
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
