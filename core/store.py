"""The run store: one folder per run, named by a hash of its full config, written atomically.

Layout (see README, "Run store"):
    <root>/<run_id>/        config.json, selection/accuracy/samples/pairs/summary .parquet, DONE
    <root>/_pools/<id>/     pool embeddings of one source model, stored once (+ cached UMAPs)
    <root>/_models/         cached source models
    <root>/_jobs/           progress logs of CLI sweeps

A run is built in a hidden temporary folder and renamed into place with the completion marker
already inside, so a reader never sees half a run: a finished run is reused, an interrupted one
left only a temporary folder behind and is redone. Two processes writing different runs never
touch the same paths; two writing the same run race on one rename and the loser discards its copy.

``RUN_FORMAT_VERSION`` is the layout and config of a run folder, recorded in every run config
(so part of every run id) as ``config["format"]``. Format 1 (no version recorded) lacks the
selector's parameters; format 2 adds them (``config["selector_params"]``). Older runs are read;
a newer format is refused with a message saying so.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core.validation import ForgeLensError, check_choice

RUN_FORMAT_VERSION = 2
RUNS_ENV = "FORGELENS_RUNS"
DONE = "DONE"
TABLES = ("selection", "accuracy", "samples", "pairs", "summary")
POOLS, MODELS, JOBS = "_pools", "_models", "_jobs"
_TMP_PREFIX = ".tmp-"
_UMASK = os.umask(0)
os.umask(_UMASK)


def run_format(info: dict[str, Any]) -> int:
    """The run format of a run's config.json: ``config["format"]``; runs written before the
    format was recorded are format 1 (the same tables; no selector parameters in the config)."""
    return int(info.get("config", {}).get("format", 1))


def default_root() -> Path:
    """The run store folder: ``$FORGELENS_RUNS`` when set, else ``runs/`` in the working directory."""
    return Path(os.environ.get(RUNS_ENV) or "runs")


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
    fd, tmp = tempfile.mkstemp(prefix=_TMP_PREFIX, dir=path.parent, suffix=path.suffix)
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


@contextlib.contextmanager
def staged_folder(final: Path) -> Iterator[Path]:
    """Yield a hidden temporary folder; on success rename it to ``final`` (marker included).

    If ``final`` appeared meanwhile (another process finished the same work), the staged copy is
    discarded. On error the staged folder is removed and nothing appears at ``final``.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = final.parent / f"{_TMP_PREFIX}{final.name}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    staging.mkdir()
    try:
        yield staging
        (staging / DONE).write_text("")
        if final.exists() and not (final / DONE).exists():
            shutil.rmtree(final, ignore_errors=True)  # a folder without marker is not a run
        try:
            os.rename(staging, final)
        except OSError:
            if not (final / DONE).exists():
                raise
            shutil.rmtree(staging, ignore_errors=True)  # the other writer won; same content
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


