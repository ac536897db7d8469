"""CLI sweeps on a user's files (``python -m core qa`` and ``python -m core reward``): span QA on
SQuAD-layout JSON (``squad-files``) and reward models on hh-rlhf-layout JSONL
(``hh-rlhf-files``), each with a local Hugging Face model folder."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

from core.run.constraints import DEFAULT_BUDGETS, DEFAULT_SEEDS
from core.scenarios import build_scenario, scenario_entry
from core.selection import default_methods
from core.tasks import get_task

# subcommand -> the built-in scenario it builds from the files, and that scenario's task
FILE_COMMANDS = {"qa": "squad-files", "reward": "hh-rlhf-files"}
FILE_TASKS = {"qa": "qa", "reward": "reward"}


def add_parsers(commands: Any, csv: Callable[..., Any]) -> None:
    """The ``qa`` and ``reward`` subcommands."""
    helps = {
        "qa": (
            "span-QA sweep on local SQuAD-layout JSON files and a local Hugging Face "
            "AutoModelForQuestionAnswering folder (see README)",
            "SQuAD-layout JSON",
        ),
        "reward": (
            "reward-model sweep on local hh-rlhf-layout JSONL files (chosen, "
            "rejected) and a local Hugging Face model folder (see README)",
            "hh-rlhf-layout JSONL",
        ),
    }
    for command, (text, layout) in helps.items():
        sub = commands.add_parser(command, help=text)
        sub.add_argument("--source-file", required=True, help=f"source-domain {layout}")
        sub.add_argument("--target-file", required=True, help=f"target-domain {layout}")
        sub.add_argument(
            "--model-dir", required=True, help="a local model folder (save_pretrained layout)"
        )
        sub.add_argument("--max-length", type=int, default=256, help="tokens per input")
        sub.add_argument("--max-source", type=int, default=None, help="first n source items")
        sub.add_argument("--max-target", type=int, default=None, help="first n target items")
        if command == "reward":
            sub.add_argument(
                "--pooling",
                default="mean",
                help="mean (encoders) or last (the last real token: GPT-2)",
            )
        entry = scenario_entry(FILE_COMMANDS[command])
        task = get_task(FILE_TASKS[command])  # naming its selectors, it sweeps them by default
        methods = list(task.selectors or default_methods())
        sub.add_argument("--methods", type=csv("methods", str, "selector names"), default=methods)
        sub.add_argument(
            "--budgets",
            type=csv("budgets", float, "fractions in (0, 1]"),
            default=list(DEFAULT_BUDGETS),
        )
        sub.add_argument(
            "--seeds", type=csv("seeds", int, "non-negative integers"), default=list(DEFAULT_SEEDS)
        )
        sub.add_argument("--adaptation", default=entry.adaptation, help="full or head")
        sub.add_argument("--out", default=None, help="run store folder")
        sub.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
        sub.add_argument("--progress", default=None, help="also append progress events (JSON)")
        sub.add_argument("--quiet", action="store_true", help="no progress bars")


def run(args: argparse.Namespace, reporter: Any) -> int:
    """Build the file scenario of ``args.command`` and sweep it."""
    from core.run.sweep import run_sweep  # loads torch: only once the arguments are checked

    name = FILE_COMMANDS[args.command]
    started = time.perf_counter()
    params = {
        "source_file": args.source_file,
        "target_file": args.target_file,
        "model_dir": args.model_dir,
        "max_length": args.max_length,
        "max_source": args.max_source,
        "max_target": args.max_target,
    }
    if args.command == "reward":
        params["pooling"] = args.pooling
    scenario = build_scenario(name, **params)
    try:
        run_ids = run_sweep(
            name,
            args.methods,
            args.budgets,
            args.seeds,
            root=args.out,
            device=args.device,
            adaptation=args.adaptation,
            progress=reporter,
            built=scenario,
        )
    except BaseException as error:
        reporter.close(f"{type(error).__name__}: {error}", ok=False)
        raise
    seconds = time.perf_counter() - started
    reporter.close(f"{len(run_ids)} runs in {seconds:.1f} s")
    print(
        f"{len(run_ids)} runs of {name} in {seconds:.1f} s; `python -m core table --scenario "
        f"{name}` prints them"
    )
    return 0
