"""Bad inputs and damaged stores as the dashboard meets them.

Damaged runs and job files never take a page down; text from files never reaches HTML
(HTML/script in every text field that reaches a page is shown as text); the queue starts one
sweep however often Launch is clicked; sweeps need the operator's token off localhost; a
viewer never sees a traceback.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.base import paths
from core.base.validation import ForgeLensError
from core.storage.integrity import QUARANTINE, manifest
from core.storage.store import DONE, JOBS, RUN_FORMAT_VERSION, RUNS_ENV, RunStore
from dashboard import access, job_queue, jobs
from tests.helpers.app import chart_specs
from tests.helpers.markdown import unescape_markdown

REPO = Path(__file__).resolve().parents[2]
APP = str(REPO / "dashboard" / "app.py")
EVIL = '<img src=x onerror="alert(1)">[link](javascript:alert(2))'
PAGES = ("home", "run", "gap", "projection", "accuracy", "compare")


def copy_store(debug_store: Path, tmp_path: Path) -> Path:
    root = tmp_path / "store"
    shutil.copytree(debug_store, root, ignore=shutil.ignore_patterns(JOBS))
    return root


def reseal(folder: Path) -> None:
    """Rewrite a folder's DONE manifest: a store edited by someone with write access."""
    (folder / DONE).write_bytes(manifest(folder, RUN_FORMAT_VERSION, exclude=(DONE,)))


