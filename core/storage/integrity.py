"""Integrity of what ForgeLens keeps on disk: checksums, safe ids, quarantine.

- A finished folder (a run, a pool) carries a manifest in its ``DONE`` marker: the run-format
  version and the SHA-256 of every file written with it. ``verify_folder`` checks it. An empty
  marker is the first format (before checksums): such a folder is only checked structurally
  (JSON parses, Parquet footers and ``.npz`` archives read), "unverified, format 1".
- A single cache file (a UMAP layout, backbone features, a source model, rendered fonts) carries
  a ``<file>.sha256`` sidecar written after it (``seal``); ``check_file`` says whether it still
  matches. A cache without a sidecar predates checksums and is trusted if it loads.
- Something that fails verification is moved aside into a ``_quarantine`` folder with a JSON
  record of what and why (``quarantine``); it is never deleted, and whoever needs it rebuilds it.
- Every id read from disk becomes a path only after ``check_id``: one plain path component,
  so ``"../../x"`` can never leave the store.

Verification is cached per process by the (name, size, mtime) of the folder's files, so pages
that list the store many times hash each run once.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import threading
import time
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from core.base.validation import ForgeLensError
from core.storage.atomic import write_bytes_atomic, write_json_atomic

ALGORITHM = "sha256"
QUARANTINE = "_quarantine"
SIDECAR_SUFFIX = ".sha256"
ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}\Z")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._+-]{0,127}\Z")  # scenario, selector, mode
_CHUNK = 1 << 20
_lock = threading.Lock()
_verified: dict[tuple[str, str], tuple[tuple[Any, ...], str | None]] = {}


class DamagedError(ForgeLensError):
    """A stored file or folder failed verification (it has been quarantined when possible)."""


def check_id(kind: str, value: Any) -> str:
    """``value`` if it is a plain id (letters, digits, ``.``, ``_``, ``-``; no path parts)."""
    if not isinstance(value, str) or not ID_PATTERN.match(value):
        raise ForgeLensError(
            f"{kind}={value!r} is not a valid id; allowed: 1-128 letters, "
            "digits, '.', '_' or '-', starting with a letter or digit"
        )
    return value


def inside(root: Path, path: Path) -> Path:
    """``path`` if it resolves inside ``root``; refuses anything that would leave the store."""
    resolved, base = path.resolve(), root.resolve()
    if resolved != base and base not in resolved.parents:
        raise ForgeLensError(
            f"path={str(path)!r} is outside the run store {str(base)!r}; "
            "allowed: paths inside the store"
        )
    return path


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


# ---- folders with a manifest in their DONE marker ---------------------------------------------
def manifest(folder: Path, format_version: int, exclude: Iterable[str] = ()) -> bytes:
    """The DONE marker's content for ``folder``: format version and checksum of every file."""
    skip = set(exclude)
    files = {
        p.name: sha256_file(p)
        for p in sorted(folder.iterdir())
        if p.is_file() and p.name not in skip
    }
    payload = {"format": format_version, "algorithm": ALGORITHM, "files": files}
    return json.dumps(payload, indent=1, sort_keys=True).encode()


def _stamp(folder: Path) -> tuple[Any, ...]:
    with os.scandir(folder) as entries:
        return tuple(
            sorted((e.name, e.stat().st_size, e.stat().st_mtime_ns) for e in entries if e.is_file())
        )


def verify_folder(
    folder: Path, marker: str = "DONE", members: Iterable[str] | None = None
) -> str | None:
    """None when ``folder`` is intact, else a short reason. Cached per process by file stamps.

    ``members``: the files a format-1 folder (no manifest) is checked for structure (default:
    all); later files with their own checksum (a pool's UMAP caches) are not the folder's.
    A run whose config.json is of format 2 or later always needs its manifest: emptying its
    marker never makes a changed file "format 1, structure checked only".
    """
    try:
        stamp = _stamp(folder)
    except OSError as error:
        return f"unreadable folder ({error.strerror})"
    key = (str(folder), marker)
    with _lock:
        cached = _verified.get(key)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    reason = _verify_folder(folder, marker, None if members is None else set(members))
    with _lock:
        _verified[key] = (stamp, reason)
    return reason


