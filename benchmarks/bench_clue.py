"""CLUE's weighted k-means: the torch Lloyd loop (core.selection.clue) against scikit-learn's
``KMeans(sample_weight=...)`` from the same k-means++ seeds, one run each, equal settings
(lloyd, max_iter=100, tol=1e-4, n_init=1), and their weighted objectives.

    python benchmarks/bench_clue.py [--n 20000 --d 512 --k 500 --device auto]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from core.selection.clue import (  # noqa: E402
    MAX_ITER,
    TOL,
    sklearn_weighted_kmeans,
    torch_weighted_kmeans,
)
from core.selection.embeddings import PoolEmbedding  # noqa: E402
from core.selection.uncertainty import predictive_entropy  # noqa: E402


def make_pool(n: int, d: int, c: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Clustered ReLU-like features (k-means has structure to find) and logits."""
    rng = np.random.default_rng(seed)
    centres = np.abs(rng.standard_normal((64, d), dtype=np.float32)) * 2
    label = rng.integers(64, size=n)
    z = centres[label] + np.abs(rng.standard_normal((n, d), dtype=np.float32))
    logits = rng.standard_normal((64, c), dtype=np.float32)[label] * 3 + rng.standard_normal(
        (n, c), dtype=np.float32
    )
    return z, logits


def objective(z: np.ndarray, w: np.ndarray, centroids: np.ndarray, labels: np.ndarray) -> float:
    """sum_i w_i |z_i - c_label(i)|^2 in float64, by explicit differences (no expansion)."""
    total = 0.0
    for r0 in range(0, len(z), 4096):
        diff = z[r0 : r0 + 4096].astype(np.float64) - centroids[labels[r0 : r0 + 4096]]
        total += float(w[r0 : r0 + 4096] @ np.einsum("ij,ij->i", diff, diff))
    return total


def compare(n: int, d: int, k: int, device: str, seed: int = 0, c: int = 10) -> list[dict]:
    z, logits = make_pool(n, d, c, seed)
    w = predictive_entropy(logits)
    rows = []
    runs = [("torch", device)] + ([("sklearn", "cpu")])
    for name, where in runs:
        pool = PoolEmbedding.from_arrays(z, logits, device=where)
        if where.startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        fit = torch_weighted_kmeans if name == "torch" else sklearn_weighted_kmeans
        centroids, labels, iterations = fit(pool, k, w, seed=seed, max_iter=MAX_ITER, tol=TOL)
        if where.startswith("cuda"):
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
        cent = centroids.to(torch.float64).cpu().numpy() / pool.scale + pool.mean / pool.scale
        rows.append(
            {
                "impl": name,
                "device": where,
                "seconds": seconds,
                "iterations": iterations,
                "objective": objective(z, w, cent, labels.cpu().numpy()),
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--d", type=int, default=512)
    parser.add_argument("--k", type=int, default=500)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    device = (
        ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    )
    print(
        f"CLUE weighted k-means, N={args.n} D={args.d} K={args.k}; torch "
        f"{torch.get_num_threads()} threads, load average {os.getloadavg()[0]:.1f}"
    )
    rows = compare(args.n, args.d, args.k, device)
    best = min(r["objective"] for r in rows)
    for r in rows:
        print(
            f"  {r['impl']:8} on {r['device']:5}: {r['seconds']:7.2f} s, {r['iterations']:3d} "
            f"iterations, objective {r['objective']:.6g} ({r['objective'] / best - 1:+.2%} "
            "vs the better)"
        )
    print(f"load average now {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
