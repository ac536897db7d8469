"""The paper's Algorithm 1 as a reproducible engine.

scenario -> source model -> pool embeddings (stored once) -> selector -> adaptation -> records.
Each (scenario, method, budget, seed, adaptation mode, hyper-parameters) is one run, stored
under a hash of that full config; a finished run is reused, never recomputed.

Adaptation modes (``ADAPTATION_MODES``): ``full`` fine-tunes everything (the paper's setting);
``head`` trains only the last linear layer on backbone features computed once per source model
and cached in ``<root>/_features/`` (``core.nn.feature_cache``), and then evaluates from the same
cache. Pretrained-backbone scenarios always use their cached features for the source head and
the theta_0 quantities. A sweep's mode defaults to the scenario's (``ScenarioEntry.adaptation``).
"""

from __future__ import annotations

import contextlib
import platform
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import torch

from core import selection
from core.base.hparams import HParams
from core.base.progress import Progress, ignore
from core.base.validation import ForgeLensError
from core.nn.adaptation import adapt, adapt_head
from core.nn.feature_cache import cached_features, feature_id
from core.nn.models import (
    FeatureClassifier,
    embed,
    head_logits,
    per_sample_loss,
    per_sample_loss_from_features,
)
from core.nn.source_model import get_source_model
from core.records.gaps import pair_table, summary_table
from core.records.previews import write_previews
from core.records.theory import pool_full_tangent_norms, record_theory
from core.scenarios import SCENARIOS, Scenario, ScenarioEntry, scenario_entry
from core.selection.embeddings import PoolEmbedding
from core.selection.groups import group_counts, select_per_group
from core.storage.atomic import config_id
from core.storage.store import RUN_FORMAT_VERSION, RunStore
from core.tasks import task_of

__all__ = [
    "PreparedPool",
    "budget_count",
    "prepare_pool",
    "run_config",
    "run_one",
]


@dataclass(frozen=True)
class PreparedPool:
    """Everything about one scenario's target pool under its source model, computed once.

    Read-only once made: runs share it. ``features`` is set when the pool was prepared for
    ``head`` adaptation or has a pretrained backbone.
    """

    entry: ScenarioEntry
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


