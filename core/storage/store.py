"""The run store: one folder per run, named by a hash of its full config, written atomically.

Layout (see README, "Run store"):
    <root>/<run_id>/        config.json, selection/accuracy/samples/pairs/summary .parquet, DONE
    <root>/_pools/<id>/     pool embeddings of one source model, stored once (+ cached UMAPs)
    <root>/_models/         cached source models
    <root>/_jobs/           progress logs of CLI sweeps
    <root>/_quarantine/     runs, pools and caches that failed verification, moved aside

A run is built in a hidden temporary folder and renamed into place with the completion marker
already inside, so a reader never sees half a run: a finished run is reused, an interrupted one
left only a temporary folder behind and is redone. Two processes writing different runs never
touch the same paths; two writing the same run race on one rename and the loser discards its copy.

``RUN_FORMAT_VERSION`` is the layout and config of a run folder, recorded in every run config
(so part of every run id) as ``config["format"]``. Format 1 (no version recorded) lacks the
selector's parameters; format 2 adds them (``config["selector_params"]``). Older runs are read;
a newer format is refused with a message saying so.

The marker records ``RUN_FORMAT_VERSION`` and the SHA-256 of every file of the folder
(``core.storage.integrity``). Readers verify it once per process: a run or pool that fails is moved
to
``<root>/_quarantine/`` (never deleted), left out of every listing and table, and redone by the
next sweep that asks for it. An empty marker is format 1 (older stores): read, checked only for
structure. Ids read from disk become paths only after ``core.storage.integrity.check_id``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import socket
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from core.base.paths import JOBS, MODELS, POOLS, default_root  # the folder names: also read here
from core.base.paths import RUNS_ENV as RUNS_ENV  # re-exported: callers import it from here
from core.base.processes import pid_alive
from core.base.validation import ForgeLensError, check_choice
from core.storage.atomic import TMP_PREFIX, write_bytes_atomic, write_json_atomic
from core.storage.integrity import (
    NAME_PATTERN,
    DamagedError,
    check_id,
    folder_format,
    forget,
    inside,
    manifest,
    quarantine,
    quarantined,
    verify_folder,
)

RUN_FORMAT_VERSION = 2
DONE = "DONE"
TABLES = ("selection", "accuracy", "samples", "pairs", "summary")
_MEMBERS = {
    "run": ("config.json", *(f"{t}.parquet" for t in TABLES)),
    "pool": ("meta.json", "pool.parquet", "embeddings.npz"),
}
STALE_SECONDS = (
    3600  # a writer stages a folder for seconds; older staging of unknown writers is dead
)
_STAGING = re.compile(
    r"^\.tmp-(?P<name>.+?)(?:@(?P<writer>[0-9a-f]{12}))?-(?P<pid>\d+)-[0-9a-f]{8}$"
)


def run_format(info: dict[str, Any]) -> int:
    """The run format of a run's config.json: ``config["format"]``; runs written before the
    format was recorded are format 1 (the same tables; no selector parameters in the config)."""
    return int(info.get("config", {}).get("format", 1))


@contextlib.contextmanager
def staged_folder(final: Path) -> Iterator[Path]:
    """Yield a hidden temporary folder; on success rename it to ``final`` (marker included).

    If ``final`` appeared meanwhile (another process finished the same work), the staged copy is
    discarded. On error the staged folder is removed and nothing appears at ``final``.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = final.parent / (
        f"{TMP_PREFIX}{final.name}@{writer_tag()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    )
    staging.mkdir()
    try:
        yield staging
        (staging / DONE).write_bytes(manifest(staging, RUN_FORMAT_VERSION, exclude=(DONE,)))
        if final.exists() and not (final / DONE).exists():
            shutil.rmtree(final, ignore_errors=True)  # a folder without marker is not a run
        try:
            os.rename(staging, final)
        except OSError:
            if not (final / DONE).exists():
                raise
            shutil.rmtree(staging, ignore_errors=True)  # the other writer won; same content
        forget(final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def writer_tag() -> str:
    """Who stages a folder: host name, boot and pid namespace, hashed. A pid means something
    only to a writer with the same tag (same machine, same container)."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        boot = ""
    try:
        namespace = str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:
        namespace = ""
    text = f"{socket.gethostname()}|{boot}|{namespace}"
    return hashlib.sha256(text.encode()).hexdigest()[:12]


class RunStore:
    """Read and write runs, pools and progress logs under one root folder."""

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = Path(root) if root is not None else default_root()
        self._damaged_in_place: dict[str, dict[str, Any]] = {}

    # ---- runs -------------------------------------------------------------------------
    def run_dir(self, run_id: str) -> Path:
        return inside(self.root, self.root / check_id("run_id", run_id))

    def is_finished(self, run_id: str) -> bool:
        """True for a run whose marker is there and whose files verify (a damaged run is
        quarantined here, so the caller redoes it)."""
        folder = self.run_dir(run_id)
        return (folder / DONE).is_file() and self._intact(folder, "run")

    def _intact(self, folder: Path, kind: str) -> bool:
        reason = verify_folder(folder, DONE, _MEMBERS[kind])
        if reason is None:
            return True
        self.reject(folder, kind, reason)
        return False

    def _unreadable(self, folder: Path, kind: str, name: str, error: BaseException) -> None:
        """A file of a verified folder failed to read: quarantine the folder when it is damaged
        (checksums fail again, or a format-1 folder that cannot say); a folder whose checksums
        still match had a passing read error and is left alone."""
        forget(folder)
        if folder_format(folder) >= 2 and verify_folder(folder, DONE, _MEMBERS[kind]) is None:
            raise ForgeLensError(
                f"{kind} {folder.name}: {name} could not be read "
                f"({type(error).__name__}: {error}); its checksums match, so "
                "it was left in place; try again"
            ) from None
        self.reject(folder, kind, f"{name} unreadable ({type(error).__name__})")

    def reject(self, folder: Path, kind: str, reason: str) -> None:
        """Quarantine a damaged run or pool folder (or remember it when the store is read-only)."""
        if quarantine(folder, self.root, kind=kind, reason=reason) is None and folder.exists():
            self._damaged_in_place[folder.name] = {
                "kind": kind,
                "id": folder.name,
                "reason": reason,
                "moved_to": None,
                "quarantined": time.time(),
            }

    def damaged(self) -> list[dict[str, Any]]:
        """What failed verification: quarantined entries, and damaged ones that could not move."""
        return (
            list(self._damaged_in_place.values())
            + quarantined(self.root)
            + quarantined(self.root / MODELS)
        )

    def write_run(
        self, run_id: str, config: dict[str, Any], tables: dict[str, pd.DataFrame]
    ) -> Path:
        """Write one run atomically; ``tables`` maps names in TABLES to DataFrames."""
        unknown = set(tables) - set(TABLES)
        if unknown:
            raise ForgeLensError(
                f"tables={sorted(unknown)} not known; allowed: {', '.join(TABLES)}"
            )
        final = self.run_dir(run_id)
        with staged_folder(final) as staging:
            for name, frame in tables.items():
                frame.to_parquet(staging / f"{name}.parquet", index=False)
            (staging / "config.json").write_text(
                json.dumps(config, indent=2, sort_keys=True, default=str)
            )
        return final

    def move_run(self, run_id: str, new_id: str, info: dict[str, Any]) -> Path:
        """Give a finished run a new id and config.json (a run-format upgrade): a staged copy
        appears at ``new_id`` with its marker, then the old folder goes. Tables are copied."""
        old = self.run_dir(run_id)
        if new_id == run_id:
            write_json_atomic(old / "config.json", info)
            write_bytes_atomic(old / DONE, manifest(old, RUN_FORMAT_VERSION, exclude=(DONE,)))
            forget(old)
            return old
        with staged_folder(self.run_dir(new_id)) as staging:
            for name in TABLES:
                shutil.copy2(old / f"{name}.parquet", staging / f"{name}.parquet")
            (staging / "config.json").write_text(
                json.dumps(info, indent=2, sort_keys=True, default=str)
            )
        shutil.rmtree(old)
        return self.run_dir(new_id)

    def run_ids(self) -> list[str]:
        """Ids of the finished runs that verify (damaged ones are quarantined on the way)."""
        if not self.root.is_dir():
            return []
        return sorted(
            p.name
            for p in self.root.iterdir()
            if p.is_dir()
            and not p.name.startswith(("_", "."))
            and (p / DONE).is_file()
            and _id_ok(p.name)
            and self._intact(p, "run")
        )

    def _require_run(self, run_id: str) -> Path:
        folder = self.run_dir(run_id)
        if not (folder / DONE).is_file():
            raise ForgeLensError(f"run_id={run_id!r} is not a finished run in {self.root}")
        if not self._intact(folder, "run"):
            raise DamagedError(
                f"run_id={run_id!r} is damaged and was moved to "
                f"{self.root / '_quarantine'}; the next sweep that asks for it "
                "redoes it"
            )
        return folder

    def load_config(self, run_id: str) -> dict[str, Any]:
        """The run's config.json, verified; a run in a newer run format than this code reads is
        refused."""
        folder = self._require_run(run_id)
        try:
            info = json.loads((folder / "config.json").read_text())
            if not isinstance(info, dict):
                raise ValueError("not a JSON object")
        except (OSError, ValueError) as error:
            self._unreadable(folder, "run", "config.json", error)
            raise DamagedError(
                f"run_id={run_id!r}: config.json is damaged ({error}); the run "
                "was quarantined and will be redone"
            ) from None
        version = run_format(info)
        if version > RUN_FORMAT_VERSION:
            raise ForgeLensError(
                f"run {run_id} in {self.root} has run format {version}; this ForgeLens reads "
                f"formats 1 to {RUN_FORMAT_VERSION}: update ForgeLens to read it"
            )
        return info

    def load_table(
        self, run_id: str, name: str, columns: Sequence[str] | None = None
    ) -> pd.DataFrame:
        """One table of a finished run; only ``columns`` (those of them it has) when given:
        a summary over many runs then reads a fraction of each file."""
        check_choice("name", name, TABLES)
        folder = self._require_run(run_id)
        path = folder / f"{name}.parquet"
        try:
            if columns is not None:
                present = set(pq.read_schema(path).names)
                columns = [c for c in columns if c in present]
            return pd.read_parquet(path, columns=columns)
        except Exception as error:  # noqa: BLE001 - pyarrow raises many kinds on damage
            self._unreadable(folder, "run", f"{name}.parquet", error)
            raise DamagedError(
                f"run_id={run_id!r}: {name}.parquet is damaged "
                f"({type(error).__name__}); the run was quarantined and will "
                "be redone"
            ) from None

    def finished_runs(self) -> pd.DataFrame:
        """One row per finished run: its identifying config and a few headline facts.

        A run whose config lacks what identifies it, or names an invalid pool id, is damaged:
        quarantined and left out.
        """
        rows = []
        for run_id in self.run_ids():
            try:
                info = self.load_config(run_id)
                cfg = info["config"]
                problem = _config_problem(info)
            except ForgeLensError:
                continue  # damaged (quarantined), or a newer format (listed by refused_runs())
            except (KeyError, TypeError):
                problem = "config.json lacks the run's config"
            if problem:
                self.reject(self.run_dir(run_id), "run", problem)
                continue
            rows.append(
                {
                    "run_id": run_id,
                    "scenario": cfg["scenario"],
                    "method": cfg["method"],
                    "budget": cfg["budget"],
                    "seed": cfg["seed"],
                    "adaptation": cfg.get("adaptation", "full"),
                    "budget_count": info.get("budget_count"),
                    "pool_id": info.get("pool_id"),
                    "created": info.get("created"),
                    "total_seconds": info.get("timings", {}).get("total"),
                    "device": info.get("device"),
                    "format": run_format(info),
                }
            )
        columns = [
            "run_id",
            "scenario",
            "method",
            "budget",
            "seed",
            "adaptation",
            "budget_count",
            "pool_id",
            "created",
            "total_seconds",
            "device",
            "format",
        ]
        return pd.DataFrame(rows, columns=columns)

    def refused_runs(self) -> dict[str, str]:
        """Finished runs this code cannot read (a newer run format): run id -> why."""
        refused = {}
        for run_id in self.run_ids():
            try:
                self.load_config(run_id)
            except DamagedError:
                continue
            except ForgeLensError as error:
                refused[run_id] = str(error)
        return refused

    def unverified_run_ids(self) -> list[str]:
        """Finished runs written before checksums (format 1): read, but only structure-checked."""
        return [r for r in self.run_ids() if folder_format(self.run_dir(r)) < 2]

    # ---- pools ------------------------------------------------------------------------
    def pool_dir(self, pool_id: str) -> Path:
        return inside(self.root, self.root / POOLS / check_id("pool_id", pool_id))

    def has_pool(self, pool_id: str) -> bool:
        """True for a stored pool that verifies (a damaged one is quarantined and rebuilt by
        the next sweep on it)."""
        folder = self.pool_dir(pool_id)
        return (folder / DONE).is_file() and self._intact(folder, "pool")

    def write_pool(
        self,
        pool_id: str,
        meta: dict[str, Any],
        pool: pd.DataFrame,
        z: np.ndarray,
        logits: np.ndarray,
    ) -> Path:
        """Store a pool's embeddings once: meta.json, pool.parquet, embeddings.npz."""
        with staged_folder(self.pool_dir(pool_id)) as staging:
            (staging / "meta.json").write_text(
                json.dumps(meta, indent=2, sort_keys=True, default=str)
            )
            pool.to_parquet(staging / "pool.parquet", index=False)
            np.savez(staging / "embeddings.npz", z=z, logits=logits)
        return self.pool_dir(pool_id)

    def _require_pool(self, pool_id: str) -> Path:
        if not self.has_pool(pool_id):
            raise ForgeLensError(
                f"pool_id={pool_id!r} is not stored (or was damaged and "
                f"quarantined) in {self.root / POOLS}; the next sweep of its "
                "scenario stores it again"
            )
        return self.pool_dir(pool_id)

    def _read_pool_file(self, pool_id: str, name: str, read):
        folder = self._require_pool(pool_id)
        try:
            return read(folder / name)
        except Exception as error:  # noqa: BLE001 - any failure to parse means damaged
            self._unreadable(folder, "pool", name, error)
            raise DamagedError(
                f"pool_id={pool_id!r}: {name} is damaged; the pool was "
                "quarantined and the next sweep of its scenario stores it again"
            ) from None

    def load_pool(self, pool_id: str) -> pd.DataFrame:
        return self._read_pool_file(pool_id, "pool.parquet", pd.read_parquet)

    def load_pool_meta(self, pool_id: str) -> dict[str, Any]:
        def read(path: Path) -> dict[str, Any]:
            meta = json.loads(path.read_text())
            if not isinstance(meta, dict):
                raise ValueError("not a JSON object")
            names = meta.get("class_names")
            if names is not None and not (
                isinstance(names, list) and all(isinstance(n, str) for n in names)
            ):
                raise ValueError("class_names is not a list of texts")
            return meta

        return self._read_pool_file(pool_id, "meta.json", read)

    def load_embeddings(self, pool_id: str) -> tuple[np.ndarray, np.ndarray]:
        def read(path: Path) -> tuple[np.ndarray, np.ndarray]:
            with np.load(path, allow_pickle=False) as data:
                return data["z"], data["logits"]

        return self._read_pool_file(pool_id, "embeddings.npz", read)

    # ---- housekeeping -----------------------------------------------------------------
    @property
    def models_dir(self) -> Path:
        return self.root / MODELS

    @property
    def jobs_dir(self) -> Path:
        return self.root / JOBS

    def remove_stale_staging(self, *, everywhere: bool = False) -> list[Path]:
        """Delete temporary folders left by writers that died.

        Automatic (every sweep): only folders staged on this machine and in this pid namespace
        (``writer_tag``) by a process that no longer exists, or of an unknown writer and older
        than ``STALE_SECONDS``. Another machine's or container's live writer is never touched.
        ``everywhere`` (``python -m core clean``) also removes any staging older than
        ``STALE_SECONDS``, whoever wrote it: staging lasts seconds, so that writer is gone.
        """
        removed = []
        mine, now = writer_tag(), time.time()
        for parent in (self.root, self.root / POOLS):
            if not parent.is_dir():
                continue
            for path in parent.glob(f"{TMP_PREFIX}*"):
                match = _STAGING.match(path.name)
                if not path.is_dir() or match is None:
                    continue
                try:
                    old = now - path.stat().st_mtime > STALE_SECONDS
                except OSError:
                    continue
                writer, pid = match["writer"], int(match["pid"])
                if writer == mine:
                    stale = not pid_alive(pid)
                else:
                    stale = old and (everywhere or (writer is None and not pid_alive(pid)))
                if stale:
                    shutil.rmtree(path, ignore_errors=True)
                    removed.append(path)
        return removed


def _id_ok(name: str) -> bool:
    try:
        check_id("run_id", name)
    except ForgeLensError:
        return False
    return True


def _config_problem(info: dict[str, Any]) -> str | None:
    """Why a run's config.json cannot describe a run, or None."""
    cfg = info.get("config")
    if not isinstance(cfg, dict):
        return "config.json lacks the run's config"
    missing = [key for key in ("scenario", "method", "budget", "seed") if key not in cfg]
    if missing:
        return f"config.json lacks {', '.join(missing)}"
    if not (
        isinstance(cfg["scenario"], str)
        and isinstance(cfg["method"], str)
        and isinstance(cfg["budget"], int | float)
        and not isinstance(cfg["budget"], bool)
        and isinstance(cfg["seed"], int)
        and not isinstance(cfg["seed"], bool)
    ):
        return "config.json has a scenario, method, budget or seed of the wrong type"
    for key in ("scenario", "method", "adaptation"):
        if key in cfg and not (isinstance(cfg[key], str) and NAME_PATTERN.match(cfg[key])):
            return f"config.json has a {key} that is not a plain name"
    pool_id = info.get("pool_id")
    if pool_id is not None and (not isinstance(pool_id, str) or not _id_ok(pool_id)):
        return "config.json names an invalid pool_id"
    return None
