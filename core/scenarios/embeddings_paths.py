"""Which files an embeddings file may be (``core.scenarios.embeddings_file`` reads them), checked
with the standard library only, so the command line names a bad path before numpy or torch
load."""

from __future__ import annotations

from pathlib import Path

from core.base.validation import ForgeLensError

SUFFIXES = (".npz", ".parquet", ".safetensors")


def check_embeddings_path(path: str | Path) -> Path:
    """``path`` if it is an existing file with a known suffix (nothing is read)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise ForgeLensError(
            f"embeddings file {str(path)!r} does not exist; allowed: an existing "
            f"{', '.join(SUFFIXES)} file holding z and logits"
        )
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise ForgeLensError(
            f"embeddings file {str(path)!r} has suffix {suffix!r}; allowed: {', '.join(SUFFIXES)}"
        )
    return path
