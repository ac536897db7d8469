"""Where the run store is, without loading the store's table code (numpy, pandas): the CLI
answers bad arguments before anything heavy is imported."""

from __future__ import annotations

import os
from pathlib import Path

RUNS_ENV = "FORGELENS_RUNS"


def default_root() -> Path:
    """The run store folder: ``$FORGELENS_RUNS`` when set, else ``runs/`` in the working
    directory."""
    return Path(os.environ.get(RUNS_ENV) or "runs")


def store_root(root: str | os.PathLike[str] | None) -> Path:
    """``root`` as a Path, or the default run store folder when None."""
    return Path(root) if root is not None else default_root()
