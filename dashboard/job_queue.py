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

A job file is data, never a command: anyone who can write the store can plant one. Its fields
are checked (``check_request``: types, plain names, no option-like values) and the runner builds
the command line itself from them (``command_line``); a file that fails the check is shown as
damaged and never run. A process is the job's only when its pid, its start time
(``/proc/<pid>/stat``) and a per-job secret in its environment (whose SHA-256 the job file
records) all match (``runner_alive``): a job pointing at any other process is not running, does
not hold a slot and is never signalled. The sweep runs at a lower CPU priority than the server
(``FORGELENS_SWEEP_NICE``, default 10), and dies with its runner.

Standard library and core's light modules only (core.base, core.storage's ids and atomic
writes; no pandas): the runner imports this module.
``dashboard.jobs`` builds the commands, submits sweeps and presents jobs to the pages; it
imports this module, never the other way round.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import hashlib
import json
import math
import os
import re
import secrets
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
from dashboard import job_seal

MAX_JOBS_ENV = "FORGELENS_MAX_JOBS"
NICE_ENV = "FORGELENS_SWEEP_NICE"  # how much lower a sweep's CPU priority is than the server's
DEFAULT_NICE = 10
MODULE_ENV = "FORGELENS_JOB_MODULE"  # the CLI module a runner runs (``core``; tests: a stand-in)
SECRET_ENV = "FORGELENS_JOB_SECRET"  # in the runner's environment only (the file has its hash)
# the phases a job file records; queued and cancelled are also states
QUEUED, STARTING, STARTED, CANCELLED = "queued", "starting", "started", "cancelled"
# the other states, decided from the files (job_state)
RUNNING, FINISHED, FAILED, STOPPED = "running", "finished", "failed", "stopped"
DAMAGED = "damaged"  # the job file cannot be read; shown as such, never a crash
ACTIVE = (QUEUED, RUNNING)
LOCK_NAME = ".queue.lock"
START_GRACE_SECONDS = 60.0  # a job "starting" longer than this without a pid never started
EXEC_SETTLE_SECONDS = 2.0  # how long a just-started process may show no environment yet
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
    problem = check_request(request)
    if problem:
        raise DamagedJobError(f"job file {path.name}: {problem}; it is never run")
    return request


# ---- what a job file may say ------------------------------------------------------------------
# names a sweep passes to the CLI: plain words (a plugin's module:Class too), never an option
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9 _.+:-]{0,127}\Z")
_ADDRESS = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:/@\[\]-]{0,255}\Z")
_HEX = re.compile(r"^[0-9a-f]{64}\Z")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (_is_int(value) or isinstance(value, float)) and math.isfinite(value)


def _is_name(value: Any) -> bool:
    return isinstance(value, str) and bool(_NAME.match(value))


# field -> (test, what is allowed); a field that is absent is not checked
FIELDS: dict[str, tuple[Any, str]] = {
    "phase": (lambda v: v in (QUEUED, STARTING, STARTED, CANCELLED), "one of the queue's phases"),
    "key": (lambda v: isinstance(v, str) and len(v) <= 64, "a sweep key"),
    "scenario": (_is_name, "a scenario name"),
    "methods": (
        lambda v: isinstance(v, list) and 0 < len(v) <= 64 and all(map(_is_name, v)),
        "a list of selector names",
    ),
    "budgets": (
        lambda v: (
            isinstance(v, list)
            and 0 < len(v) <= 64
            and all(_is_number(b) and 0 < b <= 1 for b in v)
        ),
        "a list of fractions in (0, 1]",
    ),
    "seeds": (
        lambda v: (
            isinstance(v, list)
            and 0 < len(v) <= 1024
            and all(_is_int(s) and 0 <= s < 2**32 for s in v)
        ),
        "a list of non-negative integers",
    ),
    "device": (
        lambda v: isinstance(v, str) and bool(re.match(r"^(auto|cpu|cuda|mps|cuda:\d+)\Z", v)),
        "auto, cpu, cuda, cuda:N or mps",
    ),
    "umap": (lambda v: isinstance(v, bool), "true or false"),
    "adaptation": (lambda v: v is None or _is_name(v), "null or a mode name"),
    "ray_address": (
        lambda v: v is None or (isinstance(v, str) and bool(_ADDRESS.match(v))),
        "null or one address such as auto or ray://head:10001",
    ),
    "seal": (lambda v: isinstance(v, str) and bool(_HEX.match(v)), "a SHA-256 in hex"),
    "pid": (lambda v: v is None or (_is_int(v) and v > 0), "null or a process id"),
    "process_start": (lambda v: v is None or _is_int(v), "null or a start time in ticks"),
    "boot_id": (lambda v: v is None or isinstance(v, str), "null or a boot id"),
    "secret_sha256": (
        lambda v: v is None or (isinstance(v, str) and bool(_HEX.match(v))),
        "null or a SHA-256 in hex",
    ),
    "returncode": (lambda v: v is None or _is_int(v), "null or an exit code"),
    "memory_estimate": (lambda v: v is None or _is_number(v), "null or a number of bytes"),
    **{
        moment: (lambda v: v is None or _is_number(v), "null or a time in seconds")
        for moment in ("submitted", "starting", "started", "ended", "stopped", "cancelled")
    },
}
RUNNABLE = ("scenario", "methods", "budgets", "seeds")  # what a queued job must name
LEGACY = ("command", "python")  # written by older versions; shown never, run never


