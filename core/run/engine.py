"""The paper's Algorithm 1 as a reproducible engine, one for every task.

scenario -> source model -> pool embeddings (stored once) -> selector -> adaptation -> records.
Each (scenario, method, budget, seed, adaptation mode, hyper-parameters) is one run, stored
under a hash of that full config; a finished run is reused, never recomputed. What differs
between tasks (classification, reward pairs, span QA: the model, the pool's arrays, evaluation,
adaptation, task-only record columns) the scenario's task supplies (``core.tasks.adapter``).

Adaptation modes (``ADAPTATION_MODES``): ``full`` fine-tunes everything (the paper's setting);
``head`` trains only the last linear layer. For models of ``core.nn.models`` it trains on backbone
features computed once per source model and cached in ``<root>/_features/``
(``core.nn.feature_cache``), and then evaluates from the same cache. Pretrained-backbone
scenarios always use their cached features for the source head and the theta_0 quantities. A
sweep's mode defaults to the scenario's (``ScenarioEntry.adaptation``).
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import platform
import time
from collections.abc import Iterator
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import torch

from core import selection
from core.base.hparams import HParams
from core.base.progress import Progress, ignore
from core.base.validation import ForgeLensError
from core.nn.adaptation import AdaptationDiverged
from core.records.gaps import pair_table, summary_table
from core.records.previews import write_previews
from core.scenarios import SCENARIOS, Scenario, ScenarioEntry, scenario_entry
from core.selection.embeddings import PoolEmbedding
from core.selection.groups import group_counts, select_per_group
from core.storage.atomic import config_id
from core.storage.store import RUN_FORMAT_VERSION, RunStore
from core.tasks import Task, task_of
from core.tasks.adapter import Evaluation, PreparedPool, Source

__all__ = [
    "PreparedPool",
    "budget_count",
    "prepare_pool",
    "run_config",
    "run_one",
]


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
    if hparams.adapt_step_rule() is not None:  # a step not simply adapt_lr (MSE with SGD)
        config["adapt_step"] = hparams.adapt_step_rule()
    if hparams.source_loss() != "ce":  # an MSE-trained source model (HParams.source_loss)
        config["source_loss"] = hparams.source_loss()
    return config


def non_default_params(scenario: Scenario) -> dict[str, Any] | None:
    """The scenario's builder parameters if they differ from its registered defaults, else None."""
    defaults = SCENARIOS[scenario.name]().get_params() if scenario.name in SCENARIOS else None
    return None if scenario.params == defaults else dict(scenario.params)


def _versions() -> dict[str, str]:
    import pyarrow

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "pandas": pd.__version__,
        # its installed version, without importing it (1 s of a sweep that never uses it)
        "scikit-learn": importlib.metadata.version("scikit-learn"),
        "pyarrow": pyarrow.__version__,
    }


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
    built-in or a scenario file saved there). The scenario's task supplies the source model,
    the pool arrays and the evaluation (``core.tasks.adapter``). ``built`` replaces the entry's
    default build by one made under the same name (a slice, e.g. in tests).
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
    adapter = task.adapter()
    source = adapter.source(store, scenario, hp, adaptation=mode, device=device, notify=notify)
    notify({"stage": "embed", "message": "embedding the target pool"})
    # the task's config fields (e.g. span QA's embedding version) decide its pool arrays too
    pool_key = {"scenario": scenario.summary(), "model_id": source.info["model_id"]}
    pool_id = config_id({**pool_key, **adapter.config_fields})
    stored = store.has_pool(pool_id)
    if stored:  # prepared once (maybe by another worker): shared via the store
        z, logits = store.load_embeddings(pool_id)
    else:
        z, logits = adapter.pool_arrays(source, scenario, hp, device=device)
    embedding = task.pool_embedding(z, logits, device=device)
    before = adapter.evaluate(source.model, scenario, hp, features=source.features, device=device)
    if not stored:
        _write_pool(store, pool_id, scenario, hp, task, source, embedding, z, logits, before)
    prepared = PreparedPool(
        entry=entry,
        scenario=scenario,
        hparams=hp,
        model=source.model,
        model_info=source.info,
        pool_id=pool_id,
        embedding=embedding,
        before=before,
        seconds=time.perf_counter() - start,
        features=source.features,
        features_info=source.features_info,
    )
    return prepared