def folder_format(folder: Path, marker: str = "DONE") -> int:
    """1 for an empty (pre-checksum) marker, else the version recorded in it (0 if unreadable)."""
    try:
        text = (folder / marker).read_bytes()
        return 1 if not text.strip() else int(json.loads(text)["format"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0


def _declared_format(folder: Path) -> int:
    """The run format a folder's config.json shows: its ``format``, else 2 when it records the
    selector's parameters (which only format 2 added), else 1 (also for no config at all)."""
    try:
        config = json.loads((folder / "config.json").read_bytes()).get("config", {})
        version = config.get("format", 2 if "selector_params" in config else 1)
        return version if isinstance(version, int) and not isinstance(version, bool) else 1
    except (OSError, ValueError, AttributeError):
        return 1


def _verify_folder(folder: Path, marker: str, members: set[str] | None) -> str | None:
    try:
        text = (folder / marker).read_bytes()
    except OSError:
        return f"{marker} marker missing"
    if not text.strip():
        declared = _declared_format(folder)
        if declared >= 2:
            return f"{marker} marker is empty, but a run of format {declared} lists checksums"
        return _structure(
            folder,
            [
                p.name
                for p in folder.iterdir()
                if p.is_file() and p.name != marker and (members is None or p.name in members)
            ],
        )
    try:
        payload = json.loads(text)
        files = dict(payload["files"])
    except (ValueError, KeyError, TypeError):
        return f"{marker} marker unreadable"
    for name, expected in files.items():
        path = folder / str(name)
        if not ID_PATTERN.match(str(name)):
            return f"{marker} lists a bad file name {name!r}"
        try:
            actual = sha256_file(path)
        except OSError:
            return f"{name} missing"
        if actual != expected:
            return f"{name} does not match its checksum"
    return None


def _structure(folder: Path, names: Iterable[str]) -> str | None:
    """Checks of a format-1 folder: every JSON parses, every Parquet and .npz opens."""
    import pyarrow.parquet as pq

    for name in sorted(names):
        path = folder / name
        try:
            if name.endswith(".json"):
                json.loads(path.read_text())
            elif name.endswith(".parquet"):
                pq.read_metadata(path)
            elif name.endswith(".npz"):
                with zipfile.ZipFile(path) as archive:
                    if archive.testzip() is not None:
                        return f"{name} is damaged"
        except Exception as error:  # noqa: BLE001 - any failure to parse means damaged
            return f"{name} is damaged ({type(error).__name__})"
    return None


def forget(folder: Path) -> None:
    """Drop the cached verification of ``folder`` (after it moved or was rewritten)."""
    with _lock:
        for key in [k for k in _verified if k[0] == str(folder)]:
            del _verified[key]


# ---- single files with a checksum sidecar -----------------------------------------------------
def sidecar(path: Path) -> Path:
    return path.with_name(path.name + SIDECAR_SUFFIX)


def seal(path: Path) -> None:
    """Record ``path``'s checksum next to it (written atomically, after the file)."""
    write_bytes_atomic(sidecar(path), (sha256_file(path) + "\n").encode())


def check_file(path: Path) -> str | None:
    """None when ``path`` matches its sidecar or has none (older cache), else a reason."""
    try:
        expected = sidecar(path).read_text().strip()
    except FileNotFoundError:
        return None
    except OSError as error:
        return f"{sidecar(path).name} unreadable ({error.strerror})"
    try:
        actual = sha256_file(path)
    except OSError as error:
        return f"{path.name} unreadable ({error.strerror})"
    return None if actual == expected else f"{path.name} does not match its checksum"


def verify_sealed(top: Path, into: Path, kind: str) -> list[str]:
    """Check every file under ``top`` that carries a checksum sidecar (the caches: UMAP layouts,
    previews, tangent norms, features, source models); quarantine into ``into`` each one that no
    longer matches. Returns the reasons (``core list --damaged``)."""
    reasons = []
    if not top.is_dir():
        return reasons
    for mark in sorted(top.rglob(f"*{SIDECAR_SUFFIX}")):
        if QUARANTINE in mark.parts or mark.name.startswith("."):
            continue
        path = mark.with_name(mark.name[: -len(SIDECAR_SUFFIX)])
        if not path.is_file():
            continue
        reason = check_file(path)
        if reason is not None:
            quarantine(path, into, kind=kind, reason=f"{path.parent.name}: {reason}")
            reasons.append(reason)
    return reasons


# ---- quarantine -------------------------------------------------------------------------------
def quarantine(path: Path, into: Path, *, kind: str, reason: str) -> Path | None:
    """Move ``path`` (file or folder, with a file's sidecar) into ``into``/_quarantine and write
    a record next to it. Returns the new place, or None when nothing could be moved (it is gone
    already, or the store is read-only)."""
    folder = into / QUARANTINE
    when = time.strftime("%Y%m%d-%H%M%S")
    target = folder / f"{kind}-{path.name}-{when}-{secrets.token_hex(3)}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        os.rename(path, target)
    except OSError:
        return None
    with contextlib.suppress(OSError):
        os.rename(sidecar(path), sidecar(target))
    forget(path)
    record = {
        "kind": kind,
        "id": path.name,
        "original": str(path),
        "reason": reason,
        "quarantined": time.time(),
        "moved_to": target.name,
    }
    with contextlib.suppress(OSError):
        write_json_atomic(folder / f"{target.name}.json", record)
    return target


def quarantined(into: Path) -> list[dict[str, Any]]:
    """Records of everything quarantined under ``into``, newest first (unreadable ones named)."""
    folder = into / QUARANTINE
    if not folder.is_dir():
        return []
    records = []
    for path in folder.glob("*.json"):
        try:
            record = json.loads(path.read_text())
            if not isinstance(record, dict):
                raise ValueError("not an object")
        except (OSError, ValueError):
            record = {
                "kind": "?",
                "id": path.stem,
                "reason": "quarantine record unreadable",
                "quarantined": 0.0,
                "moved_to": path.stem,
            }
        records.append(
            {
                key: record.get(key)
                for key in ("kind", "id", "reason", "quarantined", "moved_to", "original")
            }
        )
    return sorted(records, key=lambda r: -float(r.get("quarantined") or 0.0))
