"""Serve the dashboard: ``python -m dashboard.serve [streamlit run options]`` (``make run``).

``streamlit run dashboard/app.py`` with one difference: the heavy modules the pages need (pandas,
pyarrow, plotly, scipy.stats, the report builders, the figures) are imported before the server
starts listening, not during the first visit. On a 2-core laptop that moves about
0.7 s (1.7 s of imports) from the first page view to the server's start-up, before the URL is
printed; ``dashboard.warmup`` then finds them loaded. torch too (the teaching view's k-center is
the real selector): 2 s more at start-up, instead of on that page's first visit. Unlike a
background import (``dashboard.warmup`` never does torch), nobody can click meanwhile.
"""

from __future__ import annotations

import sys
from pathlib import Path

APP = Path(__file__).resolve().with_name("app.py")
PRELOAD = (
    "pandas",
    "pyarrow.parquet",
    "core.storage.store",
    "core.analysis.toy",
)  # + warmup.MODULES; toy: torch
# not the dashboard's cached loaders: a st.cache_* made before the server runs has no runtime


def preload() -> None:
    """Import the heavy modules the first visit would (``PRELOAD`` and ``warmup.MODULES``) and
    build one figure of every trace type (``warmup.warm_figures``)."""
    from dashboard import warmup

    for name, error in warmup.import_modules(PRELOAD + warmup.MODULES).items():
        print(f"forgelens: could not preload {name}: {error}", file=sys.stderr)
    try:
        warmup.warm_figures()
    except Exception as error:  # noqa: BLE001 - reported; the pages draw their own figures
        print(f"forgelens: could not warm plotly: {error}", file=sys.stderr)


def main(argv: list[str] | None = None) -> None:
    preload()
    from streamlit.web import cli

    sys.argv = ["streamlit", "run", str(APP), *(sys.argv[1:] if argv is None else argv)]
    cli.main()


if __name__ == "__main__":
    main()
