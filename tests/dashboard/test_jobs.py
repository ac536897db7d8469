"""Background sweeps: the command line, progress parsing, states, stop, and one real run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.base.processes import pid_alive
from core.base.validation import ForgeLensError
from core.cli.main import parser
from core.storage.store import RunStore
from dashboard import jobs


def test_cli_command_round_trips_through_the_cli_parser(tmp_path: Path) -> None:
    progress = tmp_path / "_jobs" / "x.jsonl"
    command = jobs.cli_command(
        "debug",
        ["random", "forge"],
        [0.05, 0.1],
        [0, 2],
        root=tmp_path,
        progress=progress,
        device="cpu",
        umap=False,
        python="py",
    )
    assert command[:4] == ["py", "-m", "core", "run"]
    args = parser().parse_args(command[3:])
    assert (args.scenario, args.methods, args.budgets, args.seeds) == (
        "debug",
        ["random", "forge"],
        [0.05, 0.1],
        [0, 2],
    )
    assert (args.out, args.device, args.progress) == (str(tmp_path.resolve()), "cpu", str(progress))
    assert args.no_umap and args.quiet
    assert "--no-umap" not in jobs.cli_command(
        "debug", ["random"], [0.1], [0], root=tmp_path, progress=progress
    )
    with pytest.raises(ForgeLensError, match="device"):
        jobs.cli_command(
            "debug", ["random"], [0.1], [0], root=tmp_path, progress=progress, device="tpu"
        )
    assert args.adaptation is None  # the CLI then uses the scenario's default mode
    head = jobs.cli_command(
        "debug", ["random"], [0.1], [0], root=tmp_path, progress=progress, adaptation="head"
    )
    assert parser().parse_args(head[3:]).adaptation == "head"
    with pytest.raises(ForgeLensError, match="adaptation"):
        jobs.cli_command(
            "debug", ["random"], [0.1], [0], root=tmp_path, progress=progress, adaptation="lora"
        )
    with pytest.raises(ForgeLensError, match="seeds"):
        jobs.cli_command("debug", ["random"], [0.1], [], root=tmp_path, progress=progress)
    assert (args.executor, args.address, args.jobs) == ("local", None, 1)
    on_ray = jobs.cli_command(
        "debug",
        ["random"],
        [0.1],
        [0],
        root=tmp_path,
        progress=progress,
        ray_address=" ray://head:10001 ",
    )
    parsed = parser().parse_args(on_ray[3:])
    assert (parsed.executor, parsed.address) == ("ray", "ray://head:10001")
    with pytest.raises(ForgeLensError, match="ray_address='two words'"):
        jobs.cli_command(
            "debug",
            ["random"],
            [0.1],
            [0],
            root=tmp_path,
            progress=progress,
            ray_address="two words",
        )


def test_default_request_is_the_cli_default_sweep() -> None:
    from core.scenarios import DEFAULT_SCENARIO

    request = jobs.default_request()
    args = parser().parse_args(["run"])
    assert request == {
        "scenario": args.scenario or DEFAULT_SCENARIO,
        "methods": args.methods,
        "budgets": args.budgets,
        "seeds": args.seeds,
    }


def _write_job(
    root: Path,
    job_id: str,
    events: list[dict],
    pid: int | None,
    *,
    tail: str = "",
    **fields: object,
) -> None:
    folder = jobs.jobs_dir(root)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{job_id}.json").write_text(
        json.dumps({"job_id": job_id, "pid": pid, "scenario": "debug", **fields})
    )
    lines = "".join(json.dumps(e) + "\n" for e in events)
    (folder / f"{job_id}.jsonl").write_text(lines + tail)


def test_progress_is_read_from_whole_lines_and_summarised(tmp_path: Path) -> None:
    events = [
        {"stage": "scenario", "message": "loading"},
        {
            "stage": "select",
            "run_index": 0,
            "n_runs": 4,
            "method": "forge",
            "budget": 0.1,
            "seed": 0,
            "message": "selecting",
        },
        {
            "stage": "done",
            "run_index": 0,
            "n_runs": 4,
            "method": "forge",
            "budget": 0.1,
            "seed": 0,
            "message": "done",
        },
        {
            "stage": "adapt",
            "run_index": 1,
            "n_runs": 4,
            "method": "forge",
            "budget": 0.1,
            "seed": 1,
            "message": "fine-tuning",
        },
    ]
    _write_job(tmp_path, "j1", events, pid=None, tail='{"stage": "rec')  # half-written line
    status = jobs.job_status(tmp_path, "j1")
    assert len(status.events) == 4
    assert (status.n_runs, status.runs_done, status.fraction) == (4, 1, 0.25)
    assert status.stages_seen == ["scenario", "select", "done", "adapt"]
    assert status.headline() == "1/4 runs · forge budget 0.1 seed 1 · adapt: fine-tuning"
    assert status.state == jobs.FAILED  # no final event and no live process


def test_estimate_events_become_notes(tmp_path: Path) -> None:
    events = [
        {"stage": "features", "estimate_seconds": 42.4, "message": "features: about 42 s"},
        {"stage": "features", "seconds": 40.0, "message": "features computed"},
        {
            "stage": "adapt",
            "run_index": 0,
            "n_runs": 4,
            "estimate_seconds": 150.0,
            "message": "full fine-tuning",
        },
    ]
    _write_job(tmp_path, "est", events, pid=None)
    assert jobs.job_status(tmp_path, "est").estimate_notes() == [
        "first feature pass: about 42 s",
        "full fine-tuning: about 2.5 min per run (about 10.0 min for all 4)",
    ]
    _write_job(tmp_path, "none", events[1:2], pid=None)
    assert jobs.job_status(tmp_path, "none").estimate_notes() == []


def test_final_events_decide_finished_or_failed(tmp_path: Path) -> None:
    _write_job(tmp_path, "ok", [{"stage": "finished", "message": "2 runs", "done": True}], None)
    _write_job(tmp_path, "bad", [{"stage": "failed", "message": "Boom", "done": True}], None)
    assert jobs.job_status(tmp_path, "ok").state == jobs.FINISHED
    assert jobs.job_status(tmp_path, "ok").fraction == 1.0
    assert jobs.job_status(tmp_path, "bad").state == jobs.FAILED
    assert [s.job_id for s in jobs.list_jobs(tmp_path)] == ["ok", "bad"]  # newest id first
    assert jobs.list_jobs(tmp_path / "nowhere") == []


def test_running_job_can_be_stopped(tmp_path: Path) -> None:
    # A job's CLI starts with SIGINT at its default (the runner, dashboard.job_queue, sets a
    # handler, which exec resets). A sleeper would inherit pytest's disposition instead: ignored
    # when the tests run as a background command of a script (seen: `make test &`), and then
    # the Stop could never reach it. So it takes the default itself, then says it is ready.
    # It carries a job secret as the queue's runners do (job_queue.start_runner): only such a
    # process, with the recorded start time, is the job's (test_job_trust).
    sleeper = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import signal, time; signal.signal(signal.SIGINT, signal.default_int_handler); "
            "print('ready', flush=True); time.sleep(60)",
        ],
        start_new_session=True,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, jobs.job_queue.SECRET_ENV: "s3cret"},
    )
    assert sleeper.stdout.readline().strip() == "ready"
    try:
        _write_job(
            tmp_path,
            "live",
            [{"stage": "scenario", "message": "x"}],
            sleeper.pid,
            process_start=jobs.job_queue.process_start(sleeper.pid),
            boot_id=jobs.job_queue.boot_id(),
            secret_sha256=jobs.job_queue.secret_hash("s3cret"),
        )
        assert jobs.job_status(tmp_path, "live").state == jobs.RUNNING
        assert jobs.stop_job(tmp_path, "live")
        sleeper.wait(timeout=10)
        assert jobs.job_status(tmp_path, "live").state == jobs.STOPPED
        assert not jobs.stop_job(tmp_path, "live")
    finally:
        if sleeper.poll() is None:
            sleeper.kill()
            sleeper.wait()
        sleeper.stdout.close()


def test_pid_alive_reaps_a_finished_child() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.time() + 20
    while pid_alive(child.pid) and time.time() < deadline:
        time.sleep(0.05)
    assert not pid_alive(child.pid)
    assert not pid_alive(None)
    assert pid_alive(1)  # init runs, whether or not we may signal it


def test_launch_job_runs_the_cli_detached_and_reports_progress(
    debug_store: Path, tmp_path: Path
) -> None:
    """A real one-run sweep in a fresh store (source model copied, so nothing is retrained)."""
    root = tmp_path / "store"
    shutil.copytree(debug_store / "_models", root / "_models")
    job_id = jobs.submit_job(root, "debug", ["random"], [0.1], [0], device="cpu", umap=False).job_id
    deadline = time.time() + 180
    status = jobs.job_status(root, job_id)
    while status.state == jobs.RUNNING and time.time() < deadline:
        time.sleep(0.5)
        status = jobs.job_status(root, job_id)
    assert status.state == jobs.FINISHED, status.log_tail
    assert {
        "scenario",
        "source model",
        "embed",
        "select",
        "adapt",
        "records",
        "done",
        "finished",
    } <= set(status.stages_seen)
    assert (status.n_runs, status.runs_done) == (1, 1)
    runs = RunStore(root).finished_runs()
    assert runs[["method", "budget", "seed"]].values.tolist() == [["random", 0.1, 0]]
    assert jobs.job_queue.job_command(root, status.request)[-1] == "--no-umap"
