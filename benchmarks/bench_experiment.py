"""Wall time of the default experiment (48 runs) with its source model cached, and the split.

    python benchmarks/bench_experiment.py [--store runs/_bench] [--jobs 1]

The source model (and the scenario's feature cache) is trained once into ``--store`` (not
timed); the timed sweep runs into a fresh store holding only that cache, so all 48 runs are
computed: 8 selectors x 2 budgets x 3 seeds on the default scenario, as ``make sweep`` does
(without its UMAP precomputation). Prints the wall time, the time to prepare the pool, and the
per-stage split (select / adapt / records) per selector, summed from the runs' own timings.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402

from core.nn.feature_cache import FEATURES  # noqa: E402
from core.run.engine import prepare_pool  # noqa: E402
from core.run.sweep import run_sweep  # noqa: E402
from core.scenarios import DEFAULT_SCENARIO  # noqa: E402
from core.storage.store import MODELS, RunStore  # noqa: E402

METHODS = ("random", "margin", "entropy", "duc", "coreset", "badge", "clue", "forge")
BUDGETS = (0.05, 0.1)
SEEDS = (0, 1, 2)
TARGET_SECONDS = 120.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--store",
        default=str(ROOT / "runs" / "_bench"),
        help="where the source model is cached between benchmark runs",
    )
    parser.add_argument("--jobs", type=int, default=1, help="local worker processes")
    parser.add_argument("--scenario", default=DEFAULT_SCENARIO)
    args = parser.parse_args()
    import torch

    cache = RunStore(args.store)
    start = time.perf_counter()
    prepare_pool(cache, args.scenario, device=torch.device("cpu"))
    print(
        f"source model and pool cached in {cache.root} ({time.perf_counter() - start:.1f} s, "
        "not timed)",
        flush=True,
    )
    events = []
    with tempfile.TemporaryDirectory(prefix="forgelens-bench-") as tmp:
        for folder in (MODELS, FEATURES):
            if (cache.root / folder).is_dir():
                shutil.copytree(cache.root / folder, Path(tmp) / folder)
        load = os.getloadavg()[0]
        start = time.perf_counter()
        ids = run_sweep(
            args.scenario,
            METHODS,
            BUDGETS,
            SEEDS,
            root=tmp,
            device="cpu",
            jobs=args.jobs,
            progress=lambda e: events.append((time.perf_counter(), e)),
        )
        wall = time.perf_counter() - start
        store = RunStore(tmp)
        rows = []
        for run_id in ids:
            info = store.load_config(run_id)
            rows.append({"method": info["config"]["method"], **info["timings"]})
    first_select = next((t for t, e in events if e.get("stage") in ("select", "done")), start)
    prepare = first_select - start if args.jobs == 1 else float("nan")
    table = pd.DataFrame(rows).groupby("method", sort=False).sum()
    print(
        f"\ndefault experiment: {len(ids)} runs of {args.scenario} in {wall:.1f} s wall "
        f"(target {TARGET_SECONDS:.0f} s on a quiet 2-core machine), --jobs {args.jobs}, "
        f"torch {torch.get_num_threads()} threads; load average {load:.1f} before, "
        f"{os.getloadavg()[0]:.1f} after"
    )
    print(f"prepare pool (load cached source model, embed, losses): {prepare:.1f} s")
    print("per-stage seconds summed over each selector's 6 runs:")
    with pd.option_context("display.width", 120):
        print(table.round(2).to_string())
    total = table.sum()
    print(
        f"all runs: select {total['select']:.1f} s, adapt {total['adapt']:.1f} s, records "
        f"{total['records']:.1f} s, total {total['total']:.1f} s"
    )


if __name__ == "__main__":
    main()
