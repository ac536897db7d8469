"""Command line: `python -m core run|list|table|upgrade|clean|qa|reward|pick|labels|embed|
export-embeddings`. Sweeps run headless into the run store.

Every argument is checked against ``core.base.params`` before torch (or anything heavy) is imported:
bad input exits with status 2 within a second, with a message naming the parameter, the value
and what is allowed, before anything is written.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from core.analysis.constraints import TABLE_CONSTRAINTS
from core.base.device import DEVICE_CHOICES, resolve_device
from core.base.hparams import FLOAT_FIELDS, INT_FIELDS
from core.base.memory import keep_freed_memory
from core.base.params import validate_params
from core.base.progress import format_seconds
from core.base.splits import ACCURACY_SPLITS
from core.base.validation import ForgeLensError, suggest
from core.cli import scenarios as scenario_files
from core.cli.files import add_parsers as add_file_parsers
from core.cli.files import run as run_files
from core.cli.pick import COMMANDS as PICK_COMMANDS
from core.cli.pick import add_parsers as add_pick_parsers
from core.cli.pick import run as run_pick
from core.run.constraints import (
    DEFAULT_BUDGETS,
    DEFAULT_SEEDS,
    EXECUTORS,
    RUN_CONSTRAINTS,
    SWEEP_CONSTRAINTS,
    check_executor,
    check_sweep,
)
from core.scenarios import DEFAULT_SCENARIO, SCENARIOS, available, describe, saved_scenarios
from core.selection import available as available_selectors
from core.selection import default_methods, is_spec, resolve_methods
from core.storage.integrity import verify_sealed
from core.tasks import task_of

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


def _choice(name: str, allowed: Sequence[str]) -> Callable[[str], str]:
    """An argparse type for one of ``allowed`` that suggests the close name on a typo."""

    def parse(text: str) -> str:
        if text not in allowed:
            raise argparse.ArgumentTypeError(
                f"--{name}={text!r} is not allowed{suggest(text, allowed)}; "
                f"allowed: one of {', '.join(allowed)}"
            )
        return text

    return parse


def _prog() -> str:
    """How the user called the CLI: the ``forgelens`` console script or ``python -m core``."""
    return "forgelens" if Path(sys.argv[0]).name == "forgelens" else "python -m core"


def parser() -> argparse.ArgumentParser:
    """The CLI's arguments; its defaults come from the registries and ``core.base.params``."""
    parser = argparse.ArgumentParser(prog=_prog(), description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run a sweep: scenario x methods x budgets x seeds")
    run.add_argument(
        "--scenario", default=DEFAULT_SCENARIO, help="scenario name (python -m core list)"
    )
    run.add_argument(
        "--scenario-file",
        default=None,
        help="a TOML file declaring a scenario from your own data (README: 'Your "
        "own data'); it is checked, saved into the run store and run",
    )
    run.add_argument(
        "--methods",
        type=_csv("methods", str, "selector names"),
        help="selector names (python -m core list), installed plugins or "
        "package.module:ClassName of your own Selector subclass",
        default=list(default_methods()),
    )
    run.add_argument(
        "--with-plugins",
        action="store_true",
        help="also sweep every installed selector plugin (they join only when named otherwise)",
    )
    run.add_argument(
        "--budgets",
        type=_csv("budgets", float, "fractions in (0, 1]"),
        default=list(DEFAULT_BUDGETS),
    )
    run.add_argument(
        "--seeds", type=_csv("seeds", int, "non-negative integers"), default=list(DEFAULT_SEEDS)
    )
    run.add_argument(
        "--source-seeds",
        dest="source_seeds",
        type=_csv("source-seeds", int, "non-negative integers"),
        default=None,
        help="seeds of the source model (each trains its own source model and pool; recorded "
        "as hparams source_seed, part of the run id); default: the scenario's one source seed. "
        "Tables show the spread across source seeds and across selection seeds separately",
    )
    run.add_argument(
        "--out", default=None, help="run store folder (default $FORGELENS_RUNS or runs/)"
    )
    run.add_argument(
        "--device",
        default="auto",
        help=f"{', '.join(DEVICE_CHOICES)} (CUDA when present) or cuda:N",
    )
    run.add_argument(
        "--adaptation",
        default=None,
        help="full (fine-tune everything, the paper's setting) or head (train only "
        "the last linear layer on cached features); default: the scenario's "
        "(head for pretrained backbones, full otherwise)",
    )
    run.add_argument(
        "--loss",
        default=None,
        help="adaptation loss: ce (cross-entropy, default) or mse (squared error of the "
        "logits to one-hot labels, the loss of the paper's Theorem 4, from a source model "
        "trained with it); recorded in the run config",
    )
    run.add_argument(
        "--preset",
        "--hparams",  # its former name
        dest="preset",
        default="default",
        help="hyper-parameter preset: default, or paper (the paper's section 6 "
        "adaptation recipe); recorded in the run config",
    )
    run.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override one hyper-parameter (repeatable), e.g. --set adapt_lr=1e-4",
    )
    run.add_argument(
        "--progress", default=None, help="also append progress events as JSON lines to this file"
    )
    run.add_argument(
        "--no-umap",
        action="store_true",
        help="skip precomputing the pool's UMAP views after the sweep",
    )
    run.add_argument("--quiet", action="store_true", help="no progress bars")
    run.add_argument(
        "--executor",
        default="local",
        type=_choice("executor", EXECUTORS),
        metavar="{" + ",".join(EXECUTORS) + "}",
        help="local (this machine; see --jobs) or ray (one Ray task per run)",
    )
    run.add_argument(
        "--jobs", type=int, default=1, help="local executor: number of worker processes (default 1)"
    )
    run.add_argument(
        "--address",
        default=None,
        help="ray executor: cluster address (auto, ray://host:10001); default: "
        "start a local Ray instance",
    )

    listing = commands.add_parser("list", help="list scenarios and selectors")
    listing.add_argument(
        "--damaged",
        action="store_true",
        help="instead list the runs, pools and caches of the store that failed "
        "verification and were quarantined",
    )
    listing.add_argument("--out", default=None, help="run store folder (with --damaged)")

    clean = commands.add_parser(
        "clean",
        help="remove staging folders that dead writers left "
        "behind, on any machine sharing the store",
    )
    clean.add_argument("--out", default=None, help="run store folder")
    upgrade = commands.add_parser(
        "upgrade",
        help="bring runs of an older run format to the current one (results kept, run ids change)",
    )
    upgrade.add_argument("--out", default=None, help="run store folder")

    add_file_parsers(commands, _csv)  # qa, reward: sweeps on a user's files
    scenario_files.add_parser(commands)  # scenarios: list or remove saved scenario files
    add_pick_parsers(commands)  # pick, labels, export-embeddings: decide what to label

    table = commands.add_parser("table", help="print accuracy and Figure 5 correlation tables")
    table.add_argument("--out", default=None, help="run store folder")
    table.add_argument("--scenario", default=None, help="only runs of this scenario")
    table.add_argument("--split", default="test", help=", ".join(ACCURACY_SPLITS))
    table.add_argument(
        "--adaptation", default=None, help="only runs with this adaptation mode (full or head)"
    )
    table.add_argument(
        "--kind",
        default="all",
        help="accuracy, correlation, theory, or all (accuracy and correlation)",
    )
    table.add_argument(
        "--format",
        default="text",
        help="text (tables for reading) or csv (one CSV on stdout, a 'table' column naming "
        "each row's table; every column, full precision)",
    )
    table.add_argument(
        "--wide",
        action="store_true",
        help="theory table: every column (default: the headline columns in 100 columns, "
        "with a legend)",
    )
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
            with self.path.open(
                "a"
            ) as handle:  # one short line per append: readers see whole lines
                handle.write(json.dumps(event, default=str) + "\n")
        if self.quiet:
            return
        if "estimate_seconds" in event and (
            "n_runs" not in event or event["run_index"] == 0 or event["estimate_seconds"] >= 10
        ):
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
        self.bar.set_description(
            f"{event['stage']:>7} {event['method']} {event['budget']:g} s{event['seed']}"
        )
        if event["stage"] == "done":
            self.bar.update(1)

    def new_sweep(self, message: str) -> None:
        """Close the progress bar of the previous sweep (one per source seed) and say which
        one starts."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        self({"stage": "sweep", "message": message})

    def close(self, message: str, ok: bool = True) -> None:
        if self.bar is not None:
            self.bar.close()
        if self.path:
            with self.path.open("a") as handle:
                handle.write(
                    json.dumps(
                        {
                            "time": time.time(),
                            "stage": "finished" if ok else "failed",
                            "message": message,
                            "done": True,
                        }
                    )
                    + "\n"
                )


def _overrides(items: Sequence[str]) -> dict[str, Any]:
    """``NAME=VALUE`` strings as hyper-parameter overrides, typed like the HParams fields."""
    out: dict[str, Any] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ForgeLensError(f"--set {item!r} is not NAME=VALUE, e.g. --set adapt_lr=1e-4")
        if name == "preset":  # a set of hyper-parameters, recorded by --preset with its recipe
            raise ForgeLensError(
                f"--set {item!r} is not allowed; allowed: --preset {value or 'paper'} (a preset "
                "sets several hyper-parameters; --set changes one)"
            )
        try:
            out[name] = (
                int(value)
                if name in INT_FIELDS
                else float(value)
                if name in FLOAT_FIELDS
                else value
            )
        except ValueError:
            raise ForgeLensError(f"--set {item!r}: {name} needs a number, got {value!r}") from None
    return out


def _run(args: argparse.Namespace) -> int:
    validate_params({"out": RUN_CONSTRAINTS["out"]}, vars(args))  # scenario files are saved there
    for file, problem in saved_scenarios(args.out)[1].items():  # set aside, the rest works
        print(f"note: saved scenario {file} is set aside: {problem}", file=sys.stderr)
    saved: dict[str, str] = {}
    with scenario_files.restore_on_failure(args.out, saved):  # refused or failed: not kept
        return _sweep(args, saved)


def _sweep(args: argparse.Namespace, saved: dict[str, str]) -> int:
    args.scenario = _scenario_from_files(args, saved) or args.scenario or DEFAULT_SCENARIO
    if args.with_plugins:  # installed plugins join the sweep only when asked
        installed = set(default_methods(plugins=True)) - set(default_methods())
        args.methods = list(dict.fromkeys([*args.methods, *sorted(installed)]))
    if any(is_spec(method) for method in args.methods):  # imports the user's selector module
        args.methods = resolve_methods(args.methods)
    validate_params(RUN_CONSTRAINTS, vars(args))
    check_executor(args.executor, args.jobs, args.address)
    sweep = check_sweep(
        args.scenario, args.methods, args.budgets, args.seeds, args.adaptation, root=args.out
    )
    overrides = _overrides(args.set)
    if args.loss is not None:
        overrides["adapt_loss"] = args.loss
    every_hparams = [
        sweep.scenario.hparams(args.preset, **overrides, **seed)
        for seed in _source_seed_overrides(args.source_seeds, overrides)
    ]
    # everything is checked: only now load torch and the engine
    from core.run.duration import store_estimate  # pandas
    from core.run.sweep import run_checked_sweep

    if not args.quiet:  # the one estimator the dashboard's pages show too
        planned = store_estimate(
            args.out,
            scenario=sweep.scenario.name,
            methods=args.methods,
            budgets=args.budgets,
            seeds=args.seeds,
            adaptation=sweep.adaptation,
        )
        print(
            f"expected: about {format_seconds(planned.seconds)} ({planned.n_runs} run(s) to "
            f"compute, {planned.n_reused} reused; {planned.basis})",
            file=sys.stderr,
        )

    from core.analysis import projection

    views = (
        {}
        if args.no_umap
        else {"extra_jobs": projection.umap_jobs, "warm_ups": [projection.warm_up]}
    )
    device = resolve_device(args.device)
    reporter = ProgressReporter(args.progress, args.quiet)
    started = time.perf_counter()
    try:
        run_ids = []
        for hparams in every_hparams:  # one source model (and pool) per source seed
            if len(every_hparams) > 1:
                reporter.new_sweep(f"source seed {hparams.source_seed}")
            run_ids += run_checked_sweep(
                sweep,
                root=args.out,
                device=device,
                progress=reporter,
                hparams=hparams,
                executor=args.executor,
                jobs=args.jobs,
                address=args.address,
                **views,  # the UMAP views, computed beside the runs
            )
    except BaseException as error:
        reporter.close(f"{type(error).__name__}: {error}", ok=False)
        raise
    seconds = time.perf_counter() - started
    reporter.close(f"{len(run_ids)} runs in {seconds:.1f} s")
    print(
        f"{len(run_ids)} runs of {sweep.scenario.name} ({sweep.adaptation} adaptation) in "
        f"{seconds:.1f} s; browse them with `make run` or "
        f"`python -m core table --scenario {sweep.scenario.name}`"
    )
    return 0


def _source_seed_overrides(
    source_seeds: Sequence[int] | None, overrides: dict[str, Any]
) -> list[dict[str, int]]:
    """One hyper-parameter override per source seed (none: the scenario's own source seed)."""
    if source_seeds is None:
        return [{}]
    if "source_seed" in overrides:
        raise ForgeLensError(
            f"--source-seeds={','.join(map(str, source_seeds))} and --set "
            f"source_seed={overrides['source_seed']} disagree; allowed: one of them"
        )
    validate_params({"source_seeds": SWEEP_CONSTRAINTS["seeds"]}, {"source_seeds": source_seeds})
    if len(set(source_seeds)) != len(source_seeds):
        raise ForgeLensError(
            f"--source-seeds={','.join(map(str, source_seeds))} repeats a seed; allowed: "
            "distinct non-negative integers"
        )
    return [{"source_seed": int(seed)} for seed in source_seeds]


def _scenario_from_files(args: argparse.Namespace, saved: dict[str, str]) -> str | None:
    """Check ``--scenario-file`` and save it into the run store (where the sweep and its workers
    find it); returns its name. Nothing is saved when a check fails."""
    if args.scenario_file is None:
        return None
    from core.scenarios.file_builders import use_scenario_file  # loads the data builders

    name = use_scenario_file(args.scenario_file, args.out)
    saved["name"] = name
    if args.scenario not in (None, DEFAULT_SCENARIO, name):  # the default yields to the file
        raise ForgeLensError(
            f"--scenario={args.scenario!r} and --scenario-file (name {name!r}) "
            "disagree; allowed: one of them"
        )
    return name


def _damaged(root: str | None) -> int:
    """Verify every run and pool of the store; print what is quarantined. Exit 1 if any."""
    import datetime

    from core.storage.store import POOLS, RunStore

    store = RunStore(root)
    store.run_ids()  # verifies every run (quarantining the damaged ones)
    pools = store.root / POOLS
    for folder in sorted(pools.iterdir()) if pools.is_dir() else []:
        if folder.is_dir() and not folder.name.startswith(("_", ".")):
            store.has_pool(folder.name)
    # the caches with a checksum: a pool's UMAP layouts, previews, tangent norms; features;
    # source models (quarantined where their own readers put them)
    verify_sealed(pools, store.root, "cache")
    verify_sealed(store.root / "_features", store.root, "features")  # feature_cache.FEATURES
    verify_sealed(store.models_dir, store.models_dir, "model")
    records = store.damaged()
    unverified = store.unverified_run_ids()
    if unverified:
        print(f"{len(unverified)} run(s) predate checksums (format 1): structure checked only")
    if not records:
        print(f"no damaged runs, pools or caches in {store.root}")
        return 0
    print(
        f"{len(records)} damaged item(s) in {store.root} (moved to _quarantine/, never "
        "deleted; the next `core run` that needs them redoes them):"
    )
    for record in records:
        when = datetime.datetime.fromtimestamp(float(record.get("quarantined") or 0))
        print(
            f"  {record.get('kind')} {record.get('id')}: {record.get('reason')} "
            f"[{when:%Y-%m-%d %H:%M}] -> {record.get('moved_to') or 'left in place'}"
        )
    return 1


def _clean(root: str | None) -> int:
    from core.storage.store import STALE_SECONDS, RunStore

    store = RunStore(root)
    removed = store.remove_stale_staging(everywhere=True)
    print(
        f"removed {len(removed)} staging folder(s) of dead writers from {store.root} "
        f"(any writer's older than {STALE_SECONDS // 60} min; this machine's dead ones)"
    )
    return 0


def _list(root: str | None) -> int:
    _, broken = saved_scenarios(root)  # scenario files saved in the run store
    for file, error in broken.items():
        print(f"saved scenario {file} cannot be used: {error}", file=sys.stderr)

    print("scenarios:")
    names = available(root)
    width = max(map(len, names))
    for name in names:
        marker = " (default)" if name == DEFAULT_SCENARIO else ""
        print(f"  {name:<{width}}  {describe(name, root)}{marker}")
    print("selectors:")
    for name in available_selectors():
        print(f"  {name}")
    return 0


def _upgrade(args: argparse.Namespace) -> int:
    from core.run.sweep import upgrade_store
    from core.storage.store import RUN_FORMAT_VERSION, RunStore

    store = RunStore(args.out)
    moved = upgrade_store(store)
    print(f"{len(moved)} run(s) of {store.root} brought to run format {RUN_FORMAT_VERSION}")
    return 0


def _check_table_scenario(scenario: str | None, root: str | None, runs: Any) -> None:
    """A ``--scenario`` that neither the registry, the store's saved scenarios nor any of its
    runs knows is refused, with the closest names."""
    if scenario is None:
        return
    known = sorted(set(available(root)) | set(runs["scenario"]))
    if scenario not in known:
        raise ForgeLensError(
            f"--scenario={scenario!r} is not a known scenario{suggest(scenario, known)}; "
            f"allowed: {', '.join(known)}"
        )


def _table(args: argparse.Namespace) -> int:
    validate_params(TABLE_CONSTRAINTS, vars(args))
    import pandas as pd

    from core.analysis import reports
    from core.storage.store import RunStore

    store = RunStore(args.out)
    runs = store.finished_runs()
    _check_table_scenario(args.scenario, args.out, runs)
    if args.scenario is not None:
        runs = runs[runs["scenario"] == args.scenario]
    if args.adaptation is not None:
        runs = runs[runs["adaptation"] == args.adaptation]
    set_aside = reports.set_aside_runs(store)
    if runs.empty:
        where = f" for scenario {args.scenario!r}" if args.scenario else ""
        where += f" with {args.adaptation} adaptation" if args.adaptation else ""
        print(f"no finished runs in {store.root}{where}; start one with `python -m core run`")
        if len(set_aside):
            print(
                f"{len(set_aside)} damaged run(s) were set aside: `python -m core list --damaged`"
            )
        return 1
    runs = reports.with_settings(store, runs)
    kinds = ("accuracy", "correlation") if args.kind == "all" else (args.kind,)
    if args.format == "csv":
        return _table_csv(store, runs, kinds, args.split, set_aside)
    with pd.option_context(
        "display.width",
        250,
        "display.max_columns",
        40,
        "display.max_rows",
        1000,
        "display.max_colwidth",
        80,
    ):
        for label, group in runs.groupby("experiment_label", sort=True):
            ids = group["run_id"].tolist()
            sources = group["source_seed"].nunique()
            models = f", {sources} source models" if sources > 1 else ""
            print(f"\n######## {label} ({len(ids)} runs{models})")
            notice = reports.set_aside_notice(
                set_aside, group["experiment"].iloc[0], group["scenario"].iloc[0]
            )
            if notice:
                print(f"note: {notice}")
            plugins = _plugin_lines(store, group)
            if plugins:
                print("selectors: " + "; ".join(plugins))
            if "accuracy" in kinds:
                _print_accuracy(store, ids, group, args.split)
            if "correlation" in kinds:
                _print_correlation(store, ids)
            if "theory" in kinds:
                _print_theory(store, ids, args.wide)
            from core.analysis.domain_report import domain_table

            domains = domain_table(store, ids)
            if not domains.empty:  # several target domains: labels and accuracy per domain
                print("\n== by target domain, unselected pool accuracy in % (mean over seeds)")
                print(domains.round(3).to_string(index=False))
    return 0


def _plugin_lines(store: Any, group: Any) -> list[str]:
    """'typiclust = examples.typiclust:TypiClust(k_nn=20, ...)' for each plugin selector shown."""
    lines = {}
    for run_id, label in zip(group["run_id"], group["method_label"], strict=True):
        selector = store.load_config(run_id)["config"].get("selector")
        if isinstance(selector, dict) and label not in lines:
            params = ", ".join(f"{k}={v}" for k, v in (selector.get("params") or {}).items())
            lines[label] = f"{label} = {selector.get('source')}({params})"
    return list(lines.values())


def _print_accuracy(store: Any, ids: list[str], group: Any, split: str) -> None:
    from core.analysis import reports

    long = reports.accuracy_long(store, ids)
    part = long[(long["split"] == split) & (long["stage"] == "before")]
    mode = group["adaptation"].iloc[0]
    metric = task_of(SCENARIOS.get(group["scenario"].iloc[0])).metric
    summary = reports.accuracy_summary(long, split=split)
    print(
        f"\n== {split} {metric} after {mode} adaptation, % mean ± std (n seeds); "
        "Δ: mean paired difference to random over the same seeds [95% interval]; "
        "≈: not distinguishable at this number of seeds; source-only: "
        f"{100 * part['accuracy'].mean():.2f}"
    )
    print(reports.interval_note(summary))
    print(reports.accuracy_matrix(summary).to_string())


def _print_correlation(store: Any, ids: list[str]) -> None:
    import pandas as pd

    from core.analysis import reports

    corr = reports.correlation_summary(store, ids)
    several = bool((corr["n_source_models"] > 1).any())
    how = sorted(set(corr["spearman_interval"])) or ["t"]
    print(
        "\n== Figure 5: correlation of distance with loss-reduction gap; mean [95% "
        + " / ".join(how)
        + "]"
        + ("; src / seed: std across source models / across seeds within one" if several else "")
        + f"; [n/a]: {reports.TOO_FEW}; per seed: value [95% bootstrap over pairs]"
    )
    for stat in ("pearson", "spearman"):
        view = corr.assign(
            n=[
                f"{s}x{n // s}" if s > 1 else str(n)
                for s, n in zip(corr["n_source_models"], corr["n_seeds"], strict=True)
            ],
            value=[
                f"{m:+.3f} " + (f"[{lo:+.3f}, {hi:+.3f}]" if pd.notna(hi) else "[n/a]")
                for m, lo, hi in zip(
                    corr[stat], corr[f"{stat}_low"], corr[f"{stat}_high"], strict=True
                )
            ],
            src=corr[f"{stat}_source_std"].round(3),
            seed=corr[f"{stat}_seed_std"].round(3),
        )
        columns = ["method_label", "budget", "space", "n", "value"]
        columns += ["src", "seed"] if several else []
        print(f"\n{stat}:")
        print(
            view[[*columns, f"{stat}_per_seed"]]
            .rename(columns={"method_label": "method", f"{stat}_per_seed": "per seed"})
            .to_string(index=False)
        )


def _print_theory(store: Any, ids: list[str], wide: bool) -> None:
    from core.analysis import reports

    table = reports.theory_table(store, ids)
    print(
        "\n== Theorem 4 and Proposition 2, per run and space (see README, 'What the theorem needs')"
    )
    if wide:
        print(
            table.drop(columns=["experiment", "experiment_label", "setting", "run_id"])
            .round(4)
            .to_string(index=False)
        )
        return
    view, legend = reports.theory_brief(table)
    print(view.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    print("columns (--wide: every column, as --format csv):")
    print("\n".join(legend))


def _table_csv(store: Any, runs: Any, kinds: Sequence[str], split: str, set_aside: Any) -> int:
    """The tables as one CSV on stdout: a ``table`` column names each row's table; the set-aside
    notice goes to stderr."""
    import pandas as pd

    from core.analysis import reports

    frames = []
    for _, group in runs.groupby("experiment_label", sort=True):
        ids = group["run_id"].tolist()
        label = {"experiment_label": group["experiment_label"].iloc[0]}
        notice = reports.set_aside_notice(
            set_aside, group["experiment"].iloc[0], group["scenario"].iloc[0]
        )
        if notice:
            print(f"note ({label['experiment_label']}): {notice}", file=sys.stderr)
        if "accuracy" in kinds:
            summary = reports.accuracy_summary(reports.accuracy_long(store, ids), split=split)
            frames.append(summary.assign(table="accuracy", split=split, **label))
        if "correlation" in kinds:
            frames.append(
                reports.correlation_summary(store, ids).assign(table="correlation", **label)
            )
        if "theory" in kinds:
            frames.append(reports.theory_table(store, ids).assign(table="theory"))
    every = pd.concat(frames, ignore_index=True)
    first = ["table", "experiment_label"]
    every = every[first + [c for c in every.columns if c not in first]]
    every.to_csv(sys.stdout, index=False)
    return 0


def _print_foreign_cause(error: BaseException) -> None:
    """The traceback of what caused ``error`` when it failed in code outside ForgeLens (a
    plugin's import or its selector): its author needs the line, not only our sentence."""
    import traceback

    cause = error.__cause__
    if cause is None:
        return
    ours = str(Path(__file__).resolve().parents[1])
    frames = traceback.extract_tb(cause.__traceback__)
    if any(not str(Path(frame.filename).resolve()).startswith(ours) for frame in frames):
        traceback.print_exception(cause, file=sys.stderr)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """A warning as one line that names what it is about (the scenario and its files say so
    in the message), not the ForgeLens source line that raised it."""
    print(f"warning: {message}", file=file or sys.stderr)


def console() -> int:
    """The process entry point (``python -m core``, ``forgelens``): a process of its own, so it
    keeps freed memory (sweeps free and reallocate blocks of 100s of MB, ``core.base.memory``);
    ``main`` called from other code leaves its caller's process as it is."""
    keep_freed_memory()
    return main()


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    with warnings.catch_warnings():
        warnings.simplefilter("once")  # each warning once, however often its file is read
        warnings.showwarning = _show_warning
        # umap-learn's notice at import about a feature we never use, not about the user's data
        warnings.filterwarnings("ignore", message="Tensorflow not installed")
        return _dispatch(args)


def _dispatch(args: argparse.Namespace) -> int:
    try:
        if args.command == "run":
            return _run(args)
        if args.command == "list":
            return _damaged(args.out) if args.damaged else _list(args.out)
        if args.command == "clean":
            return _clean(args.out)
        if args.command == "upgrade":
            return _upgrade(args)
        if args.command == "scenarios":
            return scenario_files.run(args)
        if args.command in ("qa", "reward"):
            return run_files(args, ProgressReporter(args.progress, args.quiet))
        if args.command in PICK_COMMANDS:
            return run_pick(args)
        return _table(args)
    except ForgeLensError as error:
        _print_foreign_cause(error)
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "interrupted: finished runs are kept, the unfinished one will be redone",
            file=sys.stderr,
        )
        return 130


if __name__ == "__main__":  # pragma: no cover
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