def check_request(request: dict[str, Any]) -> str:
    """Why a job file's fields cannot be trusted as a job ("" when they can): a field of the
    wrong type or form, or a queued job that does not name a whole sweep or names a command."""
    for name, (test, allowed) in FIELDS.items():
        if name in request and not test(request[name]):
            return f"field {name}={request[name]!r:.80} is not allowed; allowed: {allowed}"
    if request.get("phase") == QUEUED:
        missing = [name for name in RUNNABLE if name not in request]
        if missing:
            return f"a queued job without {', '.join(missing)}"
        if job_seal.names_code(request) and not job_seal.sealed(request):
            return (
                "a queued job naming code (a module:Class selector or a Ray address) without "
                "this machine's seal (only the dashboard of the user who owns the key file "
                "may ask for code; see the README's trust model)"
            )
        legacy = [name for name in LEGACY if name in request]
        if legacy:
            return (
                f"a queued job with {', '.join(legacy)} (a job names a sweep; the queue "
                "builds its command itself)"
            )
    return ""


def cli_module() -> str:
    """The module a runner runs as ``python -m MODULE run ...``: ``$FORGELENS_JOB_MODULE`` (a
    dotted name; the tests' stand-in CLI), else ``core``."""
    module = os.environ.get(MODULE_ENV) or "core"
    if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*\Z", module):
        raise ForgeLensError(
            f"{MODULE_ENV}={module!r} is not allowed; allowed: a dotted module name"
        )
    return module


def command_line(
    scenario: str,
    methods: list[str],
    budgets: list[float],
    seeds: list[int],
    *,
    root: str | os.PathLike[str],
    progress: Path,
    device: str = "auto",
    umap: bool = True,
    python: str | None = None,
    adaptation: str | None = None,
    ray_address: str | None = None,
) -> list[str]:
    """The ``python -m core run`` command line of a sweep, one argument per value (no shell)."""
    return [
        python or sys.executable,
        "-m",
        cli_module(),
        "run",
        "--scenario",
        scenario,
        "--methods",
        ",".join(methods),
        "--budgets",
        ",".join(f"{float(b):g}" for b in budgets),
        "--seeds",
        ",".join(str(int(s)) for s in seeds),
        "--out",
        str(Path(root).resolve()),
        "--device",
        device,
        *([] if adaptation is None else ["--adaptation", adaptation]),
        "--progress",
        str(progress),
        "--quiet",
        *([] if umap else ["--no-umap"]),
        *([] if not ray_address else ["--executor", "ray", "--address", ray_address]),
    ]


def job_command(root: str | os.PathLike[str], request: dict[str, Any]) -> list[str]:
    """The command a (checked) job runs, built here from its fields; its progress file and
    store are the queue's own, and the interpreter is the runner's."""
    job_id = check_id("job_id", request["job_id"])
    options = ("device", "umap", "adaptation", "ray_address")
    return command_line(
        *(request[name] for name in RUNNABLE),
        root=root,
        progress=(jobs_dir(root) / f"{job_id}.jsonl").resolve(),
        **{name: request[name] for name in options if name in request},
    )


# ---- whose process is it ---------------------------------------------------------------------
def boot_id() -> str:
    """This boot's id (a pid and a start time are unique within one boot only)."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def process_start(pid: int) -> int | None:
    """When ``pid`` started, in clock ticks since boot (``/proc/<pid>/stat`` field 22)."""
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _environment_secret(pid: int) -> str | None:
    """The job secret in ``pid``'s environment, None when absent or unreadable (not ours).

    For a moment after ``exec`` (``Popen`` has returned) the kernel shows an empty environment:
    a process younger than ``EXEC_SETTLE_SECONDS`` is read again until it shows one."""
    prefix = f"{SECRET_ENV}=".encode()
    deadline = time.monotonic() + EXEC_SETTLE_SECONDS
    while True:
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:
            return None
        if environ or time.monotonic() > deadline or _age(pid) > EXEC_SETTLE_SECONDS:
            break
        time.sleep(0.005)
    for entry in environ.split(b"\0"):
        if entry.startswith(prefix):
            return entry[len(prefix) :].decode(errors="replace")
    return None


def _age(pid: int) -> float:
    """Seconds since ``pid`` started (infinite when unknown)."""
    start = process_start(pid)
    try:
        uptime = float(Path("/proc/uptime").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return float("inf")
    return float("inf") if start is None else uptime - start / os.sysconf("SC_CLK_TCK")


def runner_alive(request: dict[str, Any]) -> bool:
    """True while the job's own runner runs: a live process whose pid, start time, boot and
    secret all match what the queue recorded when it started it. Any other process (a planted
    pid, a pid reused after the runner died) is not the job's."""
    pid = request.get("pid")
    if not _is_int(pid) or pid <= 0 or not request.get("secret_sha256"):
        return False
    if not pid_alive(pid):
        return False
    if request.get("boot_id") != boot_id() or process_start(pid) != request.get("process_start"):
        return False
    secret = _environment_secret(pid)
    return secret is not None and secrets.compare_digest(
        secret_hash(secret), str(request["secret_sha256"])
    )


