"""From an empty Home page to Figure 5 on screen, in a real browser (headless Debian Chromium +
Playwright): a script, not a test.

python benchmarks/bench_first_figure.py [--store EMPTY_DIR] [--port 8671] [--timeout 1800]
    [--repo CHECKOUT]

Serves the app on an empty run store, opens Home, clicks "Run the quick demo" and times, from
that click: the sweep's first progress event, the first finished run in the store, Figure 5 of
that run drawn on the Gap page (a new tab opened on ``/gap`` once the run exists, as a user who
follows the Home page's pointer would; the time is when its plotly chart is on screen), Home
showing the run by itself (its live update), BADGE's and FORGE's runs both stored (Figure 5
side by side), and the whole demo finished (its job's last event). Marks are polled every
0.2 s, and not while the Gap tab loads. Then it prints the sweep's per-stage split read
from the job's progress events: scenario, source model, pool embedding, full-network tangent
norms, each run's select / adapt / records, UMAP, and what the sweep's helper process computed
beside the runs (``core.run.follow_up``). Targets (issue 28): Figure 5 < 15 s and the
demo < 30 s on a quiet 2-core machine; under a load of 2, no worse than twice that. The load
average and a CPU probe are printed with the numbers: a shared machine's are not comparable
from one minute to the next, only the split within one run is.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.bench_browser import CHROMIUM, CHROMIUM_ARGS, cpu_probe  # noqa: E402

TANGENT = "full-network tangent norms"
SEEN_JS = """() => { window.__fl_seen = null; const t = setInterval(() => {
  if (document.body.innerText.includes('Figure 5 in numbers')) {
    window.__fl_seen = Date.now(); clearInterval(t); } }, 100); }"""
PLOT = ".js-plotly-plot .main-svg"  # a drawn plotly chart (dashboard.live_chart)


def serve(store: str, port: int, repo: Path = REPO):
    """The app of checkout ``repo`` on ``store`` at ``port`` (as ``make run``), once it answers
    its health check."""
    import subprocess
    import urllib.request

    env = {**os.environ, "FORGELENS_RUNS": store}
    server = subprocess.Popen(
        [sys.executable, "-m", "dashboard.serve", "--server.port", str(port)]
        + ["--server.headless", "true", "--browser.gatherUsageStats", "false"],
        cwd=repo,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while True:
        try:
            urllib.request.urlopen(f"{url}/_stcore/health", timeout=2)
            return server, url
        except OSError:
            if server.poll() is not None or time.time() > deadline:
                server.kill()
                raise RuntimeError(f"the app did not start on port {port}") from None
            time.sleep(0.3)


def finished_runs(store: Path) -> list[Path]:
    return [p for p in store.iterdir() if p.is_dir() and (p / "DONE").is_file()]


def finished_methods(store: Path) -> set[str]:
    methods = set()
    for run in finished_runs(store):
        try:
            methods.add(json.loads((run / "config.json").read_text())["config"]["method"])
        except (OSError, ValueError, KeyError):
            continue
    return methods


def job_events(store: Path) -> list[dict]:
    """The progress events of the (one) job in the store, in order."""
    files = sorted((store / "_jobs").glob("*.jsonl")) if (store / "_jobs").is_dir() else []
    events = []
    for line in files[0].read_text().splitlines() if files else []:
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:  # a line being written
            break
    return events


def stage_split(
    events: list[dict],
) -> tuple[dict[str, float], dict[str, float], list[tuple[str, float]]]:
    """(seconds per stage in the sweep's process, seconds per stage in its helper process
    beside the runs, seconds per run in the order they finished).

    In the sweep's process a stage lasts from its first event to the next event of another
    stage (the tangent norms: the events that name them; a run's stages carry its
    ``run_index``). The helper's units (``core.run.follow_up``) arrive as events with
    ``by: helper`` and their own ``seconds``."""
    split: dict[str, float] = defaultdict(float)
    helper: dict[str, float] = defaultdict(float)
    runs: list[tuple[str, float]] = []
    run_start = None
    for event, following in zip(events, events[1:], strict=False):
        stage = str(event.get("stage"))
        if TANGENT in str(event.get("message", "")):
            stage = "tangent norms"
        if event.get("by") == "helper":
            helper[stage] += float(event.get("seconds", 0.0))
            continue
        if "run_index" in event and run_start is None:
            run_start = event["time"]
        if stage == "done":
            runs.append((f"{event['method']} seed {event['seed']}", event["time"] - run_start))
            run_start = None
            continue
        split[stage] += following["time"] - event["time"]
    return dict(split), dict(helper), runs


def load_line() -> str:
    return f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", help="an empty folder (default: a new temporary one)")
    parser.add_argument("--port", type=int, default=8671)
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds for the demo")
    parser.add_argument(
        "--repo", default=str(REPO), help="the checkout whose app to serve (before/after A/B)"
    )
    args = parser.parse_args()
    store = Path(args.store or tempfile.mkdtemp(prefix="forgelens-first-figure-")).resolve()
    store.mkdir(parents=True, exist_ok=True)
    if any(store.iterdir()):
        parser.error(f"--store={str(store)!r} is not empty; allowed: an empty folder")
    print(f"before: {load_line()}, CPU probe {cpu_probe():.2f} s; store {store}")
    from playwright.sync_api import sync_playwright

    print(f"app of {args.repo}")
    server, url = serve(str(store), args.port, Path(args.repo))
    marks: dict[str, float] = {}
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            home = context.new_page()
            home.goto(f"{url}/")
            button = home.get_by_role("button", name="Run the quick demo")
            button.wait_for(timeout=120_000)
            click, click_epoch = time.perf_counter(), time.time()
            button.click()
            home.evaluate(SEEN_JS)  # when Home shows the first run by itself (live updates)
            deadline = click + args.timeout
            gap = None
            while "demo complete" not in marks:
                if time.perf_counter() > deadline:
                    raise TimeoutError(f"the demo did not finish in {args.timeout:.0f} s")
                now = time.perf_counter() - click
                events = job_events(store)
                methods = finished_methods(store)
                if events and "first event" not in marks:
                    marks["first event"] = now
                if methods and gap is None:
                    marks["first run stored"] = now
                    gap = context.new_page()
                    gap.goto(f"{url}/gap")
                    gap.locator(PLOT).first.wait_for(timeout=300_000)
                    marks["Figure 5 on screen"] = time.perf_counter() - click
                if {"badge", "forge"} <= methods and "BADGE and FORGE stored" not in marks:
                    marks["BADGE and FORGE stored"] = now
                if any(e.get("done") for e in events):
                    marks["demo complete"] = now
                time.sleep(0.2)
            seen = home.evaluate("() => window.__fl_seen")
            if seen:
                marks["Home shows a run"] = seen / 1000 - click_epoch
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
    events = job_events(store)
    split, helper, runs = stage_split(events)
    print(f"after: {load_line()}, CPU probe {cpu_probe():.2f} s")
    print("from the click on the empty Home page's quick demo:")
    for name, seconds in sorted(marks.items(), key=lambda item: item[1]):
        print(f"  {name:<22} {seconds:7.1f} s")
    print(f"per-stage split of the sweep ({events[-1].get('message', '')}):")
    for stage, seconds in split.items():
        print(f"  {stage:<22} {seconds:7.1f} s")
    if helper:
        print("beside the runs, in the sweep's helper process (core.run.follow_up):")
        for stage, seconds in helper.items():
            print(f"  {stage:<22} {seconds:7.1f} s")
    print("runs in the order they finished:")
    for name, seconds in runs:
        print(f"  {name:<22} {seconds:7.1f} s")


if __name__ == "__main__":
    main()
