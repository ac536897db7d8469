"""Time cached re-renders of every dashboard page on a 5,000-sample store (a script, not a test).

python benchmarks/bench_render.py [--n 5000]: builds a synthetic store (3 selectors x 2 seeds),
opens each page once to fill the caches, then prints the best of 3 re-render times per page and
the teaching view's time per +1 pick. Target: every cached re-render under one second.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from PIL import Image  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402

from benchmarks.synthetic_store import write_synthetic_store  # noqa: E402
from core.storage.store import RUNS_ENV  # noqa: E402
from dashboard import loaders  # noqa: E402
from dashboard.navigation import PAGES  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=5000, help="pool size")
    args = parser.parse_args()
    logging.getLogger("streamlit").setLevel(logging.ERROR)  # bare-mode warnings are expected
    with tempfile.TemporaryDirectory() as root:
        write_synthetic_store(
            Path(root), n=args.n, methods=("random", "badge", "forge"), budgets=(0.1,), seeds=(0, 1)
        )
        os.environ[RUNS_ENV] = root
        blank = Image.new("L", (56, 56))  # the synthetic scenario has no images
        loaders.thumbnails = lambda name, indices, params=None: [blank] * len(indices)
        at = AppTest.from_file(str(REPO / "dashboard" / "app.py"), default_timeout=300).run()
        print(f"pool N={args.n}; cached re-render, best of 3 (seconds)")
        worst = 0.0
        for spec in PAGES:
            page = spec.url_path
            at.switch_page(f"../pages/{spec.file}").run()
            seconds = []
            for _ in range(3):
                start = time.perf_counter()
                at.run()
                seconds.append(time.perf_counter() - start)
            worst = max(worst, min(seconds))
            print(f"  {page:<11} {min(seconds):6.3f}   (max {max(seconds):.3f})")
        plus = next(b for b in at.button if b.label == "+1 pick")
        steps = []
        for _ in range(5):
            start = time.perf_counter()
            plus.click().run()
            steps.append(time.perf_counter() - start)
        print(f"teaching view, +1 pick: best {min(steps):.3f} s, worst {max(steps):.3f} s")
        print(f"slowest page {worst:.3f} s; target < 1 s: {'met' if worst < 1 else 'NOT met'}")


if __name__ == "__main__":
    main()
