"""``python -m core qa``: a span-QA sweep on local files (the ``squad-files`` scenario)."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

from core.tasks import QA_SELECTORS


def add_parser(commands: Any, csv: Callable[..., Any]) -> None:
    qa = commands.add_parser("qa", help="span-QA sweep on local SQuAD JSON files and a local "
                                        "Hugging Face QA model directory (see README)")
    qa.add_argument("--source-file", required=True, help="source-domain SQuAD-layout JSON")
    qa.add_argument("--target-file", required=True, help="target-domain SQuAD-layout JSON")
    qa.add_argument("--model-dir", required=True,
                    help="a local AutoModelForQuestionAnswering folder (save_pretrained layout)")
    qa.add_argument("--max-length", type=int, default=256, help="tokens per question + context")
    qa.add_argument("--max-source", type=int, default=None, help="first n source questions")
    qa.add_argument("--max-target", type=int, default=None, help="first n target questions")
    qa.add_argument("--methods", type=csv("methods", str, "selector names"),
                    default=list(QA_SELECTORS))
    qa.add_argument("--budgets", type=csv("budgets", float, "fractions in (0, 1]"),
                    default=[0.05, 0.1])
    qa.add_argument("--seeds", type=csv("seeds", int, "non-negative integers"), default=[0, 1, 2])
    qa.add_argument("--adaptation", default="full", help="full (default) or head")
    qa.add_argument("--out", default=None, help="run store folder")
    qa.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    qa.add_argument("--progress", default=None, help="also append progress events (JSON lines)")
    qa.add_argument("--quiet", action="store_true", help="no progress bars")


def run(args: argparse.Namespace, reporter: Any) -> int:
    from core.experiment import run_sweep
    from core.scenarios import build_scenario

    started = time.perf_counter()
    scenario = build_scenario("squad-files", source_file=args.source_file,
                              target_file=args.target_file, model_dir=args.model_dir,
                              max_length=args.max_length, max_source=args.max_source,
                              max_target=args.max_target)  # fmt: skip
    try:
        run_ids = run_sweep("squad-files", args.methods, args.budgets, args.seeds, root=args.out,
                            device=args.device, adaptation=args.adaptation, progress=reporter,
                            built=scenario)  # fmt: skip
    except BaseException as error:
        reporter.close(f"{type(error).__name__}: {error}", ok=False)
        raise
    seconds = time.perf_counter() - started
    reporter.close(f"{len(run_ids)} runs in {seconds:.1f} s")
    print(f"{len(run_ids)} span-QA runs in {seconds:.1f} s; `python -m core table --scenario "
          "squad-files` prints them")
    return 0
