"""The job queue trusts no job file: a planted command is never run, a planted pid is never
signalled, a killed runner does not stall the queue, and sweeps run below the server's CPU
priority. Runners are real (standard library); the CLI they start is a stand-in
(``tests.helpers.fake_cli``) so that each case takes about a second."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from core.base.paths import JOBS
from core.base.validation import ForgeLensError
from core.cli.main import parser
from dashboard import job_queue, job_seal, jobs
from tests.helpers.app import open_app

PLANTED = "20260101-000000-00beef"


@pytest.fixture
def fake_cli(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(job_queue.MODULE_ENV, "tests.helpers.fake_cli")
    monkeypatch.delenv(job_queue.MAX_JOBS_ENV, raising=False)
    monkeypatch.delenv(job_queue.NICE_ENV, raising=False)


def _wait(condition: Callable[[], bool], seconds: float = 60) -> None:
    deadline = time.time() + seconds
    while not condition():
        assert time.time() < deadline, "timed out"
        time.sleep(0.1)


def _submit(root: Path, scenario: str, methods=("random",)) -> str:
    """A sweep through the real queue; the stand-in CLI runs ``quick`` and ``slow``."""
    return jobs.submit_job(
        root, scenario, list(methods), [0.1], [0], device="cpu", umap=False, check_memory=False
    ).job_id


def _plant(root: Path, request: dict) -> None:
    folder = root / JOBS
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{request['job_id']}.json").write_text(json.dumps(request))


def _log(root: Path, job_id: str) -> str:
    path = root / JOBS / f"{job_id}.log"
    return path.read_text() if path.is_file() else ""


def _report(root: Path, job_id: str) -> dict:
    line = next(x for x in _log(root, job_id).splitlines() if x.startswith("fake_cli "))
    return json.loads(line.removeprefix("fake_cli "))


@pytest.fixture(autouse=True)
def _quick_scenarios(monkeypatch: pytest.MonkeyPatch) -> None:
    """``quick`` and ``slow`` pass the page's scenario check (they exist for the stand-in)."""
    monkeypatch.setattr(jobs, "scenario_entry", lambda name, root=None: name)


def _kill_runners(root: Path) -> None:
    for job in job_queue.load_jobs(root):
        pid = job.request.get("pid")
        if job.state == jobs.RUNNING and pid:
            os.killpg(pid, signal.SIGKILL)


@pytest.fixture
def store(tmp_path: Path, fake_cli):
    root = tmp_path / "store"
    root.mkdir()
    yield root
    _kill_runners(root)


# ---- item 1: a job file is data, never a command ---------------------------------------------
def test_a_planted_queued_command_is_never_run(store: Path) -> None:
    marker = store.parent / "pwned"
    evil = [sys.executable, "-c", f"open({str(marker)!r}, 'w')"]
    _plant(store, {"job_id": PLANTED, "phase": "queued", "command": evil, "submitted": 0.0})
    planted_full = "20260101-000000-00cafe"
    _plant(
        store,
        {
            "job_id": planted_full,
            "phase": "queued",
            "command": evil,
            "python": sys.executable,
            "scenario": "quick",
            "methods": ["random"],
            "budgets": [0.1],
            "seeds": [0],
            "submitted": 0.0,
        },
    )
    for job_id, reason in ((PLANTED, "without scenario"), (planted_full, "with command")):
        job = job_queue.load_job(store, job_id)
        assert job.state == jobs.DAMAGED and reason in job.problem, job.problem
    assert jobs.dispatch(store) == [] and jobs.resume(store) == []
    mine = _submit(store, "quick")  # a launch, and the runner's dispatch when it ends
    _wait(lambda: job_queue.load_job(store, mine).state == jobs.FINISHED)
    time.sleep(0.5)  # the runner's own dispatch after the job
    assert not marker.exists()
    assert {job.job_id: job.state for job in job_queue.load_jobs(store)} == {
        mine: jobs.FINISHED,
        PLANTED: jobs.DAMAGED,
        planted_full: jobs.DAMAGED,
    }
    # the runner built the command from the fields, with the queue's own store and progress
    argv = _report(store, mine)["argv"]
    assert argv[:3] == ["run", "--scenario", "quick"]
    assert argv[argv.index("--out") + 1] == str(store.resolve())


