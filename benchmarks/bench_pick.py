"""Decide what to label at scale: pick 1,000 of 100,000 precomputed embeddings, manifest included.

    python benchmarks/bench_pick.py [--n 100000 --d 512 --c 10 --k 1000 --methods forge,badge]
        [--format .npz] [--threads 2]

Writes a synthetic pool (z around 20 centres, logits from a random linear head) as an embeddings
file, then times ``python -m core pick``'s work in this process, end to end per selector: read
and check the file, prepare the pool, select, score the picks, write the manifests (CSV, JSONL,
Label Studio) into a fresh store. The target (issue 25) is under 30 s on 2 cores; the printed
ratio is the measured time over that target (below 1 meets it); the CPU time and the load
average beside it say whether other processes shared the cores.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from core.run.pick import load_pick, pick  # noqa: E402
from core.scenarios.embeddings_file import EmbeddingsTable, write_embeddings  # noqa: E402

TARGET_SECONDS = 30.0


def synthetic_pool(n: int, d: int, c: int, seed: int = 0) -> EmbeddingsTable:
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=3.0, size=(20, d))
    z = (centres[rng.integers(0, 20, size=n)] + rng.normal(size=(n, d))).astype(np.float32)
    head = rng.normal(scale=1.0 / np.sqrt(d), size=(d, c))
    logits = (z @ head).astype(np.float32)
    return EmbeddingsTable(
        z=z,
        logits=logits,
        ids=tuple(f"img-{i:06d}" for i in range(n)),
        class_names=tuple(f"class-{k}" for k in range(c)),
        path=tuple(f"/data/pool/img-{i:06d}.png" for i in range(n)),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--d", type=int, default=512)
    parser.add_argument("--c", type=int, default=10)
    parser.add_argument("--k", type=int, default=1000)
    parser.add_argument(
        "--methods", default="forge,forge:pruned,badge", help="name or name:algorithm (k-center)"
    )
    parser.add_argument("--format", default=".npz", choices=(".npz", ".parquet", ".safetensors"))
    parser.add_argument("--threads", type=int, default=2, help="torch threads (the 2 cores)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as folder:
        tick = time.perf_counter()
        path = write_embeddings(
            Path(folder) / f"pool{args.format}", synthetic_pool(args.n, args.d, args.c)
        )
        print(
            f"wrote {args.n} x {args.d} (C={args.c}) as {args.format} in "
            f"{time.perf_counter() - tick:.1f} s ({path.stat().st_size / 2**20:.0f} MiB)"
        )
        picked = {}
        for entry in args.methods.split(","):
            method, _, algorithm = entry.partition(":")
            params = {"algorithm": algorithm} if algorithm else None
            store = Path(folder) / f"store-{entry.replace(':', '-')}"
            tick, cpu = time.perf_counter(), time.process_time()
            pick_id, _ = pick(
                store, embeddings=path, method=method, n_picks=args.k, device="cpu", params=params
            )
            seconds = time.perf_counter() - tick
            cpu = time.process_time() - cpu
            info, frame = load_pick(store, pick_id)
            assert len(frame) == args.k
            picked.setdefault(method, list(frame["row"]))
            same = "" if picked[method] == list(frame["row"]) else " (PICKS DIFFER)"
            print(
                f"{entry:>12}: {args.k} of {args.n} in {seconds:.1f} s end to end (selection "
                f"{info['seconds']:.1f} s; CPU time {cpu:.1f} s over {args.threads} threads, "
                f"load average {os.getloadavg()[0]:.1f}); ratio to the "
                f"{TARGET_SECONDS:.0f} s target: {seconds / TARGET_SECONDS:.2f}{same}"
            )


if __name__ == "__main__":
    main()
