"""No file breaks a page or a sweep (issue 26 item 5): a progress log with invalid UTF-8, a saved
scenario that is not UTF-8 and one with a wrong-typed value (`model = 5`) are each set aside with
a notice naming the file; every page and `core run` keep working."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.cli.main import main
from core.storage.store import JOBS, RUNS_ENV, RunStore
from dashboard import jobs
from tests.helpers.markdown import unescape_markdown

APP = str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py")
JOB = "20260101-000000-abcdef"


def _plant(root: Path) -> None:
    folder = root / JOBS
    folder.mkdir(parents=True, exist_ok=True)
    request = {"job_id": JOB, "pid": None, "scenario": "debug", "methods": ["random"]}
    request |= {"budgets": [0.1], "seeds": [0], "returncode": 0}
    (folder / f"{JOB}.json").write_text(json.dumps(request))
    event = {"stage": "adapt", "message": "caf\udce9", "n_runs": 1, "run_index": 0}
    line = json.dumps(event, ensure_ascii=False).encode("utf-8", "surrogateescape")
    (folder / f"{JOB}.jsonl").write_bytes(line + b"\n\xff\xfe not json\n")
    scenarios = root / "_scenarios"
    scenarios.mkdir(exist_ok=True)
    (scenarios / "latin.toml").write_bytes(b'name = "latin"\ndescription = "caf\xe9"\n')
    (scenarios / "m5.toml").write_text(
        'name = "m5"\nkind = "text-files"\nfiles = ["/x.csv"]\nsource = "a"\ntarget = "b"\n'
        "model = 5\n"
    )


def test_a_damaged_log_and_bad_saved_scenarios_break_no_page(
    debug_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "store"
    shutil.copytree(debug_store, root, ignore=shutil.ignore_patterns(JOBS))
    _plant(root)
    (status,) = jobs.list_jobs(root)
    assert status.events and "caf" in status.events[0]["message"]
    monkeypatch.setenv(RUNS_ENV, str(root))
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception, [e.value for e in at.exception]
    for page in ("run", "gap", "accuracy"):
        at.switch_page(f"../pages/{page}.py").run()
        assert not at.exception, (page, [e.value for e in at.exception])
        if page == "run":
            notices = unescape_markdown(" ".join(c.value for c in at.caption))
            assert "latin.toml" in notices and "m5.toml" in notices


def test_core_run_names_the_set_aside_files_and_runs(
    debug_store: Path, tmp_path: Path, capsys
) -> None:
    root = tmp_path / "store"
    shutil.copytree(debug_store, root, ignore=shutil.ignore_patterns(JOBS))
    _plant(root)
    before = set(RunStore(root).run_ids())
    args = ["run", "--scenario", "debug", "--methods", "random", "--budgets", "0.1"]
    args += ["--seeds", "0", "--out", str(root), "--device", "cpu", "--no-umap", "--quiet"]
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "saved scenario latin.toml is set aside" in err
    assert "saved scenario m5.toml is set aside: " in err and "model=5" in err
    assert set(RunStore(root).run_ids()) >= before