@pytest.mark.parametrize(
    "code",
    [{"methods": ["random", "runs.planted:Picker"]}, {"ray_address": "ray://elsewhere:10001"}],
)
def test_a_planted_request_naming_code_is_never_run(store: Path, code: dict) -> None:
    """An import-path selector or a Ray address runs code the request chooses: a planted one
    (no seal from this machine's key, or a seal copied onto other fields) is set aside."""
    request = {
        "job_id": PLANTED,
        "phase": "queued",
        "scenario": "quick",
        "methods": ["random"],
        "budgets": [0.1],
        "seeds": [0],
        "submitted": 0.0,
        **code,
    }
    _plant(store, request)
    job = job_queue.load_job(store, PLANTED)
    assert job.state == jobs.DAMAGED and "seal" in job.problem, job.problem
    assert jobs.dispatch(store) == []
    # a seal made for other fields does not carry over
    other = {**request, "scenario": "slow", "methods": ["random", "my_pkg.picks:TypiClust"]}
    _plant(store, {**request, "seal": job_seal.seal(other)})
    assert job_queue.load_job(store, PLANTED).state == jobs.DAMAGED
    # the same request, sealed with this machine's key, is a job
    _plant(store, {**request, "seal": job_seal.seal(request)})
    assert job_queue.load_job(store, PLANTED).state == jobs.QUEUED


def test_the_page_seals_what_it_submits_with_a_key_outside_the_store(store: Path) -> None:
    job_id = _submit(store, "quick", methods=("random", "my_pkg.picks:TypiClust"))
    request = job_queue.load_job(store, job_id).request
    assert job_seal.sealed(request) and request["seal"] != ""
    assert store.resolve() not in job_seal.key_path().resolve().parents
    assert job_seal.key_path().stat().st_mode & 0o077 == 0  # the user's alone
    plain = _submit(store, "slow")  # plain names need no seal
    assert "seal" not in job_queue.load_job(store, plain).request


def test_an_unwritable_key_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("")
    monkeypatch.setenv(job_seal.KEY_ENV, str(blocked / "job.key"))  # under a file: unwritable
    with pytest.raises(ForgeLensError, match="job key .* cannot be written"):
        job_seal.seal({"methods": ["my_pkg.picks:TypiClust"]})


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("scenario", "--out=/etc"),
        ("scenario", 5),
        ("methods", ["random", "-x"]),
        ("methods", "random"),
        ("budgets", [2.0]),
        ("budgets", [True]),
        ("seeds", ["0"]),
        ("device", "cpu --out /tmp"),
        ("umap", "false"),
        ("adaptation", "--preset=paper"),
        ("ray_address", "--help"),
        ("pid", "12"),
        ("submitted", "yesterday"),
    ],
)
def test_a_job_field_of_the_wrong_type_or_form_makes_the_job_damaged(
    store: Path, field: str, value: object
) -> None:
    request = {
        "job_id": PLANTED,
        "phase": "queued",
        "scenario": "quick",
        "methods": ["random"],
        "budgets": [0.1],
        "seeds": [0],
        field: value,
    }
    _plant(store, request)
    job = job_queue.load_job(store, PLANTED)
    assert job.state == jobs.DAMAGED
    assert f"field {field}=" in job.problem and "allowed" in job.problem
    assert jobs.dispatch(store) == []
    assert not jobs.stop_job(store, PLANTED) and not jobs.cancel_job(store, PLANTED)


def test_a_valid_request_runs_as_the_command_the_page_shows(tmp_path: Path) -> None:
    request = {
        "job_id": "j1",
        "scenario": "debug",
        "methods": ["random", "forge"],
        "budgets": [0.05, 0.1],
        "seeds": [0, 2],
        "device": "cpu",
        "umap": False,
        "adaptation": "head",
        "ray_address": "ray://head:10001",
    }
    assert job_queue.check_request(request) == ""
    built = job_queue.job_command(tmp_path, request)
    shown = jobs.cli_command(
        "debug",
        ["random", "forge"],
        [0.05, 0.1],
        [0, 2],
        root=tmp_path,
        progress=(tmp_path / JOBS / "j1.jsonl").resolve(),
        device="cpu",
        umap=False,
        adaptation="head",
        ray_address="ray://head:10001",
    )
    assert built == shown
    args = parser().parse_args(built[3:])
    assert (args.executor, args.address, args.adaptation) == ("ray", "ray://head:10001", "head")


def test_a_planted_queued_job_does_not_disable_the_launch_buttons(
    empty_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _plant(empty_store, {"job_id": PLANTED, "phase": "queued", "command": ["id"]})
    at = open_app(empty_store, monkeypatch)
    presets = [b for b in at.button if b.key and b.key.startswith("preset-")]
    assert presets and not any(b.disabled for b in presets)


# ---- item 3: only the queue's own processes are signalled ------------------------------------
@pytest.fixture
def bystander():
    """An unrelated process in its own group, as a planted job would name."""
    process = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(120)"], start_new_session=True
    )
    yield process
    process.kill()
    process.wait()


