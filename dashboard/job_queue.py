"""One job queue per run store, and the one job state machine: sweeps wait their turn,
identical ones are not started twice.

Every job is a JSON file ``<root>/_jobs/<job_id>.json``, written atomically *before* any process
starts, so a crash (or a full disk) never leaves an untracked sweep. Its ``phase`` says where it
is: ``queued`` -> ``starting`` -> ``started`` (or ``cancelled``). Changes to the queue happen
under an exclusive lock (``_jobs/.queue.lock``, ``fcntl.flock``), so six clicks in six seconds,
from one browser or several, queue one sweep. A job's *state* (queued, running, finished,
failed, stopped, cancelled, damaged) is decided here from its files only: the JSON, the CLI's
JSON-lines progress ``<job_id>.jsonl`` and whether its runner's process is alive.

At most ``FORGELENS_MAX_JOBS`` sweeps (default 1) run at once. Each runs under a small runner
process (``python -m dashboard.job_queue run ROOT JOB_ID``, standard library only) that records
its own pid, starts ``python -m core run ...``, waits, records the exit code and starts the next
queued job, so the queue moves on with no browser open. A Stop (SIGINT to the runner's process
group) reaches the CLI, which keeps every finished run.

Standard library and core's light modules only (core.base, core.storage's ids and atomic
writes; no pandas): the runner imports this module.
``dashboard.jobs`` builds the commands, submits sweeps and presents jobs to the pages; it
imports this module, never the other way round.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.base.paths import JOBS
from core.base.processes import pid_alive
from core.base.validation import ForgeLensError, positive_from_env
from core.storage.integrity import ID_PATTERN, check_id

MAX_JOBS_ENV = "FORGELENS_MAX_JOBS"
# the phases a job file records; queued and cancelled are also states
QUEUED, STARTING, STARTED, CANCELLED = "queued", "starting", "started", "cancelled"
# the other states, decided from the files (job_state)
RUNNING, FINISHED, FAILED, STOPPED = "running", "finished", "failed", "stopped"
DAMAGED = "damaged"  # the job file cannot be read; shown as such, never a crash
ACTIVE = (QUEUED, RUNNING)
LOCK_NAME = ".queue.lock"
START_GRACE_SECONDS = 60.0  # a job "starting" longer than this without a pid never started
REPO_ROOT = Path(__file__).resolve().parent.parent


class DamagedJobError(ForgeLensError):
    """A job file that cannot be read as a job (empty, truncated, not an object)."""


@dataclass
class Job:
    """One job as its files say: its request (the JSON), its progress events, its state, and
    why it is damaged when its JSON cannot be read."""

    job_id: str
    state: str
    request: dict[str, Any]
    events: list[dict[str, Any]] = field(default_factory=list)
    problem: str = ""


def jobs_dir(root: str | os.PathLike[str]) -> Path:
    return Path(root) / JOBS


def job_file(root: str | os.PathLike[str], job_id: str) -> Path:
    return jobs_dir(root) / f"{check_id('job_id', job_id)}.json"


def max_jobs() -> int:
    """How many sweeps may run at once: ``$FORGELENS_MAX_JOBS`` (a positive integer), else 1."""
    return positive_from_env(
        MAX_JOBS_ENV, 1, int, "a positive integer (sweeps allowed to run at once)"
    )


def read_job(root: str | os.PathLike[str], job_id: str) -> dict[str, Any]:
    """The job's JSON; ``DamagedJobError`` when it is empty, truncated or not a job."""
    path = job_file(root, job_id)
    try:
        request = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise DamagedJobError(
            f"job file {path.name} cannot be read ({type(error).__name__})"
        ) from None
    if not isinstance(request, dict) or request.get("job_id") != job_id:
        raise DamagedJobError(f"job file {path.name} does not describe job {job_id}")
    return request


def write_job(root: str | os.PathLike[str], request: dict[str, Any]) -> None:
    """Replace the job's JSON atomically (a temporary file and a rename)."""
    from core.storage.atomic import write_json_atomic

    write_json_atomic(job_file(root, request["job_id"]), request)


@contextlib.contextmanager
def queue_lock(root: str | os.PathLike[str]) -> Iterator[None]:
    """Exclusive lock over the store's queue (held for milliseconds: read, decide, write)."""
    folder = jobs_dir(root)
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / LOCK_NAME).open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def read_events(path: Path) -> list[dict[str, Any]]:
    """Whole JSON lines of a progress file; a half-written last line is skipped."""
    if not path.is_file():
        return []
    events = []
    # bytes that are not UTF-8 (a damaged log) become U+FFFD: the log stays readable
    for line in path.read_bytes().decode("utf-8", errors="replace").splitlines():
        with contextlib.suppress(json.JSONDecodeError):
            event = json.loads(line)
            if isinstance(event, dict):
                events.append(event)
    return events


def job_state(request: dict[str, Any], events: list[dict[str, Any]]) -> str:
    """A readable job's state from its request and progress events (and its runner's pid):
    the phase first, then the CLI's final event, then the exit code the runner recorded, then
    whether the runner still runs."""
    final = next((e for e in reversed(events) if e.get("done") is True), None)
    phase = request.get("phase")
    if phase == QUEUED:
        state = QUEUED
    elif phase == CANCELLED:
        state = CANCELLED
    elif final is not None:
        state = FINISHED if final.get("stage") == "finished" else FAILED
    elif isinstance(request.get("returncode"), int):  # the runner saw the command end
        state = FINISHED if request["returncode"] == 0 else FAILED
    elif pid_alive(request.get("pid")):
        state = RUNNING
    elif (
        phase == STARTING
        and not request.get("pid")
        and time.time() - float(request.get("starting") or 0.0) < START_GRACE_SECONDS
    ):
        state = RUNNING  # recorded, its process being started right now
    else:
        state = STOPPED if request.get("stopped") else FAILED
    if state == FAILED and request.get("stopped"):
        state = STOPPED
    return state


