"""Selection at DomainNet scale on one GPU, device-resident end to end, against the HBM floor.

    python3 benchmarks/bench_gpu.py [--n 1000000 --d 2048 --c 345 --k 200] [--json out.json]

(a) HBM bandwidth: (bytes read + bytes written) / time of a plain device-to-device copy of
1 GiB, best of 10, timed with CUDA events (the same rule as bench_selection.py's CPU copy).
(b) A synthetic float32 pool (|N(0,1)| features, logits N(0,9)) is generated on the device and
turned into embedding spaces there (same formulas as ``PoolEmbedding.from_arrays``: centred z
stored D x N, float64 residual factors, checked against it at small N by ``--check``); then
k-center (coreset, forge: scan and pruned) and k-means++ (badge, forge) run on the library's
own code, timed per step. x floor = time per step / (bytes a step must read / bandwidth):
coreset N D 4, forge / badge N (C + D) 4. A clustered pool of the same size shows what the
pruned k-center skips when there is structure. (c) is the shell line's pytest run.
Without CUDA it runs on CPU (for trying it at a small N).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from core.selection import SPACES, kcenter_greedy, kmeanspp_seeding  # noqa: E402
from core.selection.embeddings import EmbeddingSpace, PoolEmbedding, auto_chunk  # noqa: E402


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bandwidth(device: torch.device, nbytes: int = 2**30) -> float:
    """(read + written) bytes per second of a device copy, best of 10."""
    src = torch.rand(nbytes // 4, device=device)
    dst = torch.empty_like(src)
    times = []
    for _ in range(11):
        sync(device)
        start = time.perf_counter()
        dst.copy_(src)
        sync(device)
        times.append(time.perf_counter() - start)
    del src, dst
    return 2 * nbytes / min(times[1:])


def make_pool(
    n: int, d: int, c: int, seed: int, device: torch.device, clusters: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator(device=device).manual_seed(seed)
    z = torch.randn(n, d, device=device, generator=gen).abs_()
    logits = torch.randn(n, c, device=device, generator=gen).mul_(3.0)
    if clusters:
        centres = torch.randn(clusters, d, device=device, generator=gen).abs_().mul_(4.0)
        label = torch.randint(clusters, (n,), device=device, generator=gen)
        z.mul_(0.3).add_(centres[label])
        logits.add_(torch.randn(clusters, c, device=device, generator=gen).mul_(4.0)[label])
    return z, logits


def residual_on_device(logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(a, ahat) in float64, the formulas of core.selection.embeddings.residual_factors, on the
    device."""
    lg = logits.to(torch.float64)
    rows = torch.arange(len(lg), device=lg.device)
    pseudo = lg.argmax(dim=1)
    lse = torch.logsumexp(lg, dim=1)
    rest = lg.clone()
    rest[rows, pseudo] = float("-inf")
    lse_rest = torch.logsumexp(rest, dim=1)
    q = torch.exp(rest - lse_rest[:, None])
    del rest
    q_minus_e = q
    q_minus_e[rows, pseudo] = -1.0
    sq_q = (q_minus_e**2).sum(dim=1) - 1.0  # |q|^2 (the -1 entry removed)
    residual = torch.exp(lse_rest - lse)[:, None] * q_minus_e
    direction = q_minus_e / torch.sqrt(1.0 + sq_q)[:, None]
    return residual, direction


def spaces_on_device(z: torch.Tensor, logits: torch.Tensor) -> dict[str, EmbeddingSpace]:
    """coreset / badge / forge spaces built on the device (no rescaling: ordinary features)."""
    n, d = z.shape
    mean = z.to(torch.float64).mean(dim=0)
    z_t = torch.empty(d, n, dtype=torch.float32, device=z.device)
    sq_zc = torch.empty(n, dtype=torch.float64, device=z.device)
    shift = torch.empty(n, dtype=torch.float64, device=z.device)
    sq_z = torch.empty(n, dtype=torch.float64, device=z.device)
    for r0 in range(0, n, 65536):
        block = z[r0 : r0 + 65536].to(torch.float64)
        sq_z[r0 : r0 + len(block)] = (block * block).sum(dim=1)
        stored = (block - mean).to(torch.float32)
        z_t[:, r0 : r0 + len(block)] = stored.T
        exact = stored.to(torch.float64)
        sq_zc[r0 : r0 + len(block)] = (exact * exact).sum(dim=1)
        shift[r0 : r0 + len(block)] = exact @ mean
    residual, direction = residual_on_device(logits)
    spaces = {"coreset": EmbeddingSpace("coreset", z_t, None, sq_zc.to(torch.float32))}
    shift32 = shift.to(torch.float32)
    for name, factor in (("badge", residual), ("forge", direction)):
        sq = ((factor * factor).sum(dim=1) * sq_z).to(torch.float32)
        spaces[name] = EmbeddingSpace(
            name, z_t, factor.T.contiguous().to(torch.float32), sq, shift32, float(mean @ mean)
        )
    return spaces


def timed(fn, device: torch.device) -> tuple[float, np.ndarray]:
    sync(device)
    start = time.perf_counter()
    out = fn()
    sync(device)
    return time.perf_counter() - start, out


