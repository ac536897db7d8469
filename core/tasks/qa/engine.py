"""The span-QA sweep: the paper's Algorithm 1 for a local QA model on SQuAD-layout files.

The source model is the given ``AutoModelForQuestionAnswering`` as it is (the paper starts from
a DistilBERT already fine-tuned on SQuAD). One pass over the target pool gives the embeddings
of ``core.tasks.qa.embeddings`` (stored once per pool, N x 5D); a selector picks k questions;
adaptation fine-tunes a copy on them (``core.tasks.qa.adaptation``). Records are
those of every task: loss = mean of the start and end cross-entropies with the true span, r, gaps
of nearest selected neighbours per space (``core.records.gaps``), written in the common run layout;
the ``accuracy`` column is exact match and an ``f1`` column is added.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from core import selection
from core.base.device import resolve_device
from core.base.hparams import HParams, hparams_for
from core.base.validation import ForgeLensError, check_choice, check_fraction
from core.nn.adaptation import ADAPTATION_MODES
from core.nn.qa_model import (
    load_qa_model,
)
from core.records.gaps import pair_table, summary_table
from core.scenarios.squad_files import QAScenario
from core.storage.atomic import config_id
from core.storage.store import RUN_FORMAT_VERSION, RunStore
from core.tasks import get_task
from core.tasks.qa.adaptation import adapt_qa
from core.tasks.qa.embeddings import pool_arrays
from core.tasks.qa.evaluation import evaluate, model_identity

Progress = Callable[[dict[str, Any]], None]
EVAL_SPLITS = ("target_pool", "target_val", "target_test")


def _accuracy_rows(
    stage: str, mask: np.ndarray, results: dict[str, dict[str, np.ndarray]]
) -> list[dict[str, Any]]:
    parts = {
        "selected_train": ("target_pool", mask),
        "unselected_train": ("target_pool", ~mask),
        "val": ("target_val", None),
        "test": ("target_test", None),
    }
    rows = []
    for name, (split, keep) in parts.items():
        res = results[split]
        keep = np.ones(len(res["em"]), dtype=bool) if keep is None else keep
        n = int(keep.sum())
        rows.append(
            {
                "split": name,
                "stage": stage,
                "n": n,
                "accuracy": float(res["em"][keep].mean()) if n else float("nan"),
                "loss": float(res["loss"][keep].mean()) if n else float("nan"),
                "f1": float(res["f1"][keep].mean()) if n else float("nan"),
            }
        )
    return rows


def _pool_frame(pool: Any, labels: np.ndarray, em: np.ndarray) -> pd.DataFrame:
    p = np.asarray(pool.probs, dtype=np.float64)
    return pd.DataFrame(
        {
            "idx": np.arange(pool.n, dtype=np.int64),
            "label": labels.astype(np.int64),
            "pseudo": np.asarray(pool.pseudo, dtype=np.int64),
            "correct": em > 0.5,
            "confidence": p[:, 0],
            "margin": np.abs(pool.logits[:, 0] - pool.logits[:, 1]),
            "entropy": -np.sum(p * np.log(np.clip(p, 1e-300, None)), axis=1),
            "znorm": np.asarray(pool.znorm, dtype=np.float64),
            "anorm": np.linalg.norm(np.asarray(pool.residual, dtype=np.float64), axis=1),
        }
    )


def run_qa_sweep(
    scenario: QAScenario,
    methods: Sequence[str],
    budgets: Sequence[float],
    seeds: Sequence[int],
    *,
    root: str | None = None,
    device: str = "auto",
    adaptation: str | None = None,
    progress: Progress | None = None,
    hparams: HParams | None = None,
) -> list[str]:
    """Run every (method, budget, seed) on a built ``squad-files`` scenario; returns run ids."""
    if getattr(scenario, "task", "") != "qa":
        raise ForgeLensError(f"scenario {scenario.name!r} is not a span-QA scenario")
    task = get_task("qa")
    for method in methods:
        check_choice("method", method, task.selectors)
    budgets = [check_fraction("budget", b) for b in budgets]
    mode = check_choice("adaptation", adaptation or "full", ADAPTATION_MODES)
    hp = hparams or hparams_for(scenario.name)
    notify = progress or (lambda event: None)
    torch_device = resolve_device(device)
    store = RunStore(root)
    notify({"stage": "source model", "message": f"loading the QA model {scenario.model_dir}"})
    model = load_qa_model(scenario.model_dir)
    model_id = model_identity(scenario.model_dir)
    notify({"stage": "embed", "message": "embedding the target pool (one forward pass)"})
    tick = time.perf_counter()
    before = {
        split: evaluate(
            model,
            scenario,
            split,
            device=torch_device,
            batch_size=hp.eval_batch,
            embed=split == "target_pool",
        )
        for split in EVAL_SPLITS
    }
    z, logits = pool_arrays(before["target_pool"])
    pool = task.pool_embedding(z, logits, device=torch_device)
    pool_id = config_id({"scenario": scenario.summary(), "model_id": model_id})
    labels = scenario.target_pool.y
    if not store.has_pool(pool_id):
        meta = {
            "pool_id": pool_id,
            "scenario": scenario.name,
            "model_id": model_id,
            "n": pool.n,
            "n_classes": 0,
            "class_names": [],
            "modality": "text",
            "task": "qa",
            "scenario_summary": scenario.summary(),
            "hparams": asdict(hp),
            "target_test_accuracy": float(before["target_test"]["em"].mean()),
        }
        store.write_pool(
            pool_id, meta, _pool_frame(pool, labels, before["target_pool"]["em"]), z, logits
        )
    prepare_seconds = time.perf_counter() - tick
    run_ids = []
    grid = [(m, b, s) for b in budgets for m in methods for s in seeds]
    for index, (method, budget, seed) in enumerate(grid):
        config = {
            "format": RUN_FORMAT_VERSION,
            "scenario": scenario.name,
            "method": method,
            "selector_params": selection.get_selector(method).get_params(),
            "budget": float(budget),
            "seed": int(seed),
            "adaptation": mode,
            "hparams": asdict(hp),
            "scenario_params": dict(scenario.params),
            "task": "qa",
        }
        run_id = config_id(config)
        run_ids.append(run_id)
        event = {
            "run_index": index,
            "n_runs": len(grid),
            "method": method,
            "budget": budget,
            "seed": seed,
        }
        if store.is_finished(run_id):
            notify(
                {
                    **event,
                    "stage": "done",
                    "run_id": run_id,
                    "reused": True,
                    "message": f"{method} {budget:g} seed {seed}: reused",
                }
            )
            continue
        k = int(min(pool.n, max(1, round(budget * pool.n))))
        timings: dict[str, float] = {}
        start = time.perf_counter()
        notify({**event, "stage": "select", "message": f"{method}: selecting {k} of {pool.n}"})
        selected = selection.select_from_pool(method, pool, k, seed=seed)
        timings["select"] = time.perf_counter() - start
        notify({**event, "stage": "adapt", "message": f"{method}: {mode} adaptation on {k}"})
        tick = time.perf_counter()
        adapted, info = adapt_qa(
            model, scenario, selected, hp, seed=seed, device=torch_device, mode=mode
        )
        timings["adapt"] = time.perf_counter() - tick
        tick = time.perf_counter()
        after = {
            split: evaluate(adapted, scenario, split, device=torch_device, batch_size=hp.eval_batch)
            for split in EVAL_SPLITS
        }
        mask = np.zeros(pool.n, dtype=bool)
        mask[selected] = True
        order = np.full(pool.n, -1, dtype=np.int64)
        order[selected] = np.arange(k)
        loss_before, loss_after = before["target_pool"]["loss"], after["target_pool"]["loss"]
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
                "pred_after": after["target_pool"]["pred"][:, 0].astype(np.int64),
                "znorm": np.asarray(pool.znorm, dtype=np.float64),
                "em_before": before["target_pool"]["em"],
                "em_after": after["target_pool"]["em"],
            }
        )
        pairs = pair_table(pool, selected, labels, loss_before, loss_after)
        summary = summary_table(pairs, selected, loss_before - loss_after)
        timings["records"] = time.perf_counter() - tick
        timings["total"] = time.perf_counter() - start
        accuracy = pd.DataFrame(
            _accuracy_rows("before", mask, before) + _accuracy_rows("after", mask, after)
        )
        record = {
            "run_id": run_id,
            "config": config,
            "budget_count": k,
            "pool_id": pool_id,
            "model_id": model_id,
            "device": str(torch_device),
            "timings": timings,
            "prepare_seconds": prepare_seconds,
            "iterations": info["iterations"],
            "param_distance": info["param_distance"],
            "adaptation_info": info,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        tables = {
            "selection": pd.DataFrame({"idx": selected.astype(np.int64), "order": np.arange(k)}),
            "accuracy": accuracy,
            "samples": samples,
            "pairs": pairs,
            "summary": summary,
        }
        store.write_run(run_id, record, tables)
        notify(
            {
                **event,
                "stage": "done",
                "run_id": run_id,
                "reused": False,
                "message": f"{method} {budget:g} seed {seed}: done",
            }
        )
    return run_ids
