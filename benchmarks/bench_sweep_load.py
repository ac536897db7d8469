"""Viewers during a sweep: page p99 with N browser clients while a sweep runs on the same
cores, with the sweep at the server's CPU priority and then below it. A script, not a test.

python benchmarks/bench_sweep_load.py --store PATH [--clients 20] [--seconds 60]
    [--nice 0,10] [--scenario debug] [--methods random,margin,entropy]

Serves the app (``python -m dashboard.serve``, as ``make run``) on a copy of the store. For each
niceness in ``--nice`` it submits a sweep through the dashboard's queue (``dashboard.jobs``,
with ``FORGELENS_SWEEP_NICE`` set; fresh seeds each time, so nothing is reused), waits for it
to be running, then lets ``--clients`` headless Chromium pages (one browser, one session each)
visit every page in turn for ``--seconds``. A visit is timed from the navigation until the
page's heading is shown and its script has finished (Streamlit's ``notRunning`` state). It
prints p50 / p95 / p99 / max per niceness, the ratio of the p99s measured in this one run, the
load average before and after, and how many visits failed (an exception shown or a timeout).
Issue 26 item 11: 20 clients on all pages during a sweep gave p99 22 s; aim under 5 s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.bench_browser import CHROMIUM, CHROMIUM_ARGS, serve  # noqa: E402
from dashboard import job_queue, jobs  # noqa: E402
from dashboard.navigation import PAGES  # noqa: E402

IDLE_JS = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  return app && app.getAttribute('data-test-script-state') === 'notRunning';
}"""
VISIT_TIMEOUT_MS = 120_000


def percentile(values: list[float], q: float) -> float:
    """The nearest-rank ``q`` percentile (q in 0..100) of ``values``."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))
    return ordered[rank - 1]


async def client(browser, url: str, paths: list[str], until: float, index: int) -> tuple:
    """One viewer: its own session, visiting every page in turn (starting at page ``index``)
    until ``until``. Returns (seconds per visit, failures)."""
    context = await browser.new_context(viewport={"width": 1400, "height": 1000})
    page = await context.new_page()
    times, failures, step = [], 0, index
    try:
        while time.monotonic() < until:
            path = paths[step % len(paths)]
            step += 1
            start = time.monotonic()
            try:
                await page.goto(f"{url}/{path}", timeout=VISIT_TIMEOUT_MS)
                await page.locator("h1").first.wait_for(timeout=VISIT_TIMEOUT_MS)
                await page.wait_for_function(IDLE_JS, timeout=VISIT_TIMEOUT_MS)
                if await page.locator('[data-testid="stException"]').count():
                    failures += 1
                    continue
            except Exception:  # noqa: BLE001 - a timed-out visit is counted, not fatal
                failures += 1
                continue
            times.append(time.monotonic() - start)
    finally:
        await context.close()
    return times, failures


async def load(url: str, clients: int, seconds: float) -> tuple[list[float], int]:
    from playwright.async_api import async_playwright

    paths = ["" if spec.default else spec.url_path for spec in PAGES]
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            until = time.monotonic() + seconds
            results = await asyncio.gather(
                *(client(browser, url, paths, until, i) for i in range(clients))
            )
        finally:
            await browser.close()
    return [t for times, _ in results for t in times], sum(f for _, f in results)


def start_sweep(root: Path, args: argparse.Namespace, nice: int, seeds: list[int]) -> str:
    os.environ[job_queue.NICE_ENV] = str(nice)
    submitted = jobs.submit_job(
        root,
        args.scenario,
        args.methods.split(","),
        [0.05, 0.1],
        seeds,
        device="cpu",
        umap=False,
        check_memory=False,
    )
    deadline = time.time() + 120
    while jobs.job_status(root, submitted.job_id).runs_done < 1 and time.time() < deadline:
        time.sleep(0.5)  # past the pool preparation: the runs themselves are the load
    return submitted.job_id


def stop_sweep(root: Path, job_id: str) -> None:
    request = job_queue.read_job(root, job_id)
    if job_queue.runner_alive(request):
        os.killpg(request["pid"], signal.SIGKILL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", required=True, help="a run store to copy and serve")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--nice", default="0,10", help="sweep nicenesses to compare")
    parser.add_argument("--scenario", default="debug")
    parser.add_argument("--methods", default="random,margin,entropy")
    args = parser.parse_args()
    nices = [int(n) for n in args.nice.split(",")]
    folder = Path(tempfile.mkdtemp(prefix="bench-load-"))
    root = folder / "store"
    shutil.copytree(args.store, root, ignore=shutil.ignore_patterns("_jobs"))
    print(f"load average before: {os.getloadavg()}; {os.cpu_count()} CPUs")
    print(f"{args.clients} clients x every page for {args.seconds:g} s, during a sweep")
    server, url = serve(str(root))
    p99 = {}
    try:
        for n, nice in enumerate(nices):
            seeds = list(range(100 + 50 * n, 150 + 50 * n))  # fresh runs, enough to outlast
            job_id = start_sweep(root, args, nice, seeds)
            try:
                times, failures = asyncio.run(load(url, args.clients, args.seconds))
            finally:
                done = jobs.job_status(root, job_id).runs_done
                stop_sweep(root, job_id)
            if not times:
                print(f"sweep nice {nice:>2}: no visit finished ({failures} failed)")
                continue
            p99[nice] = percentile(times, 99)
            print(
                f"sweep nice {nice:>2}: {len(times)} visits, {failures} failed; p50 "
                f"{percentile(times, 50):.2f} s, p95 {percentile(times, 95):.2f} s, p99 "
                f"{p99[nice]:.2f} s, max {max(times):.2f} s; the sweep finished {done} runs"
            )
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        shutil.rmtree(folder, ignore_errors=True)
    if len(p99) >= 2:
        first, last = nices[0], nices[-1]
        print(f"p99 ratio nice {first} / nice {last}: {p99[first] / p99[last]:.2f}x")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