def sweep_nice() -> int:
    """How much a sweep lowers its CPU priority: ``$FORGELENS_SWEEP_NICE`` (0-19), else 10."""
    text = os.environ.get(NICE_ENV, "").strip()
    if not text:
        return DEFAULT_NICE
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 19:
        raise ForgeLensError(
            f"{NICE_ENV}={text!r} is not allowed; allowed: an integer from 0 to 19 (how much "
            "lower a sweep's CPU priority is than the server's)"
        )
    return value


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
    elif runner_alive(request):
        state = RUNNING
    elif (
        phase == STARTING
        and not request.get("pid")
        and 0 <= time.time() - float(request.get("starting") or 0.0) < START_GRACE_SECONDS
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
    started. Safe to call from anywhere, any number of times (it holds the queue lock): the
    pages call it too, so a queue whose runner was killed moves on. ``python`` is the caller's
    interpreter (never one a job file names)."""
    started = []
    with queue_lock(root):
        jobs = load_jobs(root)
        free = max_jobs() - sum(job.state == RUNNING for job in jobs)
        for job in _queued_oldest_first(jobs)[: max(free, 0)]:
            secret = secrets.token_hex(16)
            request = {
                **job.request,
                "phase": STARTING,
                "starting": time.time(),
                "secret_sha256": secret_hash(secret),
                "boot_id": boot_id(),
            }
            write_job(root, request)  # recorded before the process exists
            pid = start_runner(root, request, python, secret=secret)
            request.update(pid=pid, process_start=process_start(pid))
            write_job(root, request)
            started.append(job.job_id)
    return started


def resume(root: str | os.PathLike[str]) -> list[str]:
    """Start waiting jobs when a slot is free though no runner did (its runner was killed, say,
    with kill -9): the pages call this as they poll. Reads the job files without the lock and
    takes it only when a queued job could start. Returns the ids started."""
    jobs = load_jobs(root)
    if not any(job.state == QUEUED for job in jobs):
        return []
    if sum(job.state == RUNNING for job in jobs) >= max_jobs():
        return []
    return dispatch(root)


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
    if job.state != RUNNING or not runner_alive(job.request):
        return False  # never signal a process the queue did not start
    write_job(root, {**job.request, "stopped": time.time()})
    try:
        if os.getpgid(pid) != pid:  # the runner leads its own group (start_new_session)
            return False
        os.killpg(pid, signal.SIGINT)
    except ProcessLookupError:
        return False
    return True


def start_runner(
    root: str | os.PathLike[str],
    request: dict[str, Any],
    python: str | None = None,
    *,
    secret: str = "",
) -> int:
    """Start the runner of a queued job, detached (its own session), with the job's secret in
    its environment; returns its pid."""
    env = {
        **os.environ,
        SECRET_ENV: secret,
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
    os.nice(sweep_nice())  # below the server, so pages stay responsive during a sweep
    secret = os.environ.get(SECRET_ENV, "")
    try:
        with queue_lock(root):
            request = read_job(root, job_id)  # checked: a damaged or planted file stops here
            if request.get("phase") == CANCELLED or request.get("stopped"):
                return 0  # cancelled or stopped before it began
            if request.get("secret_sha256") != secret_hash(secret):
                raise DamagedJobError(f"job {job_id} was not started by this queue")
            command = job_command(root, request)
            request.update(
                phase=STARTED,
                pid=os.getpid(),
                process_start=process_start(os.getpid()),
                started=time.time(),
            )
            write_job(root, request)
    except (DamagedJobError, ForgeLensError) as error:
        print(f"forgelens: job {job_id} not run: {error}", file=sys.stderr)
        dispatch(root)  # the next queued job, if any
        return 2
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with (jobs_dir(root) / f"{job_id}.log").open("ab") as log:
        child = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
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


def _die_with_parent() -> None:
    """In the sweep's process, before exec: SIGTERM when the runner dies (even by kill -9), so
    no sweep runs on untracked and the queue can start the next job (Linux ``prctl``)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def main(argv: list[str]) -> int:
    if len(argv) == 3 and argv[0] == "run":
        return _run(argv[1], argv[2])
    print("usage: python -m dashboard.job_queue run ROOT JOB_ID", file=sys.stderr)
    return 2


if __name__ == "__main__":  # pragma: no cover - exercised through subprocesses
    sys.exit(main(sys.argv[1:]))
