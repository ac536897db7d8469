"""Pool jobs (``core.tasks.pool_jobs``: the Theory page's tangent norms, the UMAP views)
computed beside a sweep's runs instead of before or after them.

Why: the first Figure 5 needs only the first run. On the default pool the full-network tangent
norms take ~15 s of one core and the three UMAP views ~13 s; they used to precede the first
run and follow the last one. Now a helper process, spawned when the sweep starts, does its
imports and warm-ups (numba compiling UMAP's code) while the source model trains on one thread,
then takes the jobs' units from a shared counter while this process runs the runs. Once the
runs are done this process takes units from the same counter too, and joins the parts.

Neither the order nor the process that computes a unit changes a result: a job is split only
when ``PoolJob.anywhere`` says any process gives the same bits, and its parts join into the
whole job's array. The helper is only an accelerator: a unit it fails on or leaves behind (it
died) is computed here, and its error, if it fails here too, is the sweep's.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import queue
import signal
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from multiprocessing.reduction import ForkingPickler
from typing import Any

import numpy as np

from core.base.memory import keep_freed_memory
from core.base.processes import die_with_parent
from core.base.progress import Progress, ignore
from core.tasks.pool_jobs import PoolJob

Unit = tuple[int, int | None]  # (job index, part index or None for a whole job)
POLL_SECONDS = 0.5
STOP_SECONDS = 1.0  # how long a helper told to stop may take before it is killed


def cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


class FollowUp:
    """The pool jobs of one sweep. ``warm_ups``: module-level functions the helper calls
    first (imports, JIT compilation); ``helper``: False computes everything here (the runs
    use every core already: worker processes or a Ray cluster).

    Use: ``start()`` before preparing the pool, ``submit(jobs)`` once it is prepared,
    ``poll(notify)`` between runs, ``finish(notify)`` after them, ``close()`` always."""

    def __init__(self, warm_ups: Sequence[Callable[[], None]] = (), *, helper: bool = True):
        self.warm_ups = tuple(warm_ups)
        self.helper = helper
        self._process: Any = None
        self._jobs: list[PoolJob] = []
        self._shared: list[Unit] = []
        self._values: dict[Unit, Any] = {}
        self._helper_done = False

    # ---- the helper process -----------------------------------------------------------------
    def start(self) -> None:
        """Spawn the helper now when it has warm-ups to overlap with the pool's preparation
        (else at ``submit``, and only when there are units to share)."""
        if self.warm_ups:
            self._spawn()

    def _spawn(self) -> None:
        if self._process is not None or not self.helper or cores() < 2:
            return
        context = multiprocessing.get_context("spawn")  # no forked torch or OpenMP state
        self._inbox, self._results = context.Queue(), context.Queue()
        self._counter = context.Value("i", 0)
        self._process = context.Process(
            target=_helper_main,
            args=(os.getpid(), self._inbox, self._results, self._counter, self.warm_ups),
            name="forgelens-follow-up",
            daemon=True,
        )
        try:
            self._process.start()
        except OSError:  # no process to spare (a limit on processes or memory): all done here
            self._process = None
            self.helper = False
            return
        self._threads = _torch_threads(max(1, cores() - 1))  # a core is the helper's

    def submit(self, jobs: Sequence[PoolJob]) -> None:
        """The pool's jobs, once it is prepared: the helper starts on the shared units."""
        self._jobs = list(jobs)
        self._shared = shared_units(self._jobs)
        if len(self._shared) >= 2:
            self._spawn()
        if self._process is None:
            return
        try:  # pickled here and now: a queue's feeder thread would pickle them later, while
            # this process's next steps may use the same model (torch.func swaps its parameters)
            payload = bytes(ForkingPickler.dumps(self._jobs if self._shared else []))
        except Exception:  # noqa: BLE001 - a job that cannot travel: all of it is done here
            self.close()
            self.helper = False
            return
        self._inbox.put(payload)

    # ---- this process ---------------------------------------------------------------------
    def poll(self, notify: Progress = ignore) -> None:
        """Take in what the helper finished so far, without waiting."""
        while self._process is not None and not self._helper_done:
            try:
                message = self._results.get_nowait()
            except queue.Empty:
                return
            self._take(message, notify)

    def finish(self, notify: Progress = ignore) -> None:
        """Compute every unit still open (claiming shared ones from the counter the helper
        uses), wait for the helper's, then save each split job's joined parts."""
        if not self._jobs:
            return
        while (index := self._claim()) is not None:
            self._compute(self._shared[index], notify)
        for i, job in enumerate(self._jobs):
            if not job.anywhere:
                for part in job.units():
                    self._compute((i, part), notify)
        self._wait_for_helper(notify)
        self._wait_for_finished(notify)
        for unit in self._shared:  # what the helper failed on or left: computed here
            if unit not in self._values:
                self._compute(unit, notify)
        for i, job in enumerate(self._jobs):
            if job.parts and job.save is not None:
                joined = np.concatenate([self._values[(i, p)] for p in job.units()])
                job.save(*job.save_args, joined)

    def close(self) -> None:
        """End the helper (it is done, or the sweep failed)."""
        if self._process is None:
            return
        if self._helper_done:  # it said "finished": its own slow teardown is not waited for
            self._process.kill()
        elif self._process.is_alive():  # stopped early: it exits at its next bytecode, as
            self._process.terminate()  # Python does, releasing what its imports registered
            self._process.join(timeout=STOP_SECONDS)  # with multiprocessing's tracker
            if self._process.is_alive():  # inside one long C call
                self._process.kill()
        self._process.join(timeout=10)
        _torch_threads(self._threads)
        for channel in (self._inbox, self._results):
            channel.close()
            channel.cancel_join_thread()
        # dropped now: their semaphores are released here, not left to the resource tracker
        self._process = self._inbox = self._results = self._counter = None

    def __enter__(self) -> FollowUp:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- internals --------------------------------------------------------------------------
    def _claim(self) -> int | None:
        if self._process is None:  # no helper: this process takes the shared units in order
            for index, unit in enumerate(self._shared):
                if unit not in self._values:
                    return index
            return None
        index = claim(self._counter)
        return index if index < len(self._shared) else None

    def _compute(self, unit: Unit, notify: Progress) -> None:
        job = self._jobs[unit[0]]
        notify({"stage": job.stage, "message": _describe(job, unit[1])})
        started = time.perf_counter()
        self._values[unit] = job.run(unit[1])
        notify(
            {
                "stage": job.stage,
                "message": f"{_describe(job, unit[1])}: {time.perf_counter() - started:.1f} s",
                "seconds": time.perf_counter() - started,
                "by": "sweep",
            }
        )

    def _take(self, message: tuple, notify: Progress) -> None:
        kind = message[0]
        if kind == "finished":
            self._helper_done = True
        elif kind == "done":
            _, index, value, seconds = message
            unit = self._shared[index]
            self._values[unit] = value
            job = self._jobs[unit[0]]
            notify(
                {
                    "stage": job.stage,
                    "message": f"{_describe(job, unit[1])}: {seconds:.1f} s beside the runs",
                    "seconds": seconds,
                    "by": "helper",
                }
            )
        elif kind == "failed":  # computed here instead, where its error is the sweep's
            _, index, error = message
            job = self._jobs[self._shared[index][0]]
            notify({"stage": job.stage, "message": f"helper failed, redone here: {error}"})

    def _wait_for_finished(self, notify: Progress) -> None:
        """The helper's last word, which follows its last unit within milliseconds (not
        waited for when it is still warming up: ``close`` stops it then)."""
        deadline = time.monotonic() + STOP_SECONDS
        while self._process is not None and not self._helper_done:
            try:
                self._take(self._results.get(timeout=max(0.0, deadline - time.monotonic())), notify)
            except queue.Empty:
                return

    def _wait_for_helper(self, notify: Progress) -> None:
        """Until every shared unit is in: the helper's, or none will come (it died, or it
        ended); never for a helper still warming up with nothing of ours."""
        while (
            self._process is not None
            and not self._helper_done
            and any(unit not in self._values for unit in self._shared)
        ):
            try:
                message = self._results.get(timeout=POLL_SECONDS)
            except queue.Empty:
                if not self._process.is_alive():  # died: its open units are done here
                    self.poll(notify)  # what it sent before it died
                    return
                continue
            self._take(message, notify)


