"""Background sweeps as the pages see them: the CLI command of a validated request, its
submission to the store's queue, and each job's status (headline, events, log tail).

The work runs outside the Streamlit script (``python -m core run ... --progress FILE``), in its
own session, so it survives page switches, browser reloads and even a server restart; the page
only reads ``<root>/_jobs/<job_id>.jsonl``. Next to it, ``<job_id>.json`` records the request
(never a command: the runner builds it from the checked fields), the phase and the runner's pid,
start time and secret hash (written atomically before anything starts), and ``<job_id>.log``
holds the process's stdout and stderr. ``submit_job`` goes through the store's queue
(``dashboard.job_queue``, which owns the job files, their states and the dispatch): an identical
sweep already queued or running is not started again, at most ``FORGELENS_MAX_JOBS``
run at once, and a sweep whose memory estimate (``core.run.resources``) does not fit is refused.
"""

from __future__ import annotations

import os
import re
import secrets
import shlex
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.base.params import validate_params
from core.base.progress import format_seconds
from core.base.validation import ForgeLensError
from core.run.constraints import DEFAULT_BUDGETS, DEFAULT_SEEDS, RUN_CONSTRAINTS
from core.scenarios import scenario_entry
from core.selection.plugins import is_spec
from core.storage.atomic import config_id
from dashboard import job_queue, job_seal

# the job states and the queue's operations, as the pages read them (job_queue owns them)
from dashboard.job_queue import (  # noqa: F401 - re-exported for the pages
    ACTIVE,
    CANCELLED,
    DAMAGED,
    FAILED,
    FINISHED,
    QUEUED,
    RUNNING,
    STOPPED,
    cancel_job,
    dispatch,
    jobs_dir,
    queue_position,
    resume,
    stop_job,
)

PIPELINE_STAGES = (
    "scenario",
    "source model",
    "embed",
    "select",
    "adapt",
    "records",
    "umap",
    "tangent norms",
)


@dataclass
class JobStatus(job_queue.Job):
    """What a page shows about one background sweep: the job as its files say (``job_queue``)
    with the tail of its log, and the progress read from its events."""

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
        latest = {
            e.get("stage"): e
            for e in self.events
            if isinstance(e.get("estimate_seconds"), int | float)
        }
        notes = []
        if "features" in latest:
            notes.append(
                "first feature pass: about "
                f"{format_seconds(latest['features']['estimate_seconds'])}"
            )
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


def new_job_id() -> str:
    """Sortable by start time, unique across processes."""
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)


def cli_command(
    scenario: str,
    methods: Sequence[str],
    budgets: Sequence[float],
    seeds: Sequence[int],
    *,
    root: str | os.PathLike[str],
    progress: Path,
    device: str = "auto",
    umap: bool = True,
    python: str | None = None,
    adaptation: str | None = None,
    ray_address: str | None = None,
) -> list[str]:
    """The ``python -m core run`` command line a job runs (also shown to the user; the runner
    builds the same one from the job file's checked fields, ``job_queue.job_command``).

    ``adaptation`` None leaves the mode to the CLI (the scenario's default). The arguments are
    checked here, against the CLI's own constraints (``core.run.constraints.RUN_CONSTRAINTS``).
    ``ray_address`` (e.g. "auto" or "ray://head:10001") runs every run as a task on that Ray
    cluster.
    """
    validate_params(
        RUN_CONSTRAINTS,
        {
            "scenario": scenario,
            "methods": _named_methods(methods),
            "budgets": list(budgets),
            "seeds": list(seeds),
            "adaptation": adaptation,
            "device": device,
            "out": str(root),
            "progress": str(progress),
            "loss": None,  # the Run page keeps the scenario's recipe
            "preset": None,
        },
    )
    scenario_entry(scenario, root)  # a built-in, or a scenario file saved in this store
    return job_queue.command_line(
        scenario,
        list(methods),
        list(budgets),
        list(seeds),
        root=root,
        progress=progress,
        device=device,
        umap=umap,
        python=python,
        adaptation=adaptation,
        ray_address=None if not ray_address else _check_address(ray_address),
    )


SPEC = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*\Z")


def _named_methods(methods: Sequence[str]) -> list[str]:
    """The registered names among ``methods`` (checked against the registry by the caller); an
    import path (``package.module:ClassName``) is checked for its form only: the sweep imports
    it and checks its contract before it writes anything."""
    for method in methods:
        if is_spec(method) and not SPEC.match(method):
            raise ForgeLensError(
                f"method={method!r} is not allowed; allowed: a registered selector or an "
                "import path package.module:ClassName"
            )
    named = [method for method in methods if not is_spec(method)]
    return named if named or not methods else ["random"]  # all import paths: nothing to look up


def _check_address(address: str) -> str:
    """A Ray address as typed: one token, no spaces (Ray itself checks the rest)."""
    if not isinstance(address, str) or not address.strip() or len(address.split()) != 1:
        raise ForgeLensError(
            f"ray_address={address!r} is not allowed; allowed: one address "
            "such as auto or ray://head:10001"
        )
    return address.strip()