class RunStore:
    """Read and write runs, pools and progress logs under one root folder."""

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = Path(root) if root is not None else default_root()

    # ---- runs -------------------------------------------------------------------------
    def run_dir(self, run_id: str) -> Path:
        return self.root / run_id

    def is_finished(self, run_id: str) -> bool:
        return (self.run_dir(run_id) / DONE).is_file()

    def write_run(self, run_id: str, config: dict[str, Any], tables: dict[str, pd.DataFrame]) -> Path:
        """Write one run atomically; ``tables`` maps names in TABLES to DataFrames."""
        unknown = set(tables) - set(TABLES)
        if unknown:
            raise ForgeLensError(f"tables={sorted(unknown)} not known; allowed: {', '.join(TABLES)}")
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
            return old
        with staged_folder(self.run_dir(new_id)) as staging:
            for name in TABLES:
                shutil.copy2(old / f"{name}.parquet", staging / f"{name}.parquet")
            (staging / "config.json").write_text(json.dumps(info, indent=2, sort_keys=True,
                                                            default=str))
        shutil.rmtree(old)
        return self.run_dir(new_id)

    def run_ids(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(
            p.name for p in self.root.iterdir()
            if p.is_dir() and not p.name.startswith(("_", ".")) and (p / DONE).is_file()
        )

    def load_config(self, run_id: str) -> dict[str, Any]:
        """The run's config.json; a run in a newer run format than this code reads is refused."""
        path = self.run_dir(run_id) / "config.json"
        if not (self.run_dir(run_id) / DONE).is_file():
            raise ForgeLensError(f"run_id={run_id!r} is not a finished run in {self.root}")
        info = json.loads(path.read_text())
        version = run_format(info)
        if version > RUN_FORMAT_VERSION:
            raise ForgeLensError(
                f"run {run_id} in {self.root} has run format {version}; this ForgeLens reads "
                f"formats 1 to {RUN_FORMAT_VERSION}: update ForgeLens to read it")
        return info

    def load_table(self, run_id: str, name: str) -> pd.DataFrame:
        check_choice("name", name, TABLES)
        if not self.is_finished(run_id):
            raise ForgeLensError(f"run_id={run_id!r} is not a finished run in {self.root}")
        return pd.read_parquet(self.run_dir(run_id) / f"{name}.parquet")

    def finished_runs(self) -> pd.DataFrame:
        """One row per finished run: its identifying config and a few headline facts."""
        rows = []
        for run_id in self.run_ids():
            try:
                info = self.load_config(run_id)
            except ForgeLensError:
                continue  # a newer format: listed by refused_runs(), never half-read
            cfg = info["config"]
            rows.append({
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
            })
        columns = ["run_id", "scenario", "method", "budget", "seed", "adaptation", "budget_count",
                   "pool_id", "created", "total_seconds", "device", "format"]
        return pd.DataFrame(rows, columns=columns)

    def refused_runs(self) -> dict[str, str]:
        """Finished runs this code cannot read (a newer run format): run id -> why."""
        refused = {}
        for run_id in self.run_ids():
            try:
                self.load_config(run_id)
            except ForgeLensError as error:
                refused[run_id] = str(error)
        return refused

    # ---- pools ------------------------------------------------------------------------
    def pool_dir(self, pool_id: str) -> Path:
        return self.root / POOLS / pool_id

    def has_pool(self, pool_id: str) -> bool:
        return (self.pool_dir(pool_id) / DONE).is_file()

    def write_pool(self, pool_id: str, meta: dict[str, Any], pool: pd.DataFrame,
                   z: np.ndarray, logits: np.ndarray) -> Path:
        """Store a pool's embeddings once: meta.json, pool.parquet, embeddings.npz."""
        with staged_folder(self.pool_dir(pool_id)) as staging:
            (staging / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True, default=str))
            pool.to_parquet(staging / "pool.parquet", index=False)
            np.savez(staging / "embeddings.npz", z=z, logits=logits)
        return self.pool_dir(pool_id)

    def _require_pool(self, pool_id: str) -> Path:
        if not self.has_pool(pool_id):
            raise ForgeLensError(f"pool_id={pool_id!r} is not stored in {self.root / POOLS}")
        return self.pool_dir(pool_id)

    def load_pool(self, pool_id: str) -> pd.DataFrame:
        return pd.read_parquet(self._require_pool(pool_id) / "pool.parquet")

    def load_pool_meta(self, pool_id: str) -> dict[str, Any]:
        return json.loads((self._require_pool(pool_id) / "meta.json").read_text())

    def load_embeddings(self, pool_id: str) -> tuple[np.ndarray, np.ndarray]:
        with np.load(self._require_pool(pool_id) / "embeddings.npz") as data:
            return data["z"], data["logits"]

    # ---- housekeeping -----------------------------------------------------------------
    @property
    def models_dir(self) -> Path:
        return self.root / MODELS

    @property
    def jobs_dir(self) -> Path:
        return self.root / JOBS

    def remove_stale_staging(self) -> list[Path]:
        """Delete temporary folders left by writers that died (their process no longer exists)."""
        removed = []
        for parent in (self.root, self.root / POOLS):
            if not parent.is_dir():
                continue
            for path in parent.glob(f"{_TMP_PREFIX}*"):
                if path.is_dir() and not _pid_alive(_staging_pid(path.name)):
                    shutil.rmtree(path, ignore_errors=True)
                    removed.append(path)
        return removed


def _staging_pid(name: str) -> int | None:
    parts = name.rsplit("-", 2)
    try:
        return int(parts[-2])
    except (IndexError, ValueError):
        return None


def _pid_alive(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
