"""One job queue per run store: sweeps wait their turn, identical ones are not started twice.

Every job is a JSON file ``<root>/_jobs/<job_id>.json``, written atomically *before* any process
starts, so a crash (or a full disk) never leaves an untracked sweep. Its ``phase`` says where it
is: ``queued`` -> ``starting`` -> ``started`` (or ``cancelled``). Changes to the queue happen
under an exclusive lock (``_jobs/.queue.lock``, ``fcntl.flock``), so six clicks in six seconds,
from one browser or several, queue one sweep.

At most ``FORGELENS_MAX_JOBS`` sweeps (default 1) run at once. Each runs under a small runner
process (``python -m dashboard.job_queue run ROOT JOB_ID``, standard library only) that records
its own pid, starts ``python -m core run ...``, waits, records the exit code and starts the next
queued job, so the queue moves on with no browser open. A Stop (SIGINT to the runner's process
group) reaches the CLI, which keeps every finished run.
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
from pathlib import Path
from typing import Any

from core.base.paths import JOBS
from core.base.validation import ForgeLensError, positive_from_env
from core.storage.integrity import check_id

MAX_JOBS_ENV = "FORGELENS_MAX_JOBS"
QUEUED, STARTING, STARTED, CANCELLED = "queued", "starting", "started", "cancelled"
LOCK_NAME = ".queue.lock"
START_GRACE_SECONDS = 60.0  # a job "starting" longer than this without a pid never started
REPO_ROOT = Path(__file__).resolve().parent.parent


class DamagedJobError(ForgeLensError):
    """A job file that cannot be read as a job (empty, truncated, not an object)."""


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
    from dashboard.jobs import dispatch  # the next queued job, if any

    dispatch(root)
    return code


def main(argv: list[str]) -> int:
    if len(argv) == 3 and argv[0] == "run":
        return _run(argv[1], argv[2])
    print("usage: python -m dashboard.job_queue run ROOT JOB_ID", file=sys.stderr)
    return 2


if __name__ == "__main__":  # pragma: no cover - exercised through subprocesses
    sys.exit(main(sys.argv[1:]))