def run(args: argparse.Namespace) -> dict:
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    result = {
        "device": name,
        "n": args.n,
        "d": args.d,
        "c": args.c,
        "k": args.k,
        "torch": torch.__version__,
    }
    bw = bandwidth(device, 2**30 if device.type == "cuda" else 2**26)
    result["bandwidth_GBps"] = bw / 1e9
    print(
        f"{name}: copy bandwidth (read+write) {bw / 1e9:.0f} GB/s; pool N={args.n} D={args.d} "
        f"C={args.c}, K={args.k}, float32",
        flush=True,
    )
    rows = []
    for kind, clusters in (("random", 0), ("clustered", args.clusters)):
        start = time.perf_counter()
        z, logits = make_pool(args.n, args.d, args.c, 0, device, clusters)
        spaces = spaces_on_device(z, logits)
        del z, logits
        sync(device)
        setup = time.perf_counter() - start
        print(
            f"[{kind}] pool built on the device in {setup:.1f} s; nearest() chunk "
            f"{auto_chunk(device, torch.float32)}",
            flush=True,
        )
        runs = [
            ("coreset", "k-center", "scan"),
            ("forge", "k-center", "scan"),
            ("coreset", "k-center", "pruned"),
            ("forge", "k-center", "pruned"),
        ]
        if kind == "random":
            runs += [("badge", "k-means++", "D^2"), ("forge", "k-means++", "D^2")]
        for space_name, algorithm, variant in runs:
            space = spaces[space_name]
            stats: dict = {}
            if algorithm == "k-center":
                kcenter_greedy(space, 3, first=0, algorithm=variant)  # warm-up
                seconds, picks = timed(
                    lambda s=space, v=variant, st=stats: kcenter_greedy(
                        s, args.k, first=0, algorithm=v, stats=st
                    ),
                    device,
                )
            else:
                kmeanspp_seeding(space, 3, seed=0, first=0)
                seconds, picks = timed(
                    lambda s=space: kmeanspp_seeding(s, args.k, seed=0, first=0), device
                )
            step_bytes = args.n * (args.d if space_name == "coreset" else args.d + args.c) * 4
            per_step = seconds / (args.k - 1)
            row = {
                "pool": kind,
                "space": space_name,
                "algorithm": algorithm,
                "variant": variant,
                "seconds": seconds,
                "ms_per_step": per_step * 1e3,
                "floor_ms": step_bytes / bw * 1e3,
                "x_floor": per_step / (step_bytes / bw),
                "picks_head": picks[:5].tolist(),
            }
            if "scanned" in stats:
                row["scanned_fraction"] = float(np.mean(stats["scanned"][1:])) / args.n
            rows.append(row)
            extra = (
                f", scanned {row['scanned_fraction']:.1%} of the pool per step"
                if "scanned_fraction" in row
                else ""
            )
            print(
                f"  {kind:9} {space_name:8} {algorithm:9} {variant:6} {seconds:7.2f} s "
                f"{row['ms_per_step']:8.3f} ms/step, floor {row['floor_ms']:.3f} ms -> "
                f"{row['x_floor']:.2f}x floor{extra}",
                flush=True,
            )
        scan = {r["space"]: r for r in rows if r["pool"] == kind and r["variant"] == "scan"}
        for r in rows:
            if r["pool"] == kind and r["variant"] == "pruned":
                r["speedup_vs_scan"] = scan[r["space"]]["seconds"] / r["seconds"]
                print(f"  {kind:9} {r['space']:8} pruned vs scan: {r['speedup_vs_scan']:.2f}x")
        del spaces
        if device.type == "cuda":
            torch.cuda.empty_cache()
    result["rows"] = rows
    return result


def check(n: int = 3000) -> None:
    """At small N: the device-built spaces pick what PoolEmbedding.from_arrays' spaces pick, the
    pruned k-center what the scan picks, and device k-means++ what the CPU's picks (float64)."""
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    z, logits = make_pool(n, 64, 20, 1, device, clusters=10)
    built = spaces_on_device(z, logits)
    lib = PoolEmbedding.from_arrays(z.cpu().numpy(), logits.cpu().numpy(), device=device)
    host = PoolEmbedding.from_arrays(
        z.cpu().numpy(), logits.cpu().numpy(), device="cpu", dtype=torch.float64
    )
    dev64 = PoolEmbedding.from_arrays(
        z.cpu().numpy(), logits.cpu().numpy(), device=device, dtype=torch.float64
    )
    for name in SPACES:
        a = kcenter_greedy(built[name], 50, first=0)
        b = kcenter_greedy(lib.space(name), 50, first=0)
        c = kcenter_greedy(lib.space(name), 50, first=0, algorithm="pruned")
        d = kmeanspp_seeding(dev64.space(name), 50, seed=0, first=0)
        e = kmeanspp_seeding(host.space(name), 50, seed=0, first=0)
        f = kcenter_greedy(dev64.space(name), 50, first=0, algorithm="pruned")
        g = kcenter_greedy(host.space(name), 50, first=0)
        print(
            f"check {name}: identical picks /50: device-built vs library {int((a == b).sum())}"
            f", pruned vs scan {int((c == b).sum())}, float64 k-means++ device vs CPU "
            f"{int((d == e).sum())}, float64 pruned device vs CPU scan {int((f == g).sum())}",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--d", type=int, default=2048)
    parser.add_argument("--c", type=int, default=345)
    parser.add_argument("--k", type=int, default=200)
    parser.add_argument("--clusters", type=int, default=50)
    parser.add_argument("--json", default=None, help="also write the results here")
    parser.add_argument("--check", action="store_true", help="first check the device builder")
    args = parser.parse_args()
    if args.check:
        check()
    result = run(args)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