def load_job(root: str | os.PathLike[str], job_id: str) -> Job:
    """One job from its files: queued, running, finished, failed, stopped, cancelled, or
    damaged (its JSON cannot be read: returned as such, never raised)."""
    try:
        request = read_job(root, job_id)
    except DamagedJobError as error:
        return Job(job_id=job_id, state=DAMAGED, request={"job_id": job_id}, problem=str(error))
    except FileNotFoundError:
        request = {"job_id": job_id}
    events = read_events(jobs_dir(root) / f"{job_id}.jsonl")
    return Job(job_id=job_id, state=job_state(request, events), request=request, events=events)


def job_ids(root: str | os.PathLike[str]) -> list[str]:
    """Every job id of the store, newest first (files whose names are not job ids are
    ignored)."""
    folder = jobs_dir(root)
    if not folder.is_dir():
        return []
    ids = {p.stem for p in folder.glob("*.jsonl")} | {p.stem for p in folder.glob("*.json")}
    return [job_id for job_id in sorted(ids, reverse=True) if ID_PATTERN.match(job_id)]


def load_jobs(root: str | os.PathLike[str]) -> list[Job]:
    """Every job of the store, newest first."""
    return [load_job(root, job_id) for job_id in job_ids(root)]


def _queued_oldest_first(jobs: list[Job]) -> list[Job]:
    """The queued jobs in the order they start: oldest submission first."""
    return sorted(
        (job for job in jobs if job.state == QUEUED),
        key=lambda job: float(job.request.get("submitted") or 0.0),
    )


def queue_position(root: str | os.PathLike[str], job_id: str) -> int | None:
    """1 for the next queued job to start, 2 for the one after it...; None if not queued."""
    ids = [job.job_id for job in _queued_oldest_first(load_jobs(root))]
    return ids.index(job_id) + 1 if job_id in ids else None


def dispatch(root: str | os.PathLike[str], python: str | None = None) -> list[str]:
    """Start queued jobs, oldest first, while fewer than ``max_jobs()`` run. Returns the ids
    started. Safe to call from anywhere, any number of times (it holds the queue lock)."""
    started = []
    with queue_lock(root):
        jobs = load_jobs(root)
        free = max_jobs() - sum(job.state == RUNNING for job in jobs)
        for job in _queued_oldest_first(jobs)[: max(free, 0)]:
            request = {**job.request, "phase": STARTING, "starting": time.time()}
            write_job(root, request)  # recorded before the process exists
            request["pid"] = start_runner(root, request, python or request.get("python"))
            write_job(root, request)
            started.append(job.job_id)
    return started


def cancel_job(root: str | os.PathLike[str], job_id: str) -> bool:
    """Cancel a queued job, or stop a running one (``stop_job``). True when something changed."""
    with queue_lock(root):
        job = load_job(root, job_id)
        if job.state == QUEUED:
            write_job(root, {**job.request, "phase": CANCELLED, "cancelled": time.time()})
            return True
    return stop_job(root, job_id)


def stop_job(root: str | os.PathLike[str], job_id: str) -> bool:
    """Interrupt a running job (SIGINT to its process group, as Ctrl-C would).

    The CLI then records the sweep as failed; finished runs stay in the store and the
    interrupted one is redone next time. Returns True when a signal was sent.
    """
    job = load_job(root, job_id)
    pid = job.request.get("pid")
    if job.state != RUNNING or not pid:
        return False
    write_job(root, {**job.request, "stopped": time.time()})
    try:
        os.killpg(pid, signal.SIGINT)
    except ProcessLookupError:
        return False
    return True


def start_runner(
    root: str | os.PathLike[str], request: dict[str, Any], python: str | None = None
) -> int:
    """Start the runner of a queued job, detached (its own session); returns its pid."""
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
    }
    log_path = jobs_dir(root) / f"{request['job_id']}.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [
                python or sys.executable,
                "-m",
                "dashboard.job_queue",
                "run",
                str(Path(root).resolve()),
                request["job_id"],
            ],
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return process.pid


def _run(root: str, job_id: str) -> int:
    """The runner: record our pid, run the job's command, record its exit, start the next."""
    signal.signal(signal.SIGINT, lambda *_: None)  # Stop reaches the CLI; we wait for it
    with queue_lock(root):
        request = read_job(root, job_id)
        if request.get("phase") == CANCELLED or request.get("stopped"):
            return 0  # cancelled or stopped before it began
        request.update(phase=STARTED, pid=os.getpid(), started=time.time())
        write_job(root, request)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with (jobs_dir(root) / f"{job_id}.log").open("ab") as log:
        child = subprocess.Popen(
            request["command"],
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        while True:
            try:
                code = child.wait()
                break
            except InterruptedError:  # pragma: no cover - PEP 475 retries for us
                continue
    with queue_lock(root):
        with contextlib.suppress(DamagedJobError):  # else keep the copy read at the start
            request = read_job(root, job_id)
        request.update(returncode=code, ended=time.time())
        write_job(root, request)
    dispatch(root)  # the next queued job, if any
    return code


def main(argv: list[str]) -> int:
    if len(argv) == 3 and argv[0] == "run":
        return _run(argv[1], argv[2])
    print("usage: python -m dashboard.job_queue run ROOT JOB_ID", file=sys.stderr)
    return 2


if __name__ == "__main__":  # pragma: no cover - exercised through subprocesses
    sys.exit(main(sys.argv[1:]))