def run_config(
    scenario: str,
    method: str,
    budget: float,
    seed: int,
    hparams: HParams,
    adaptation: str = "full",
    scenario_params: dict[str, Any] | None = None,
    selector_params: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The full config that identifies a run (its hash is the run id). Device is not part of it.

    It holds the run format (``core.storage.store.RUN_FORMAT_VERSION``) and the selector's
    parameters
    (``get_params()``; None: the registered selector's defaults). ``scenario_params`` (builder
    parameters) is recorded only for a scenario built with non-default parameters (a slice), so
    its runs never share ids with the registered one's.
    """
    if selector_params is None:
        selector_params = selection.get_selector(method).get_params()
    config = {
        "format": RUN_FORMAT_VERSION,
        "scenario": scenario,
        "method": method,
        "selector_params": selector_params,
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
    top2 = (
        np.sort(logits.astype(np.float64), axis=1)[:, -2:]
        if logits.shape[1] > 1
        else np.zeros((len(p), 2))
    )
    pseudo = np.asarray(embedding.pseudo, dtype=np.int64)
    return pd.DataFrame(
        {
            "idx": np.arange(len(labels), dtype=np.int64),
            "label": labels.astype(np.int64),
            "pseudo": pseudo,
            "correct": pseudo == labels,
            "confidence": p.max(axis=1),
            "margin": top2[:, 1] - top2[:, 0],
            "entropy": -np.sum(p * np.log(np.clip(p, 1e-300, None)), axis=1),
            "znorm": np.asarray(embedding.znorm, dtype=np.float64),
            "anorm": np.linalg.norm(np.asarray(embedding.residual, dtype=np.float64), axis=1),
        }
    )


def _load_features(
    store: RunStore,
    scenario: Scenario,
    hp: HParams,
    model: FeatureClassifier,
    model_id: str | None,
    device: torch.device,
    notify: Progress,
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    if hp.pretrained and getattr(scenario, "base", ""):  # pairs: the base scenario's cache
        from core.tasks.reward import pair_features

        return pair_features(store.root, scenario, hp, device, notify)
    key = feature_id(scenario, hp, model_id)
    notify({"stage": "features", "message": f"backbone features of every split ({key})"})
    features, info = cached_features(
        store.root,
        key,
        model,
        scenario,
        device=device,
        batch_size=min(hp.eval_batch, 128),
        progress=notify,
    )
    word = "read from the cache" if info["cached"] else "computed and cached"
    notify(
        {
            "stage": "features",
            "seconds": info["seconds"],
            "cached": info["cached"],
            "message": f"features {word} in {info['seconds']:.1f} s",
        }
    )
    return features, info


def prepare_pool(
    store: RunStore,
    entry: ScenarioEntry | str,
    *,
    device: torch.device,
    hparams: HParams | None = None,
    progress: Progress | None = None,
    adaptation: str | None = None,
    built: Scenario | None = None,
) -> PreparedPool:
    """Load the scenario, get (train or load) its source model, store the pool embeddings once.

    ``entry`` is the scenario as ``store`` knows it (a name is looked up in ``store``: a
    built-in or a scenario file saved there). Backbone features are loaded or computed (and
    cached) first for a pretrained backbone, and after the source model for ``head``
    adaptation. ``built`` replaces the entry's default build by one made under the same name
    (a slice, e.g. in tests).
    """
    notify = progress or ignore
    start = time.perf_counter()
    if isinstance(entry, str):
        entry = scenario_entry(entry, store.root)
    notify({"stage": "scenario", "message": f"loading scenario {entry.name}"})
    if built is not None and built.name != entry.name:
        raise ForgeLensError(
            f"scenario={built.name!r} was given for {entry.name!r}; "
            "allowed: a scenario built under that name"
        )
    scenario = built or entry.load()
    hp = hparams or entry.hparams()
    mode = adaptation or entry.adaptation
    task = task_of(scenario)
    features, features_info = None, None
    if hp.pretrained:
        features, features_info = _load_features(
            store, scenario, hp, task.build_model(scenario, hp), None, device, notify
        )
    notify({"stage": "source model", "message": "training or loading the source model"})
    model, info = get_source_model(
        scenario,
        hp,
        cache_dir=store.models_dir,
        device=device,
        features=features,
        progress=notify,
        build=task.build_model,
    )
    if features is None and mode == "head":
        features, features_info = _load_features(
            store, scenario, hp, model, info["model_id"], device, notify
        )
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
    embedding = task.pool_embedding(z, logits, device=device)
    if not store.has_pool(pool_id):
        _write_pool(store, pool_id, scenario, hp, info, embedding, z, logits)
    losses, preds = _losses(model, scenario, features, device, hp.adapt_loss)
    if task.name == "classification":
        # a pool-level record (Theorem 4's full-network norm): computed here, once, so that
        # parallel workers load it instead of each computing it at their first run
        notify({"stage": "embed", "message": "full-network tangent norms of the pool"})
        pool_full_tangent_norms(store, pool_id, model, hp.arch, pool_split.x, device)
    return PreparedPool(
        entry,
        scenario,
        hp,
        model,
        info,
        pool_id,
        embedding,
        losses,
        preds,
        time.perf_counter() - start,
        features,
        features_info,
    )


def _write_pool(
    store: RunStore,
    pool_id: str,
    scenario: Scenario,
    hp: HParams,
    model_info: dict[str, Any],
    embedding: PoolEmbedding,
    z: np.ndarray,
    logits: np.ndarray,
) -> None:
    """Store the pool's embeddings and per-sample facts once (``runs/_pools/<pool_id>/``)."""
    pool_split = scenario.split("target_pool")
    meta = {
        "pool_id": pool_id,
        "scenario": scenario.name,
        "model_id": model_info["model_id"],
        "n": int(len(pool_split)),
        "n_classes": len(scenario.class_names),
        "class_names": list(scenario.class_names),
        "modality": scenario.modality,
        "task": scenario.task,
        "source_val_accuracy": model_info.get("source_val_accuracy"),
        "target_test_accuracy": model_info.get("target_test_accuracy"),
        "scenario_summary": scenario.summary(),
        "hparams": asdict(hp),
    }
    frame = _pool_frame(embedding, pool_split.y, logits)
    if scenario.domain_column("target_pool") is not None:
        frame["domain"] = scenario.domain_column("target_pool")
    store.write_pool(pool_id, meta, frame, z, logits)
    write_previews(store, pool_id, scenario)  # the dashboard shows samples from these


def _losses(
    model: FeatureClassifier,
    scenario: Scenario,
    features: dict[str, np.ndarray] | None,
    device: torch.device,
    loss: str = "ce",
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Per-sample ``loss`` (hp.adapt_loss, true labels) and predictions on pool / val / test,
    from cached features when given (the head alone), else through the whole model."""
    losses, preds = {}, {}
    for split in ("target_pool", "target_val", "target_test"):
        if features is not None:
            losses[split], preds[split] = per_sample_loss_from_features(
                model, features[split], scenario.split(split).y, device=device, loss=loss
            )
        else:
            losses[split], preds[split] = per_sample_loss(
                model, scenario.split(split), device=device, loss=loss
            )
    return losses, preds


def _accuracy_rows(
    stage: str,
    selected_mask: np.ndarray,
    loss: dict[str, np.ndarray],
    pred: dict[str, np.ndarray],
    labels: dict[str, np.ndarray],
) -> list[dict[str, Any]]:
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
        rows.append(
            {
                "split": name,
                "stage": stage,
                "n": n,
                "accuracy": float(correct.mean()) if n else float("nan"),
                "loss": float(loss[split][keep].mean()) if n else float("nan"),
            }
        )
    return rows


def run_one(
    store: RunStore,
    prepared: PreparedPool,
    method: str,
    budget: float,
    seed: int,
    *,
    device: torch.device,
    adaptation: str | None = None,
    progress: Progress | None = None,
) -> tuple[str, bool]:
    """Run (or reuse) one selection + adaptation + records. Returns (run_id, reused).

    Arguments are trusted (validated by ``run_sweep`` or the CLI). ``adaptation``: "full" or
    "head" (None: the scenario's default), recorded in the run config; "head" needs a pool
    prepared with cached features.
    """
    notify = progress or ignore
    scenario = prepared.scenario
    adaptation = adaptation or prepared.entry.adaptation
    selector = selection.get_selector(method)
    config = run_config(
        scenario.name,
        method,
        budget,
        seed,
        prepared.hparams,
        adaptation,
        non_default_params(scenario),
        selector.get_params(),
    )
    config.update(selection.plugin_config(method))  # plugin selectors: import path + params
    run_id = config_id(config)
    if store.is_finished(run_id):
        return run_id, True

    def tell(event: dict[str, Any]) -> None:
        notify({**event, "message": f"{method}: {event.get('message', '')}"})

    timings: dict[str, float] = {}
    with _timed(timings, "total"):
        with _timed(timings, "select"):
            selected = _select(prepared, selector, budget, seed, tell)
        with _timed(timings, "adapt"):
            adapted, adapt_info = _adapt(prepared, selected, adaptation, seed, device, tell)
        with _timed(timings, "records"):
            tables = _records(store, prepared, adapted, selected, adaptation, device, tell)
    info = _run_info(run_id, config, prepared, device, timings, adapt_info, len(selected))
    store.write_run(run_id, info, tables)
    return run_id, False


@contextlib.contextmanager
def _timed(timings: dict[str, float], stage: str) -> Iterator[None]:
    """Record the seconds the block takes as ``timings[stage]``."""
    tick = time.perf_counter()
    yield
    timings[stage] = time.perf_counter() - tick


def _select(
    prepared: PreparedPool, selector: selection.Selector, budget: float, seed: int, notify: Progress
) -> np.ndarray:
    """Step 1: the selector's picks, ``budget_count`` of the pool, in selection order."""
    pool = prepared.embedding
    groups = prepared.scenario.pool_domains()  # several target domains: a budget for each
    if groups is not None:
        k = sum(group_counts(budget, groups).values())
        notify({"stage": "select", "message": f"selecting {k} of {pool.n}, per target domain"})
        return select_per_group(selector, pool, budget, groups, seed=seed)
    k = budget_count(budget, pool.n)
    notify({"stage": "select", "message": f"selecting {k} of {pool.n}"})
    return selector.select(pool, k, seed=seed)


def _adapt(
    prepared: PreparedPool,
    selected: np.ndarray,
    adaptation: str,
    seed: int,
    device: torch.device,
    notify: Progress,
) -> tuple[FeatureClassifier, dict[str, Any]]:
    """Step 2: a copy of the source model adapted on the selection (``adaptation`` mode)."""
    scenario, hp, k = prepared.scenario, prepared.hparams, len(selected)
    what = "the head" if adaptation == "head" else "everything"
    notify({"stage": "adapt", "message": f"training {what} on {k} labels + source"})
    if adaptation == "full":
        return adapt(
            prepared.model, scenario, selected, hp, seed=seed, device=device, progress=notify
        )
    if prepared.features is None:
        raise ForgeLensError(
            "adaptation='head' needs a pool prepared with cached features; "
            "allowed: prepare_pool(..., adaptation='head')"
        )
    return adapt_head(
        prepared.model, prepared.features, scenario, selected, hp, seed=seed, device=device
    )


def _records(
    store: RunStore,
    prepared: PreparedPool,
    adapted: FeatureClassifier,
    selected: np.ndarray,
    adaptation: str,
    device: torch.device,
    notify: Progress,
) -> dict[str, pd.DataFrame]:
    """Step 3: the run's tables (selection, accuracy, samples, pairs, summary)."""
    notify({"stage": "records", "message": "losses, accuracies and gap pairs"})
    scenario, pool, k = prepared.scenario, prepared.embedding, len(selected)
    features = prepared.features if adaptation == "head" else None
    loss_after, pred_after = _losses(
        adapted, scenario, features, device, prepared.hparams.adapt_loss
    )
    labels = {s: scenario.split(s).y for s in ("target_pool", "target_val", "target_test")}
    mask = np.zeros(pool.n, dtype=bool)
    mask[selected] = True
    accuracy = pd.DataFrame(
        _accuracy_rows("before", mask, prepared.loss_before, prepared.pred_before, labels)
        + _accuracy_rows("after", mask, loss_after, pred_after, labels)
    )
    before, after = prepared.loss_before["target_pool"], loss_after["target_pool"]
    order = np.full(pool.n, -1, dtype=np.int64)
    order[selected] = np.arange(k)
    samples = pd.DataFrame(
        {
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
        }
    )
    pairs = pair_table(pool, selected, labels["target_pool"], before, after)
    domain = scenario.domain_column("target_pool")
    if domain is not None:  # folder / file scenarios: each sample's target domain
        samples["domain"] = domain
        pairs["domain"], pairs["nn_domain"] = domain[pairs["idx"]], domain[pairs["nn_idx"]]
    if task_of(scenario).name == "classification":  # Theorem 4 is stated for a class head
        pairs, samples = record_theory(store, prepared, adapted, pairs, samples, device=device)
    return {
        "selection": pd.DataFrame({"idx": selected.astype(np.int64), "order": np.arange(k)}),
        "accuracy": accuracy,
        "samples": samples,
        "pairs": pairs,
        "summary": summary_table(pairs, selected, before - after),
    }


def _run_info(
    run_id: str,
    config: dict[str, Any],
    prepared: PreparedPool,
    device: torch.device,
    timings: dict[str, float],
    adapt_info: dict[str, Any],
    k: int,
) -> dict[str, Any]:
    """Step 4's config.json: the config plus what the run used and measured."""
    return {
        "run_id": run_id,
        "config": config,
        "budget_count": k,
        "pool_id": prepared.pool_id,
        "model_id": prepared.model_info["model_id"],
        "source_model": {
            key: value
            for key, value in prepared.model_info.items()
            if isinstance(value, int | float | str)
        },
        "device": str(device),
        "versions": _versions(),
        "timings": timings,
        "iterations": adapt_info.get("iterations"),
        "param_distance": adapt_info.get("param_distance"),
        "adaptation_info": adapt_info,
        "features": prepared.features_info,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
