"""A stand-in for ``python -m core run`` that the job queue's runner starts in tests
(``FORGELENS_JOB_MODULE=tests.helpers.fake_cli``): it prints what it was given, its CPU
priority and whether it holds a job secret, then ends at once (scenario ``quick``) or waits
(scenario ``slow``, after printing ``ready``). Standard library only: it starts in milliseconds."""

from __future__ import annotations

import json
import os
import sys
import time


def main(argv: list[str]) -> int:
    report = {
        "argv": argv,
        "nice": os.nice(0),
        "has_secret": bool(os.environ.get("FORGELENS_JOB_SECRET")),
        "pid": os.getpid(),
    }
    print("fake_cli " + json.dumps(report), flush=True)
    scenario = argv[argv.index("--scenario") + 1]
    progress = argv[argv.index("--progress") + 1]
    if scenario == "slow":
        print("ready", flush=True)
        time.sleep(120)
    with open(progress, "a") as handle:
        handle.write(json.dumps({"stage": "finished", "message": "fake", "done": True}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