def shell_command(command: Sequence[str]) -> str:
    """A command list as one line to paste in a shell."""
    return " ".join(shlex.quote(part) for part in command)


@dataclass(frozen=True)
class Submitted:
    """What happened to a submitted sweep: its job id, and whether it is an identical sweep
    that was already queued or running (then ``job_id`` is that one's)."""

    job_id: str
    duplicate: bool = False
    state: str = QUEUED


def sweep_key(
    scenario: str,
    methods: Sequence[str],
    budgets: Sequence[float],
    seeds: Sequence[int],
    adaptation: str | None,
) -> str:
    """Identity of the runs a sweep computes (order of the choices does not matter)."""
    return config_id(
        {
            "scenario": scenario,
            "methods": sorted(methods),
            "budgets": sorted(float(b) for b in budgets),
            "seeds": sorted(int(s) for s in seeds),
            "adaptation": adaptation,
        }
    )


def submit_job(
    root: str | os.PathLike[str],
    scenario: str,
    methods: Sequence[str],
    budgets: Sequence[float],
    seeds: Sequence[int],
    *,
    device: str = "auto",
    umap: bool = True,
    python: str | None = None,
    adaptation: str | None = None,
    check_memory: bool = True,
    ray_address: str | None = None,
) -> Submitted:
    """Queue a sweep in the store's queue and start it when a slot is free.

    An identical sweep (same scenario, selectors, budgets, seeds and adaptation) that is queued
    or running is returned instead (``duplicate``). A sweep whose memory estimate exceeds what
    is available (plus what running sweeps will give back) is refused with a ForgeLensError.
    The job file is written, atomically, before any process starts.
    """
    folder = jobs_dir(root)
    folder.mkdir(parents=True, exist_ok=True)
    job_id = new_job_id()
    progress = (folder / f"{job_id}.jsonl").resolve()
    command = cli_command(
        scenario,
        methods,
        budgets,
        seeds,
        root=root,
        progress=progress,
        device=device,
        umap=umap,
        python=python,
        adaptation=adaptation,
        ray_address=ray_address,
    )
    key = sweep_key(scenario, methods, budgets, seeds, adaptation)
    with job_queue.queue_lock(root):
        active = [job for job in job_queue.load_jobs(root) if job.state in ACTIVE]
        for job in active:
            if job.request.get("key") == key:
                return Submitted(job.job_id, duplicate=True, state=job.state)
        estimate = None
        if check_memory:
            from core.run.resources import check_sweep_memory

            running = [j.request.get("memory_estimate") for j in active if j.state == RUNNING]
            estimate = check_sweep_memory(
                scenario, adaptation, device, freed_later=sum(int(m or 0) for m in running)
            )
        request = {
            "job_id": job_id,
            "phase": QUEUED,
            "key": key,
            "pid": None,
            "scenario": scenario,
            "methods": list(methods),
            "budgets": [float(b) for b in budgets],
            "seeds": [int(s) for s in seeds],
            "device": device,
            "umap": umap,
            "adaptation": adaptation,
            "ray_address": command[command.index("--address") + 1] if ray_address else None,
            "memory_estimate": estimate,
            "submitted": time.time(),
        }
        if job_seal.names_code(request):  # code only on this machine's word
            request["seal"] = job_seal.seal(request)
        problem = job_queue.check_request(request)
        if problem:  # what the runner would refuse, refused now with the reason
            raise ForgeLensError(f"this sweep cannot be queued: {problem}")
        job_queue.write_job(root, request)
    dispatch(root, python=python)
    return Submitted(job_id, state=job_queue.load_job(root, job_id).state)


def job_status(root: str | os.PathLike[str], job_id: str, *, tail_chars: int = 2000) -> JobStatus:
    """One job's status for a page: its state from its files (``job_queue.load_job``: queued,
    running, finished, failed, stopped, cancelled, or damaged, never raised) and its log's
    last ``tail_chars`` characters."""
    job = job_queue.load_job(root, job_id)
    if job.state == DAMAGED:
        return JobStatus(**vars(job))
    log_path = jobs_dir(root) / f"{job_id}.log"
    tail = log_path.read_text(errors="replace")[-tail_chars:] if log_path.is_file() else ""
    return JobStatus(**vars(job), log_tail=tail)


def list_jobs(root: str | os.PathLike[str]) -> list[JobStatus]:
    """Every job of the store, newest first (files whose names are not job ids are ignored)."""
    return [job_status(root, job_id) for job_id in job_queue.job_ids(root)]


def default_request() -> dict[str, Any]:
    """The sweep ``python -m core run`` performs without arguments (the default experiment):
    the defaults the CLI reads too (the registries and ``core.base.params``)."""
    from core.scenarios import DEFAULT_SCENARIO
    from core.selection import default_methods

    return {
        "scenario": DEFAULT_SCENARIO,
        "methods": list(default_methods()),
        "budgets": list(DEFAULT_BUDGETS),
        "seeds": list(DEFAULT_SEEDS),
    }
