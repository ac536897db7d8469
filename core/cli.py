"""Command line: `python -m core run|list|table|umap`. Sweeps run headless and land in the run store.

Bad input exits with status 2 and a message naming the parameter, before anything is written.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd

from core.validation import ForgeLensError

T = TypeVar("T")


def _csv(name: str, kind: Callable[[str], T], what: str) -> Callable[[str], list[T]]:
    def parse(text: str) -> list[T]:
        items = [item.strip() for item in text.split(",") if item.strip()]
        if not items:
            raise argparse.ArgumentTypeError(f"--{name}={text!r} is empty; give {what}")
        try:
            return [kind(item) for item in items]
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"--{name}={text!r} is not a comma-separated list of {what}"
            ) from None
    return parse


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m core", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run a sweep: scenario x methods x budgets x seeds")
    run.add_argument("--scenario", default=None, help="scenario name (python -m core list)")
    run.add_argument("--methods", type=_csv("methods", str, "selector names"),
                     default=["random", "margin", "entropy", "duc", "coreset", "badge", "clue",
                              "forge"])
    run.add_argument("--budgets", type=_csv("budgets", float, "fractions in (0, 1]"),
                     default=[0.05, 0.1])
    run.add_argument("--seeds", type=_csv("seeds", int, "non-negative integers"), default=[0, 1, 2])
    run.add_argument("--out", default=None, help="run store folder (default $FORGELENS_RUNS or runs/)")
    run.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    run.add_argument("--adaptation", default=None,
                     help="full (fine-tune everything, the paper's setting) or head (train only "
                          "the last linear layer on cached features); default: the scenario's "
                          "(head for pretrained backbones, full otherwise)")
    run.add_argument("--progress", default=None,
                     help="also append progress events as JSON lines to this file")
    run.add_argument("--no-umap", action="store_true",
                     help="skip precomputing the pool's UMAP views after the sweep")
    run.add_argument("--quiet", action="store_true", help="no progress bars")
    from core.executors import add_arguments as add_executor_arguments

    add_executor_arguments(run)  # --executor, --jobs, --address (issue 13)

    commands.add_parser("list", help="list scenarios and selectors")

    table = commands.add_parser("table", help="print accuracy and Figure 5 correlation tables")
    table.add_argument("--out", default=None, help="run store folder")
    table.add_argument("--scenario", default=None, help="only runs of this scenario")
    table.add_argument("--split", default="test",
                       help="selected_train, unselected_train, val or test")
    table.add_argument("--adaptation", default=None,
                       help="only runs with this adaptation mode (full or head)")
    return parser


class ProgressReporter:
    """Progress bars per stage on stderr, and optionally JSON lines for the dashboard."""

    def __init__(self, path: str | None, quiet: bool) -> None:
        self.path = Path(path) if path else None
        self.quiet = quiet
        self.bar = None
        if self.path:
            self.path.parent.mkdir(parents=True, exist_ok=True)

    def __call__(self, event: dict[str, Any]) -> None:
        event = {"time": time.time(), **event}
        if self.path:
            with self.path.open("a") as handle:  # one short line per append: readers see whole lines
                handle.write(json.dumps(event, default=str) + "\n")
        if self.quiet:
            return
        if "estimate_seconds" in event and ("n_runs" not in event or event["run_index"] == 0
                                            or event["estimate_seconds"] >= 10):
            # expected durations of long steps are worth a line of their own
            text = f"[{event['stage']}] {event.get('message', '')}"
            if self.bar is not None:
                self.bar.write(text, file=sys.stderr)
            else:
                print(text, file=sys.stderr)
            return
        if "n_runs" not in event:
            print(f"[{event['stage']}] {event.get('message', '')}", file=sys.stderr)
            return
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=event["n_runs"], unit="run", file=sys.stderr)
        self.bar.set_description(f"{event['stage']:>7} {event['method']} {event['budget']:g} "
                                 f"s{event['seed']}")
        if event["stage"] == "done":
            self.bar.update(1)

    def close(self, message: str, ok: bool = True) -> None:
        if self.bar is not None:
            self.bar.close()
        if self.path:
            with self.path.open("a") as handle:
                handle.write(json.dumps({"time": time.time(), "stage": "finished" if ok else "failed",
                                         "message": message, "done": True}) + "\n")


def _run(args: argparse.Namespace) -> int:
    from core.experiment import resolve_adaptation, run_sweep, validate_sweep
    from core.scenarios import DEFAULT_SCENARIO

    scenario = args.scenario or DEFAULT_SCENARIO
    validate_sweep(scenario, args.methods, args.budgets, args.seeds, args.adaptation)
    from core.executors import check_executor

    check_executor(args.executor, args.jobs, args.address)
    adaptation = resolve_adaptation(scenario, args.adaptation)
    from core.device import resolve_device

    resolve_device(args.device)
    reporter = ProgressReporter(args.progress, args.quiet)
    started = time.perf_counter()
    try:
        run_ids = run_sweep(scenario, args.methods, args.budgets, args.seeds, root=args.out,
                            device=args.device, adaptation=adaptation, progress=reporter,
                            executor=args.executor, jobs=args.jobs, address=args.address)
        if not args.no_umap:
            _precompute_umaps(args.out, run_ids, reporter)
    except BaseException as error:
        reporter.close(f"{type(error).__name__}: {error}", ok=False)
        raise
    seconds = time.perf_counter() - started
    reporter.close(f"{len(run_ids)} runs in {seconds:.1f} s")
    print(f"{len(run_ids)} runs of {scenario} ({adaptation} adaptation) in {seconds:.1f} s; "
          f"browse them with `make run` or `python -m core table --scenario {scenario}`")
    return 0


def _precompute_umaps(root: str | None, run_ids: Sequence[str], report: ProgressReporter) -> None:
    from core.projection import PROJECTION_SPACES, umap_2d
    from core.store import RunStore

    store = RunStore(root)
    pool_ids = sorted({store.load_config(run_id)["pool_id"] for run_id in run_ids})
    for pool_id in pool_ids:
        for space in PROJECTION_SPACES:
            report({"stage": "umap", "message": f"UMAP of pool {pool_id} in {space} space"})
            umap_2d(store, pool_id, space)


def _list() -> int:
    from core.scenarios import DEFAULT_SCENARIO, available, describe
    from core.selection import available as selectors

    print("scenarios:")
    width = max(map(len, available()))
    for name in available():
        marker = " (default)" if name == DEFAULT_SCENARIO else ""
        print(f"  {name:<{width}}  {describe(name)}{marker}")
    print("selectors:")
    for name in selectors():
        print(f"  {name}")
    return 0


def _table(args: argparse.Namespace) -> int:
    from core.reports import (
        accuracy_long,
        accuracy_matrix,
        accuracy_summary,
        correlation_summary,
    )
    from core.store import RunStore
    from core.validation import check_choice

    check_choice("split", args.split, ("selected_train", "unselected_train", "val", "test"))
    if args.adaptation is not None:
        from core.adaptation import ADAPTATION_MODES

        check_choice("adaptation", args.adaptation, ADAPTATION_MODES)
    store = RunStore(args.out)
    runs = store.finished_runs()
    if args.scenario is not None:
        runs = runs[runs["scenario"] == args.scenario]
    if args.adaptation is not None:
        runs = runs[runs["adaptation"] == args.adaptation]
    if runs.empty:
        where = f" for scenario {args.scenario!r}" if args.scenario else ""
        where += f" with {args.adaptation} adaptation" if args.adaptation else ""
        print(f"no finished runs in {store.root}{where}; start one with `python -m core run`")
        return 1
    with pd.option_context("display.width", 200, "display.max_columns", 30,
                           "display.max_rows", 500):
        for (scenario, mode), group in runs.groupby(["scenario", "adaptation"]):
            ids = group["run_id"].tolist()
            long = accuracy_long(store, ids)
            before = long[(long["split"] == args.split) & (long["stage"] == "before")]["accuracy"]
            print(f"\n== {scenario}: {args.split} accuracy after {mode} adaptation, % mean ± std "
                  f"over seeds (difference to random); source-only: {100 * before.mean():.2f}")
            print(accuracy_matrix(accuracy_summary(long, split=args.split)).to_string())
            corr = correlation_summary(store, ids)
            print(f"\n== {scenario} ({mode} adaptation): Figure 5, correlation of distance with "
                  "loss-reduction gap (mean over seeds)")
            wide = corr.pivot_table(index=["method", "budget"], columns="space",
                                    values=["pearson", "spearman"], sort=False)
            wide.columns = [f"{stat}:{space}" for stat, space in wide.columns]
            print(wide.round(3).to_string())
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "run":
            return _run(args)
        if args.command == "list":
            return _list()
        return _table(args)
    except ForgeLensError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: finished runs are kept, the unfinished one will be redone",
              file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
