"""Where the run store is and what its folders are called, without loading the store's table
code (numpy, pandas): the CLI answers bad arguments before anything heavy is imported, and the
dashboard's job queue names the jobs folder as the store does."""

from __future__ import annotations

import os
from pathlib import Path

RUNS_ENV = "FORGELENS_RUNS"
# the store's own folders next to its runs: prepared pools, source models, background jobs
POOLS, MODELS, JOBS = "_pools", "_models", "_jobs"


def default_root() -> Path:
    """The run store folder: ``$FORGELENS_RUNS`` when set, else ``runs/`` in the working
    directory."""
    return Path(os.environ.get(RUNS_ENV) or "runs")


def store_root(root: str | os.PathLike[str] | None) -> Path:
    """``root`` as a Path, or the default run store folder when None."""
    return Path(root) if root is not None else default_root()