def open_page(root: Path, monkeypatch: pytest.MonkeyPatch, page: str) -> AppTest:
    monkeypatch.setenv(RUNS_ENV, str(root))
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception, [e.value for e in at.exception]
    if page != "home":
        at.switch_page(f"../pages/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def markdown_elements(at: AppTest) -> list:
    return [e for kind in ("markdown", "caption", "title", "subheader") for e in at.get(kind)]


def assert_no_html_from_files(at: AppTest) -> None:
    """No element renders HTML, and the payload never appears unescaped."""
    for element in markdown_elements(at):
        if "allow_html" in element.proto.DESCRIPTOR.fields_by_name:
            assert not element.proto.allow_html, element.value
        assert "<img" not in str(element.value).replace("\\<", ""), element.value


def test_no_page_or_widget_allows_html() -> None:
    """Static guard: nothing in the UI layers can render HTML."""
    offenders = [
        str(p.relative_to(REPO))
        for folder in ("dashboard", "pages")
        for p in (REPO / folder).rglob("*.py")
        if re.search(
            r"unsafe_allow_html\s*=\s*True|st\.html\(|components\.v1|"
            r"components\.html",
            p.read_text(),
        )
    ]
    assert offenders == []


# ---- damaged stores ------------------------------------------------------------------------
def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def test_every_page_shows_what_is_intact_and_names_what_is_not(
    debug_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = copy_store(debug_store, tmp_path)
    store = RunStore(root)
    runs = store.finished_runs()
    badge = runs[runs["method"] == "badge"]["run_id"].tolist()
    _truncate(store.run_dir(badge[0]) / "accuracy.parquet")
    (store.run_dir(badge[1]) / "config.json").write_text('{"run_id": "trunc')
    path = store.run_dir(badge[2]) / "pairs.parquet"
    data = bytearray(path.read_bytes())
    data[len(data) // 3] ^= 0x10
    path.write_bytes(bytes(data))
    for page in PAGES:
        at = open_page(root, monkeypatch, page)
        assert any("damaged item(s)" in w.value for w in at.sidebar.warning), page
    at = open_page(root, monkeypatch, "run")
    damaged = next(d.value for d in at.dataframe if "problem" in d.value.columns)
    assert sorted(damaged["id"]) == sorted(badge[:3])
    assert set(damaged["kind"]) == {"run"}
    listed = next(d.value for d in at.dataframe if "run_id" in d.value.columns)
    assert len(listed) == len(runs) - 3 and not set(badge[:3]) & set(listed["run_id"])
    assert len(list((root / QUARANTINE).glob("*.json"))) == 3  # moved aside, not deleted


def test_a_damaged_pool_leaves_the_pages_standing(
    debug_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = copy_store(debug_store, tmp_path)
    pool = next((root / "_pools").iterdir())
    (pool / "meta.json").write_text("{")
    monkeypatch.delenv("FORGELENS_DEV", raising=False)
    for page in ("gap", "projection", "compare"):
        at = open_page(root, monkeypatch, page)
        assert not at.exception
        for error in at.error:  # when a page cannot go on it says so, briefly
            assert "Traceback" not in error.value and str(REPO) not in error.value


# ---- text from files never reaches HTML ----------------------------------------------------
def test_html_in_class_names_is_shown_as_text(
    debug_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = copy_store(debug_store, tmp_path)
    pool = next((root / "_pools").iterdir())
    meta = json.loads((pool / "meta.json").read_text())
    meta["class_names"] = [f"{EVIL} {c}" for c in meta["class_names"]]
    (pool / "meta.json").write_text(json.dumps(meta))
    reseal(pool)
    for page in ("gap", "projection", "compare"):
        at = open_page(root, monkeypatch, page)
        assert_no_html_from_files(at)
        for spec in chart_specs(at):
            assert "<img" not in spec and "\\u003cimg" not in spec
        if page == "compare":
            assert "&lt;img src=x" in chart_specs(at)[1]
        if page == "gap":
            shown = [unescape_markdown(c.value) for c in at.caption]
            assert any(EVIL in text for text in shown)


def _evil_job(root: Path, job_id: str, **fields) -> None:
    folder = root / JOBS
    folder.mkdir(parents=True, exist_ok=True)
    request = {
        "job_id": job_id,
        "pid": None,
        "scenario": EVIL,
        "methods": [EVIL, "forge"],
        "budgets": [0.1],
        "seeds": [0],
        "adaptation": EVIL,
        "command": ["x"],
        **fields,
    }
    (folder / f"{job_id}.json").write_text(json.dumps(request))
    (folder / f"{job_id}.jsonl").write_text(
        json.dumps(
            {
                "stage": "adapt",
                "message": EVIL,
                "method": EVIL,
                "budget": 0.1,
                "seed": 0,
                "n_runs": 2,
                "run_index": 0,
            }
        )
        + "\n"
    )
    (folder / f"{job_id}.log").write_text(EVIL)


def test_html_in_job_files_is_shown_as_text(
    debug_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = copy_store(debug_store, tmp_path)
    _evil_job(root, "20260101-000000-aaaaaa")  # fields that are not names: a damaged job
    _evil_job(  # plain fields, HTML in its progress and log
        root, "20260101-000000-aaaaab", scenario="debug", methods=["forge"], adaptation=None
    )
    at = open_page(root, monkeypatch, "run")
    assert_no_html_from_files(at)
    captions = [unescape_markdown(c.value) for c in at.caption]
    assert any("field scenario=" in c and EVIL in c for c in captions), captions
    assert any(EVIL in unescape_markdown(p.proto.text) for p in at.get("progress"))
    assert all("<img" not in str(p.proto.text).replace("\\<", "") for p in at.get("progress"))


def test_html_in_a_run_config_quarantines_the_run(
    debug_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = copy_store(debug_store, tmp_path)
    store = RunStore(root)
    run_id = store.run_ids()[0]
    path = store.run_dir(run_id) / "config.json"
    info = json.loads(path.read_text())
    info["config"]["method"] = EVIL
    path.write_text(json.dumps(info))
    reseal(store.run_dir(run_id))
    at = open_page(root, monkeypatch, "run")
    assert_no_html_from_files(at)
    damaged = next(d.value for d in at.dataframe if "problem" in d.value.columns)
    assert damaged["id"].tolist() == [run_id]
    assert "method that is not a plain name" in damaged["problem"].iloc[0]


# ---- damaged job files -----------------------------------------------------------------------
@pytest.mark.parametrize(
    "content", ["", '{"job_id": "2026', "[1, 2]", '{"job_id": "other"}', "\x00\xff garbage"]
)
def test_a_damaged_job_file_is_shown_as_damaged(
    empty_store: Path, content: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = empty_store / JOBS
    folder.mkdir()
    (folder / "20260101-000000-bbbbbb.json").write_bytes(content.encode("latin-1"))
    status = jobs.job_status(empty_store, "20260101-000000-bbbbbb")
    assert status.state == jobs.DAMAGED
    assert "cannot be read" in status.problem or "does not describe" in status.problem
    (folder / "..json").write_text("{}")  # not a job id: ignored
    assert [s.job_id for s in jobs.list_jobs(empty_store)] == ["20260101-000000-bbbbbb"]
    for page in ("home", "run"):
        at = open_page(empty_store, monkeypatch, page)
        if page == "run":
            assert any("damaged" in m.value for m in at.markdown)


# ---- the queue -----------------------------------------------------------------------------
@pytest.fixture
def fake_runner(monkeypatch: pytest.MonkeyPatch):
    """Runners that only sleep (no sweep), checking the job file exists before they start."""
    started: list[subprocess.Popen] = []

    def start(root, request, python=None, *, secret=""):
        recorded = job_queue.read_job(root, request["job_id"])
        assert recorded["phase"] == job_queue.STARTING  # written before the process exists
        process = subprocess.Popen(
            [sys.executable, "-c", "import time; time.sleep(60)"],
            start_new_session=True,
            env={**os.environ, job_queue.SECRET_ENV: secret},  # the queue's own, as a runner
        )
        started.append(process)
        return process.pid

    monkeypatch.setattr(job_queue, "start_runner", start)
    monkeypatch.delenv(job_queue.MAX_JOBS_ENV, raising=False)
    yield started
    for process in started:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _submit(root: Path, methods=("random",), **options) -> jobs.Submitted:
    """A debug sweep; the memory check is tested on its own, so it is off here."""
    options = {"check_memory": False, **options}
    return jobs.submit_job(
        root, "debug", list(methods), [0.1], [0], device="cpu", umap=False, **options
    )


def test_an_identical_sweep_is_not_started_twice(tmp_path: Path, fake_runner) -> None:
    first = _submit(tmp_path)
    assert (first.duplicate, first.state) == (False, jobs.RUNNING)
    for _ in range(5):
        again = _submit(tmp_path)
        assert again.duplicate and again.job_id == first.job_id
    assert len(fake_runner) == 1 and len(list((tmp_path / JOBS).glob("*.json"))) == 1
    # the same runs asked in another order are the same sweep
    other = jobs.submit_job(
        tmp_path, "debug", ["random"], [0.1], [0], device="auto", check_memory=False
    )
    assert other.duplicate


def _submit_in_process(root: str) -> str:
    return _submit(Path(root)).job_id


def test_concurrent_identical_submissions_queue_one_sweep(tmp_path: Path, fake_runner) -> None:
    with ProcessPoolExecutor(max_workers=6) as pool:
        ids = list(pool.map(_submit_in_process, [str(tmp_path)] * 6))
    assert len(set(ids)) == 1
    assert len(list((tmp_path / JOBS).glob("*.json"))) == 1
    pid = job_queue.read_job(tmp_path, ids[0])["pid"]  # its sleeper was started in a worker
    os.killpg(pid, signal.SIGKILL)


def test_at_most_n_sweeps_run_and_the_rest_wait_or_are_cancelled(
    tmp_path: Path, fake_runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = _submit(tmp_path, ["random"])
    b = _submit(tmp_path, ["margin"])
    c = _submit(tmp_path, ["entropy"])
    assert [a.state, b.state, c.state] == [jobs.RUNNING, jobs.QUEUED, jobs.QUEUED]
    assert jobs.queue_position(tmp_path, c.job_id) == 2
    assert jobs.cancel_job(tmp_path, b.job_id)
    assert jobs.job_status(tmp_path, b.job_id).state == jobs.CANCELLED
    monkeypatch.setenv(job_queue.MAX_JOBS_ENV, "2")
    assert jobs.dispatch(tmp_path) == [c.job_id]
    assert jobs.job_status(tmp_path, c.job_id).state == jobs.RUNNING
    assert jobs.job_status(tmp_path, b.job_id).state == jobs.CANCELLED
    assert len(fake_runner) == 2
    monkeypatch.setenv(job_queue.MAX_JOBS_ENV, "none")
    with pytest.raises(ForgeLensError, match="FORGELENS_MAX_JOBS='none'"):
        _submit(tmp_path, ["duc"])


@pytest.mark.parametrize("text", ["soon", "0", "-5", "nan", "inf"])
def test_the_idle_store_poll_interval_is_a_positive_number_of_seconds(
    text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dashboard import widgets

    monkeypatch.delenv(widgets.LIVE_IDLE_ENV, raising=False)
    assert widgets.live_idle_seconds() == widgets.LIVE_SECONDS_IDLE
    monkeypatch.setenv(widgets.LIVE_IDLE_ENV, " 2.5 ")
    assert widgets.live_idle_seconds() == 2.5
    monkeypatch.setenv(widgets.LIVE_IDLE_ENV, text)
    with pytest.raises(ForgeLensError, match=f"FORGELENS_LIVE_IDLE_SECONDS='{text}'.*positive"):
        widgets.live_idle_seconds()


def test_a_sweep_that_would_not_fit_in_memory_is_refused(
    tmp_path: Path, fake_runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    import core.run.resources as resources

    monkeypatch.setattr(resources, "available_memory", lambda: 200 * 2**20)
    with pytest.raises(
        ForgeLensError,
        match=r"memory: a sweep of scenario='debug' needs about "
        r"1\.0 GiB, but only 0\.2 GiB is available",
    ):
        _submit(tmp_path, check_memory=True)
    assert not list((tmp_path / JOBS).glob("*.json")) and fake_runner == []


def test_the_runner_records_the_exit_and_starts_the_next_job(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Real runners (standard library), with a stand-in CLI (tests.helpers.fake_cli) that ends
    at once for scenario ``quick`` and waits for scenario ``slow``."""
    folder = tmp_path / JOBS
    folder.mkdir()
    monkeypatch.setenv(job_queue.MODULE_ENV, "tests.helpers.fake_cli")
    monkeypatch.delenv(job_queue.MAX_JOBS_ENV, raising=False)
    for job_id, scenario, submitted in (
        ("20260101-000000-000001", "quick", 1.0),
        ("20260101-000000-000002", "slow", 2.0),
    ):
        job_queue.write_job(
            tmp_path,
            {
                "job_id": job_id,
                "phase": job_queue.QUEUED,
                "scenario": scenario,
                "methods": ["random"],
                "budgets": [0.1],
                "seeds": [0],
                "submitted": submitted,
            },
        )
    assert jobs.dispatch(tmp_path) == ["20260101-000000-000001"]
    deadline = time.time() + 60
    second = "20260101-000000-000002"
    log = folder / f"{second}.log"
    while not (log.is_file() and "ready" in log.read_text()) and time.time() < deadline:
        time.sleep(0.2)
    first = job_queue.read_job(tmp_path, "20260101-000000-000001")
    assert first["returncode"] == 0
    assert "fake_cli" in (folder / f"{first['job_id']}.log").read_text()
    assert jobs.job_status(tmp_path, second).state == jobs.RUNNING  # started by the runner
    assert jobs.cancel_job(tmp_path, second)  # a Stop reaches the command through the runner
    while "returncode" not in job_queue.read_job(tmp_path, second) and time.time() < deadline:
        time.sleep(0.2)
    assert job_queue.read_job(tmp_path, second)["returncode"] != 0
    assert jobs.job_status(tmp_path, second).state == jobs.STOPPED


# ---- network and errors ----------------------------------------------------------------------
def test_off_localhost_launching_needs_the_operators_token(
    debug_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = copy_store(debug_store, tmp_path)
    monkeypatch.setattr(access, "bound_address", lambda: "0.0.0.0")
    monkeypatch.delenv(access.TOKEN_ENV, raising=False)
    at = open_page(root, monkeypatch, "run")
    assert any("Launching sweeps is disabled" in i.value for i in at.info)
    assert next(b for b in at.button if b.label == "Launch").disabled
    assert at.dataframe[0].value.shape[0] > 0  # reading stays open
    monkeypatch.setenv(access.TOKEN_ENV, "s3cret-token")
    at = open_page(root, monkeypatch, "run")
    assert next(b for b in at.button if b.label == "Launch").disabled
    at.text_input(key="operator_token").set_value("guess").run()
    assert any("not the operator's" in e.value for e in at.error)
    assert next(b for b in at.button if b.label == "Launch").disabled
    at.text_input(key="operator_token").set_value("s3cret-token").run()
    assert not next(b for b in at.button if b.label == "Launch").disabled
    monkeypatch.setattr(access, "bound_address", lambda: "127.0.0.1")
    monkeypatch.delenv(access.TOKEN_ENV)
    at = open_page(root, monkeypatch, "run")
    assert not next(b for b in at.button if b.label == "Launch").disabled
    assert access.network_exposed("") and access.network_exposed("192.168.1.5")
    assert not access.network_exposed("127.0.0.1") and not access.network_exposed("localhost")


def test_a_viewer_sees_a_short_message_not_a_traceback(
    debug_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dashboard import loaders

    def broken(*args, **kwargs):
        raise RuntimeError("/srv/secret/path/to/store exploded")

    monkeypatch.delenv("FORGELENS_DEV", raising=False)
    monkeypatch.setattr(loaders, "accuracy_tables", broken)
    at = open_page(debug_store, monkeypatch, "accuracy")
    assert not at.exception
    [error] = at.error
    assert "Something went wrong while drawing this page (RuntimeError)" in error.value
    assert "/srv/secret" not in error.value
    monkeypatch.setattr(
        loaders,
        "accuracy_tables",
        lambda *a, **k: (_ for _ in ()).throw(ForgeLensError("split='x' bad")),
    )
    at = open_page(debug_store, monkeypatch, "accuracy")
    assert "split='x' bad" in unescape_markdown(at.error[0].value)


def test_the_default_config_binds_localhost_and_hides_error_details() -> None:
    import tomllib

    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    assert config["server"]["address"] == "127.0.0.1"
    assert config["client"]["showErrorDetails"] == "none"
    dry = subprocess.run(
        ["make", "-n", "run"],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "FORGELENS_DEV"},
    )
    assert "--server.address 127.0.0.1" in dry.stdout
    assert "showErrorDetails" not in dry.stdout
    exposed = subprocess.run(
        ["make", "-n", "run", "HOST=0.0.0.0"], cwd=REPO, capture_output=True, text=True
    )
    assert "--server.address 0.0.0.0" in exposed.stdout


def test_the_queue_and_the_store_use_the_same_jobs_folder(tmp_path: Path) -> None:
    assert job_queue.jobs_dir(tmp_path) == RunStore(tmp_path).jobs_dir == tmp_path / paths.JOBS