def test_a_planted_started_job_holds_no_slot_and_is_never_signalled(
    store: Path, bystander: subprocess.Popen
) -> None:
    _plant(
        store,
        {
            "job_id": PLANTED,
            "phase": "started",
            "pid": bystander.pid,
            "scenario": "quick",
            "methods": ["random"],
            "budgets": [0.1],
            "seeds": [0],
        },
    )
    assert job_queue.load_job(store, PLANTED).state == jobs.FAILED  # not the job's process
    assert not jobs.stop_job(store, PLANTED) and not jobs.cancel_job(store, PLANTED)
    mine = _submit(store, "quick")  # the slot is free
    _wait(lambda: job_queue.load_job(store, mine).state == jobs.FINISHED)
    time.sleep(0.3)
    assert bystander.poll() is None  # never signalled


def test_a_pid_with_another_start_time_or_without_the_secret_is_not_the_job(
    store: Path, bystander: subprocess.Popen
) -> None:
    mine = _submit(store, "slow")
    _wait(lambda: "ready" in _log(store, mine))
    request = job_queue.read_job(store, mine)
    assert job_queue.runner_alive(request) and _report(store, mine)["has_secret"]
    # the same record pointing at another process (a pid reused after the runner died)
    for changes in (
        {"pid": bystander.pid, "process_start": job_queue.process_start(bystander.pid)},
        {"process_start": request["process_start"] + 1},
        {"secret_sha256": job_queue.secret_hash("guess")},
        {"boot_id": "another-boot"},
    ):
        assert not job_queue.runner_alive({**request, **changes}), changes
    _plant(store, {**request, "job_id": PLANTED, "pid": bystander.pid})
    assert not jobs.stop_job(store, PLANTED)
    assert bystander.poll() is None
    assert jobs.stop_job(store, mine)  # the real one stops
    _wait(lambda: job_queue.load_job(store, mine).state == jobs.STOPPED)


def test_a_process_is_recognised_right_after_it_starts() -> None:
    """The kernel shows an empty environment for a moment after exec (seen: 47 of 150 checks
    right after Popen returned): the check waits for a young process instead of failing it."""
    for _ in range(20):
        secret = os.urandom(8).hex()
        process = subprocess.Popen(
            [sys.executable, "-c", "import time; time.sleep(30)"],
            start_new_session=True,
            env={**os.environ, job_queue.SECRET_ENV: secret},
        )
        try:
            request = {
                "pid": process.pid,
                "process_start": job_queue.process_start(process.pid),
                "boot_id": job_queue.boot_id(),
                "secret_sha256": job_queue.secret_hash(secret),
            }
            assert job_queue.runner_alive(request)
        finally:
            process.kill()
            process.wait()


def test_a_starting_job_dated_in_the_future_does_not_hold_the_slot(store: Path) -> None:
    _plant(
        store,
        {
            "job_id": PLANTED,
            "phase": "starting",
            "starting": time.time() + 1e9,
            "scenario": "quick",
            "methods": ["random"],
            "budgets": [0.1],
            "seeds": [0],
        },
    )
    assert job_queue.load_job(store, PLANTED).state == jobs.FAILED


# ---- item 10: a killed runner does not stall the queue ---------------------------------------
def test_a_runner_killed_with_kill_9_ends_its_sweep_and_the_queue_moves_on(
    store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _submit(store, "slow")
    second = _submit(store, "quick", methods=("margin",))
    assert job_queue.load_job(store, second).state == jobs.QUEUED
    _wait(lambda: "ready" in _log(store, first))
    sweep = _report(store, first)["pid"]
    os.kill(job_queue.read_job(store, first)["pid"], signal.SIGKILL)
    _wait(lambda: job_queue.load_job(store, first).state == jobs.FAILED)
    _wait(lambda: not job_queue.pid_alive(sweep), 20)  # the sweep died with its runner
    assert job_queue.load_job(store, second).state == jobs.QUEUED  # nobody looked yet
    open_app(store, monkeypatch)  # any page's poll notices the free slot
    assert job_queue.load_job(store, second).state in (jobs.RUNNING, jobs.FINISHED)
    _wait(lambda: job_queue.load_job(store, second).state == jobs.FINISHED)
    assert jobs.resume(store) == []


# ---- item 11: sweeps run below the server's CPU priority -------------------------------------
def test_sweeps_run_at_a_lower_cpu_priority(store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mine = _submit(store, "quick")
    _wait(lambda: job_queue.load_job(store, mine).state == jobs.FINISHED)
    assert _report(store, mine)["nice"] == min(19, os.nice(0) + job_queue.DEFAULT_NICE)
    for text in ("high", "-5", "20"):
        monkeypatch.setenv(job_queue.NICE_ENV, text)
        with pytest.raises(ForgeLensError, match=f"FORGELENS_SWEEP_NICE='{text}'.*0 to 19"):
            job_queue.sweep_nice()
    monkeypatch.setenv(job_queue.NICE_ENV, "3")
    assert job_queue.sweep_nice() == 3
