"""Atomic file writes (a temporary file in the same folder, then one rename) and config ids.

The lowest part of the storage layer: integrity (checksum sidecars, quarantine records) and the
run store both write through ``write_atomic``, so no reader ever sees half a file.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

TMP_PREFIX = ".tmp-"
_UMASK = os.umask(0)
os.umask(_UMASK)


def config_id(config: dict[str, Any], length: int = 16) -> str:
    """A stable hash of a JSON-serialisable config (key order does not matter)."""
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def write_atomic(path: Path, write: Callable[[Path], None]) -> None:
    """The one atomic writer: ``write(tmp)`` fills a temporary file in ``path``'s folder, which
    then replaces ``path`` in one rename; on error the temporary file goes and ``path`` is
    untouched. The file gets the usual permissions (mkstemp's are 0600; stores are shared)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=TMP_PREFIX, dir=path.parent, suffix=path.suffix)
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)
        os.close(fd)
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (``write_atomic``)."""
    write_atomic(path, lambda tmp: tmp.write_bytes(data))


def write_json_atomic(path: Path, payload: dict[str, Any]) -> None:
    write_bytes_atomic(path, json.dumps(payload, indent=2, sort_keys=True, default=str).encode())


def write_parquet_atomic(path: Path, frame: pd.DataFrame) -> None:
    write_atomic(path, lambda tmp: frame.to_parquet(tmp, index=False))
