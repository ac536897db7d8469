"""A run store of any pool size written straight through ``core.storage.store`` (no training).

For timing the dashboard on pools larger than the debug scenario's (``bench_render.py``, and
the large-store page test): every table follows the run-store schema of the current run format,
with random but consistent values (pairs point at selected samples, gap = |r - nn_r|,
gamma = max of the two norms).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from core.base.splits import ACCURACY_SPLITS
from core.records.gaps import pair_table, summary_table
from core.records.theory import theorem_terms
from core.selection import SPACES
from core.storage.atomic import write_parquet_atomic
from core.storage.store import RUN_FORMAT_VERSION, RunStore


class _Space:
    """Nearest selected sample by Euclidean distance in a random low-dimensional space."""

    def __init__(self, points: np.ndarray) -> None:
        self.points = points

    def nearest(self, centres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        position = np.empty(len(self.points), dtype=np.int64)
        distance = np.empty(len(self.points))
        chosen = self.points[centres]
        for start in range(0, len(self.points), 1024):
            block = self.points[start : start + 1024]
            d = np.linalg.norm(block[:, None, :] - chosen[None], axis=-1)
            position[start : start + 1024] = d.argmin(axis=1)
            distance[start : start + 1024] = d.min(axis=1)
        return position, distance


class _Pool:
    def __init__(self, n: int, rng: np.random.Generator) -> None:
        self.n = n
        self.znorm = rng.uniform(1.0, 6.0, n)
        self.pseudo = rng.integers(0, 10, n)
        self.spaces = {s: _Space(rng.normal(size=(n, 4))) for s in SPACES}

    def space(self, name: str) -> _Space:
        return self.spaces[name]


def write_synthetic_store(
    root: Path,
    *,
    n: int = 5000,
    scenario: str = "synthetic",
    methods: tuple[str, ...] = ("random", "coreset", "badge", "forge"),
    budgets: tuple[float, ...] = (0.05, 0.1),
    seeds: tuple[int, ...] = (0, 1, 2),
    adaptations: tuple[str, ...] = ("full",),
    domains: tuple[str, ...] = (),
) -> RunStore:
    """Runs of every (method, budget, seed, adaptation); ``domains`` (a folder scenario's target
    domains) gives every sample a domain, round robin, in the pool, sample and pair tables."""
    rng = np.random.default_rng(0)
    store = RunStore(root)
    pool = _Pool(n, rng)
    labels = rng.integers(0, 10, n)
    pool_id = "synthetic-pool"
    frame = pd.DataFrame(
        {
            "idx": np.arange(n),
            "label": labels,
            "pseudo": pool.pseudo,
            "correct": labels == pool.pseudo,
            "confidence": rng.random(n),
            "margin": rng.random(n),
            "entropy": rng.random(n),
            "znorm": pool.znorm,
            "anorm": rng.random(n),
        }
    )
    domain = (
        np.array([domains[i % len(domains)] for i in range(n)], dtype=object) if domains else None
    )
    if domain is not None:
        frame["domain"] = domain
    meta = {
        "pool_id": pool_id,
        "scenario": scenario,
        "model_id": "m",
        "n": n,
        "n_classes": 10,
        "class_names": [str(c) for c in range(10)],
    }
    z = rng.normal(size=(n, 8)).astype(np.float32)
    logits = rng.normal(size=(n, 10)).astype(np.float32)
    store.write_pool(pool_id, meta, frame, z, logits)
    for space in ("z", "badge", "forge"):
        write_parquet_atomic(
            store.pool_dir(pool_id) / f"umap_{space}.parquet",
            pd.DataFrame({"idx": np.arange(n), "x": rng.normal(size=n), "y": rng.normal(size=n)}),
        )
    before = rng.exponential(1.0, n)
    grid = [(m, b, s, a) for m in methods for b in budgets for s in seeds for a in adaptations]
    for method, budget, seed, adaptation in grid:
        k = round(budget * n)
        selected = rng.choice(n, k, replace=False)
        after = before * rng.uniform(0.1, 1.0, n)
        mask = np.zeros(n, dtype=bool)
        mask[selected] = True
        pairs = pair_table(pool, selected, labels, before, after)
        pairs = theorem_terms(
            pairs, z.astype(np.float64), logits, labels, "ce", dtheta=float(rng.uniform(0.5, 2.0))
        )  # the Theory page's columns
        if domain is not None:
            pairs["domain"], pairs["nn_domain"] = domain[pairs["idx"]], domain[pairs["nn_idx"]]
        accuracy = pd.DataFrame(
            [
                {"split": s, "stage": st, "accuracy": rng.random(), "loss": rng.random(), "n": 100}
                for s in ACCURACY_SPLITS
                for st in ("before", "after")
            ]
        )
        order = np.full(n, -1)
        order[selected] = np.arange(k)
        samples = pd.DataFrame(
            {
                "idx": np.arange(n),
                "label": labels,
                "pseudo": pool.pseudo,
                "selected": mask,
                "order": order,
                "loss_before": before,
                "loss_after": after,
                "r": before - after,
                "pred_after": pool.pseudo,
                "znorm": pool.znorm,
                # a full-network norm that ranks like |z|, up to noise
                "tangent_norm_full": pool.znorm * rng.uniform(2.0, 3.0, n),
            }
        )
        if domain is not None:
            samples["domain"] = domain
        config = {
            "format": RUN_FORMAT_VERSION,
            "selector_params": {},
            "scenario": scenario,
            "method": method,
            "budget": budget,
            "seed": seed,
            "adaptation": adaptation,
            "hparams": {},
        }
        run_id = f"{method}-{budget:g}-{seed}-{adaptation}"
        store.write_run(
            run_id,
            {
                "run_id": run_id,
                "config": config,
                "budget_count": k,
                "pool_id": pool_id,
                "timings": {"total": 1.0},
                "created": "2025-01-01T00:00:00+00:00",
                "device": "cpu",
            },
            {
                "selection": pd.DataFrame({"idx": selected, "order": np.arange(k)}),
                "accuracy": accuracy,
                "samples": samples,
                "pairs": pairs,
                "summary": summary_table(pairs, selected, before - after),
            },
        )
    return store