def shared_units(jobs: Sequence[PoolJob]) -> list[Unit]:
    """The units any process may compute, in the order both processes take them."""
    return [(i, part) for i, job in enumerate(jobs) if job.anywhere for part in job.units()]


def claim(counter: Any) -> int:
    """The next unit's index from the counter the helper and the sweep share."""
    with counter.get_lock():
        index = counter.value
        counter.value += 1
    return index


def _torch_threads(threads: int) -> int:
    """Set torch's intra-op threads in this process; returns the previous count. Training
    runs on one thread whatever this says, and forward passes give the same bits at any count
    (``core.nn.threads``): this only keeps the runs from contending with the helper."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    return previous


def _describe(job: PoolJob, part: int | None) -> str:
    return job.label if part is None else f"{job.label}, part {part + 1}/{len(job.parts)}"


_EXITING = False  # in the helper: it said "finished" and is exiting by itself


def _stop_helper(*_: object) -> None:
    """The helper's SIGTERM: exit as Python does (its finalizers release what it registered),
    unless it is doing so already."""
    if not _EXITING:
        sys.exit(0)


def _helper_main(
    parent: int,
    inbox: Any,
    results: Any,
    counter: Any,
    warm_ups: Sequence[Callable[[], None]],
) -> None:
    """The helper: warm up, receive the pool's jobs, take shared units until none is left."""
    die_with_parent(parent)
    # Ctrl-C (or a dashboard's Stop) reaches the whole process group: the sweep's process
    # decides, and ends the helper itself (``close``); no second traceback in the log
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # ``close`` ends it with SIGTERM: exit as Python does, so that what its imports registered
    # with multiprocessing's resource tracker is released (no "leaked semaphore" warning)
    signal.signal(signal.SIGTERM, _stop_helper)
    keep_freed_memory()
    _single_thread_torch()
    for warm_up in warm_ups:  # a failing warm-up only costs time: its job will say why
        with contextlib.suppress(Exception):
            warm_up()
    jobs = ForkingPickler.loads(inbox.get())
    shared = shared_units(jobs)
    while (index := claim(counter)) < len(shared):
        job_index, part = shared[index]
        started = time.perf_counter()
        try:
            value = jobs[job_index].run(part)
        except Exception as error:  # noqa: BLE001 - reported; the sweep redoes the unit
            results.put(("failed", index, f"{type(error).__name__}: {error}"))
            traceback.print_exc()
            continue
        results.put(("done", index, value, time.perf_counter() - started))
    results.put(("finished",))
    global _EXITING
    _EXITING = True  # from here on a SIGTERM waits for the exit under way


def _single_thread_torch() -> None:
    """The helper runs torch on one thread: the sweep's process keeps the other cores for
    the runs (CPU results do not depend on it, ``core.nn.threads``)."""
    import torch

    torch.set_num_threads(1)
