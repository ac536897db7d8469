"""Background sweeps: launch the CLI detached and read its JSON-lines progress.

The work runs outside the Streamlit script (``python -m core run ... --progress FILE``), in its
own session, so it survives page switches, browser reloads and even a server restart; the page
only reads ``<root>/_jobs/<job_id>.jsonl``. Next to it, ``<job_id>.json`` records the command,
the pid and the request, and ``<job_id>.log`` holds the process's stdout and stderr.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.device import DEVICE_CHOICES
from core.store import JOBS
from core.validation import ForgeLensError, check_choice

REPO_ROOT = Path(__file__).resolve().parent.parent
PIPELINE_STAGES = ("scenario", "source model", "embed", "select", "adapt", "records", "umap")
RUNNING, FINISHED, FAILED, STOPPED = "running", "finished", "failed", "stopped"


@dataclass
class JobStatus:
    """What a page shows about one background sweep, derived from its files only."""

    job_id: str
    state: str
    request: dict[str, Any]
    events: list[dict[str, Any]] = field(default_factory=list)
    log_tail: str = ""

    @property
    def n_runs(self) -> int | None:
        counts = [e["n_runs"] for e in self.events if isinstance(e.get("n_runs"), int)]
        return counts[-1] if counts else None

    @property
    def runs_done(self) -> int:
        return sum(1 for e in self.events if e.get("stage") == "done")

    @property
    def fraction(self) -> float:
        if self.state == FINISHED:
            return 1.0
        return min(1.0, self.runs_done / self.n_runs) if self.n_runs else 0.0

    @property
    def last(self) -> dict[str, Any]:
        return self.events[-1] if self.events else {}

    @property
    def stages_seen(self) -> list[str]:
        return list(dict.fromkeys(str(e.get("stage")) for e in self.events))

    def estimate_notes(self) -> list[str]:
        """Expected durations the sweep announced (``estimate_seconds`` events), latest of each
        kind: the first backbone feature pass, and full fine-tuning per run (and in all)."""
        from core.adaptation import format_seconds

        latest = {e.get("stage"): e for e in self.events
                  if isinstance(e.get("estimate_seconds"), int | float)}
        notes = []
        if "features" in latest:
            notes.append("first feature pass: about "
                         f"{format_seconds(latest['features']['estimate_seconds'])}")
        if "adapt" in latest:
            seconds = latest["adapt"]["estimate_seconds"]
            note = f"full fine-tuning: about {format_seconds(seconds)} per run"
            if self.n_runs and self.n_runs > 1:
                note += f" (about {format_seconds(seconds * self.n_runs)} for all {self.n_runs})"
            notes.append(note)
        return notes

    def headline(self) -> str:
        """One line: runs done, current stage and its message."""
        last = self.last
        count = f"{self.runs_done}/{self.n_runs} runs" if self.n_runs else "preparing"
        where = ""
        if "method" in last:
            where = f" · {last['method']} budget {float(last['budget']):g} seed {last['seed']}"
        stage = last.get("stage", "starting")
        message = last.get("message", "waiting for the first progress event")
        return f"{count}{where} · {stage}: {message}"


def jobs_dir(root: str | os.PathLike[str]) -> Path:
    return Path(root) / JOBS


def new_job_id() -> str:
    """Sortable by start time, unique across processes."""
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)


def cli_command(scenario: str, methods: Sequence[str], budgets: Sequence[float],
                seeds: Sequence[int], *, root: str | os.PathLike[str], progress: Path,
                device: str = "auto", umap: bool = True, python: str | None = None,
                adaptation: str | None = None, ray_address: str | None = None) -> list[str]:
    """The ``python -m core run`` command line a job runs (also shown to the user).

    ``adaptation`` None leaves the mode to the CLI (the scenario's default). ``ray_address``
    (e.g. "auto" or "ray://head:10001") runs every run as a task on that Ray cluster.
    """
    from core.adaptation import ADAPTATION_MODES

    check_choice("device", device, DEVICE_CHOICES)
    if adaptation is not None:
        check_choice("adaptation", adaptation, ADAPTATION_MODES)
    for name, values in (("methods", methods), ("budgets", budgets), ("seeds", seeds)):
        if not values:
            raise ForgeLensError(f"{name}=[] is empty; choose at least one")
    return [
        python or sys.executable, "-m", "core", "run",
        "--scenario", scenario,
        "--methods", ",".join(methods),
        "--budgets", ",".join(f"{float(b):g}" for b in budgets),
        "--seeds", ",".join(str(int(s)) for s in seeds),
        "--out", str(Path(root).resolve()),
        "--device", device,
        *([] if adaptation is None else ["--adaptation", adaptation]),
        "--progress", str(progress),
        "--quiet",
        *([] if umap else ["--no-umap"]),
        *([] if not ray_address else ["--executor", "ray", "--address", _check_address(ray_address)]),
    ]


def _check_address(address: str) -> str:
    """A Ray address as typed: one token, no spaces (Ray itself checks the rest)."""
    if not isinstance(address, str) or not address.strip() or len(address.split()) != 1:
        raise ForgeLensError(f"ray_address={address!r} is not allowed; allowed: one address "
                             "such as auto or ray://head:10001")
    return address.strip()


def shell_command(command: Sequence[str]) -> str:
    """A command list as one line to paste in a shell."""
    return " ".join(shlex.quote(part) for part in command)


def launch_job(root: str | os.PathLike[str], scenario: str, methods: Sequence[str],
               budgets: Sequence[float], seeds: Sequence[int], *, device: str = "auto",
               umap: bool = True, python: str | None = None,
               adaptation: str | None = None, ray_address: str | None = None) -> str:
    """Start a detached sweep and return its job id; progress goes to ``_jobs/<id>.jsonl``."""
    folder = jobs_dir(root)
    folder.mkdir(parents=True, exist_ok=True)
    job_id = new_job_id()
    progress = (folder / f"{job_id}.jsonl").resolve()
    command = cli_command(scenario, methods, budgets, seeds, root=root, progress=progress,
                          device=device, umap=umap, python=python, adaptation=adaptation,
                          ray_address=ray_address)
    env = {**os.environ, "PYTHONUNBUFFERED": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT),
                                                       os.environ.get("PYTHONPATH")]))}
    with (folder / f"{job_id}.log").open("wb") as log:
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdin=subprocess.DEVNULL,
                                   stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    request = {"job_id": job_id, "pid": process.pid, "command": command,
               "scenario": scenario, "methods": list(methods),
               "budgets": [float(b) for b in budgets], "seeds": [int(s) for s in seeds],
               "device": device, "umap": umap, "adaptation": adaptation,
               "ray_address": ray_address, "started": time.time()}
    (folder / f"{job_id}.json").write_text(json.dumps(request, indent=2))
    return job_id


def read_events(path: Path) -> list[dict[str, Any]]:
    """Whole JSON lines of a progress file; a half-written last line is skipped."""
    if not path.is_file():
        return []
    events = []
    for line in path.read_text().splitlines():
        with contextlib.suppress(json.JSONDecodeError):
            event = json.loads(line)
            if isinstance(event, dict):
                events.append(event)
    return events


def process_alive(pid: int | None) -> bool:
    """True while ``pid`` runs; reaps it first when it is our own finished child (no zombie)."""
    if not pid:
        return False
    try:
        reaped, _ = os.waitpid(pid, os.WNOHANG)
        if reaped == pid:
            return False
    except ChildProcessError:
        pass  # not our child (e.g. launched before a server restart)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError):
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    return True


def job_status(root: str | os.PathLike[str], job_id: str, *, tail_chars: int = 2000) -> JobStatus:
    """State of one job from its files: finished / failed when it said so or its process died."""
    folder = jobs_dir(root)
    meta_path = folder / f"{job_id}.json"
    request = json.loads(meta_path.read_text()) if meta_path.is_file() else {"job_id": job_id}
    events = read_events(folder / f"{job_id}.jsonl")
    final = next((e for e in reversed(events) if e.get("done") is True), None)
    if final is not None:
        state = FINISHED if final.get("stage") == "finished" else FAILED
    elif process_alive(request.get("pid")):
        state = RUNNING
    else:
        state = STOPPED if request.get("stopped") else FAILED
    if state == FAILED and request.get("stopped"):
        state = STOPPED
    log_path = folder / f"{job_id}.log"
    tail = log_path.read_text(errors="replace")[-tail_chars:] if log_path.is_file() else ""
    return JobStatus(job_id=job_id, state=state, request=request, events=events, log_tail=tail)


def list_jobs(root: str | os.PathLike[str]) -> list[JobStatus]:
    """Every job of the store, newest first."""
    folder = jobs_dir(root)
    if not folder.is_dir():
        return []
    ids = {p.stem for p in folder.glob("*.jsonl")} | {p.stem for p in folder.glob("*.json")}
    return [job_status(root, job_id) for job_id in sorted(ids, reverse=True)]


def stop_job(root: str | os.PathLike[str], job_id: str) -> bool:
    """Interrupt a running job (SIGINT to its process group, as Ctrl-C would).

    The CLI then records the sweep as failed; finished runs stay in the store and the
    interrupted one is redone next time. Returns True when a signal was sent.
    """
    status = job_status(root, job_id)
    pid = status.request.get("pid")
    if status.state != RUNNING or not pid:
        return False
    meta_path = jobs_dir(root) / f"{job_id}.json"
    meta_path.write_text(json.dumps({**status.request, "stopped": time.time()}, indent=2))
    try:
        os.killpg(pid, signal.SIGINT)
    except ProcessLookupError:
        return False
    return True


def default_request() -> dict[str, Any]:
    """The sweep ``python -m core run`` performs without arguments (the default experiment)."""
    from core.cli import _parser  # the CLI owns its defaults; read them, never copy them
    from core.scenarios import DEFAULT_SCENARIO

    args = _parser().parse_args(["run"])
    return {"scenario": args.scenario or DEFAULT_SCENARIO, "methods": list(args.methods),
            "budgets": list(args.budgets), "seeds": list(args.seeds)}