def _write_pool(
    store: RunStore,
    pool_id: str,
    scenario: Scenario,
    hp: HParams,
    task: Task,
    source: Source,
    embedding: PoolEmbedding,
    z: np.ndarray,
    logits: np.ndarray,
    before: dict[str, Evaluation],
) -> None:
    """Store the pool's embeddings and per-sample facts once (``runs/_pools/<pool_id>/``)."""
    adapter = task.adapter()
    labels = scenario.split("target_pool").y
    meta = {
        "pool_id": pool_id,
        "scenario": scenario.name,
        "model_id": source.info["model_id"],
        "n": int(len(labels)),
        "n_classes": len(scenario.class_names),
        "class_names": list(scenario.class_names),
        "modality": scenario.modality,
        "task": scenario.task,
        **adapter.pool_accuracies(source, before),
        "scenario_summary": scenario.summary(),
        "hparams": asdict(hp),
    }
    frame = adapter.pool_table(embedding, logits, labels, before)
    if scenario.domain_column("target_pool") is not None:
        frame["domain"] = scenario.domain_column("target_pool")
    store.write_pool(pool_id, meta, frame, z, logits)
    if task.previews:
        write_previews(store, pool_id, scenario)  # the dashboard shows samples from these


def _accuracy_rows(
    stage: str, selected_mask: np.ndarray, results: dict[str, Evaluation]
) -> list[dict[str, Any]]:
    """Table 1's decomposition: selected train, unselected train, validation, test; the task's
    score (``accuracy``), loss and any further metrics (``Evaluation.metrics``) of each."""
    parts = {
        "selected_train": ("target_pool", selected_mask),
        "unselected_train": ("target_pool", ~selected_mask),
        "val": ("target_val", None),
        "test": ("target_test", None),
    }
    rows = []
    for name, (split, mask) in parts.items():
        result = results[split]
        keep = np.ones(len(result.score), dtype=bool) if mask is None else mask
        n = int(keep.sum())
        columns = {"accuracy": result.score, "loss": result.loss, **result.metrics}
        rows.append(
            {
                "split": name,
                "stage": stage,
                "n": n,
                **{
                    column: float(values[keep].mean()) if n else float("nan")
                    for column, values in columns.items()
                },
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
    config.update(task_of(scenario).adapter().config_fields)  # e.g. QA runs name their task
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
            try:
                adapted, adapt_info = _adapt(prepared, selected, adaptation, seed, device, tell)
            except AdaptationDiverged as error:  # name the run; nothing of it is stored
                raise AdaptationDiverged(
                    f"run {method} budget={budget:g} seed={seed} on {scenario.name} "
                    f"({adaptation} adaptation, run id {run_id}): {error}; nothing of this "
                    "run was stored, finished runs are kept"
                ) from None
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
) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Step 2: a copy of the source model adapted on the selection (``adaptation`` mode), as
    the scenario's task adapts."""
    what = "the head" if adaptation == "head" else "everything"
    notify({"stage": "adapt", "message": f"training {what} on {len(selected)} labels + source"})
    return (
        task_of(prepared.scenario)
        .adapter()
        .adapt(prepared, selected, adaptation, seed=seed, device=device, notify=notify)
    )


def _records(
    store: RunStore,
    prepared: PreparedPool,
    adapted: torch.nn.Module,
    selected: np.ndarray,
    adaptation: str,
    device: torch.device,
    notify: Progress,
) -> dict[str, pd.DataFrame]:
    """Step 3: the run's tables (selection, accuracy, samples, pairs, summary)."""
    notify({"stage": "records", "message": "losses, accuracies and gap pairs"})
    scenario, pool, k = prepared.scenario, prepared.embedding, len(selected)
    adapter = task_of(scenario).adapter()
    features = prepared.features if adaptation == "head" else None
    after = adapter.evaluate(adapted, scenario, prepared.hparams, features=features, device=device)
    labels = scenario.split("target_pool").y
    mask = np.zeros(pool.n, dtype=bool)
    mask[selected] = True
    accuracy = pd.DataFrame(
        _accuracy_rows("before", mask, prepared.before) + _accuracy_rows("after", mask, after)
    )
    loss_before = prepared.before["target_pool"].loss
    loss_after = after["target_pool"].loss
    order = np.full(pool.n, -1, dtype=np.int64)
    order[selected] = np.arange(k)
    samples = pd.DataFrame(
        {
            "idx": np.arange(pool.n, dtype=np.int64),
            "label": labels,
            "pseudo": np.asarray(pool.pseudo, dtype=np.int64),
            "selected": mask,
            "order": order,
            "loss_before": loss_before,
            "loss_after": loss_after,
            "r": loss_before - loss_after,
            "pred_after": after["target_pool"].pred,
            "znorm": np.asarray(pool.znorm, dtype=np.float64),
        }
    )
    pairs = pair_table(pool, selected, labels, loss_before, loss_after)
    domain = scenario.domain_column("target_pool")
    if domain is not None:  # folder / file scenarios: each sample's target domain
        samples["domain"] = domain
        pairs["domain"], pairs["nn_domain"] = domain[pairs["idx"]], domain[pairs["nn_idx"]]
    pairs, samples = adapter.record_columns(
        store, prepared, adapted, after, pairs, samples, device=device
    )
    return {
        "selection": pd.DataFrame({"idx": selected.astype(np.int64), "order": np.arange(k)}),
        "accuracy": accuracy,
        "samples": samples,
        "pairs": pairs,
        "summary": summary_table(pairs, selected, loss_before - loss_after),
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
