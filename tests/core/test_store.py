"""Run store: atomic runs, reuse of finished runs, no trace of killed writers, no clashes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.base.validation import ForgeLensError
from core.storage.atomic import config_id, write_json_atomic
from core.storage.store import RunStore, default_root, staged_folder

ROOT = Path(__file__).resolve().parents[2]


def _tables(seed: int) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    return {
        "selection": pd.DataFrame({"idx": rng.permutation(10)[:3], "order": np.arange(3)}),
        "summary": pd.DataFrame({"space": ["badge"], "pearson": [rng.normal()]}),
    }


def test_config_id_ignores_key_order_and_sees_every_value() -> None:
    a = {"scenario": "debug", "budget": 0.1, "hparams": {"lr": 1e-3, "epochs": 2}}
    b = {"hparams": {"epochs": 2, "lr": 1e-3}, "budget": 0.1, "scenario": "debug"}
    assert config_id(a) == config_id(b)
    assert config_id(a) != config_id({**a, "hparams": {"lr": 1e-3, "epochs": 3}})


def test_default_root_follows_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FORGELENS_RUNS", raising=False)
    assert default_root() == Path("runs")
    monkeypatch.setenv("FORGELENS_RUNS", "/tmp/elsewhere")
    assert default_root() == Path("/tmp/elsewhere")


def test_write_then_read_round_trip(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    tables = _tables(0)
    store.write_run(
        "abc",
        {"config": {"scenario": "debug", "method": "random", "budget": 0.1, "seed": 0}},
        tables,
    )
    assert store.is_finished("abc") and store.run_ids() == ["abc"]
    pd.testing.assert_frame_equal(store.load_table("abc", "selection"), tables["selection"])
    assert store.finished_runs()["method"].tolist() == ["random"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]
    # only the columns asked for that the table has (a run of an older format lacks some)
    full = tables["selection"]
    some = [full.columns[-1], "not_a_column", full.columns[0]]
    pd.testing.assert_frame_equal(
        store.load_table("abc", "selection", columns=some),
        full[[full.columns[-1], full.columns[0]]],
    )


def test_unknown_table_and_unfinished_run_are_named(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    with pytest.raises(ForgeLensError, match="name='nope'"):
        store.load_table("abc", "nope")
    with pytest.raises(ForgeLensError, match="run_id='abc'"):
        store.load_table("abc", "pairs")
    with pytest.raises(ForgeLensError, match="tables="):
        store.write_run("x", {}, {"bogus": pd.DataFrame()})
    assert store.run_ids() == []


def test_an_error_while_writing_leaves_nothing(tmp_path: Path) -> None:
    final = tmp_path / "run1"
    with pytest.raises(RuntimeError), staged_folder(final) as staging:
        (staging / "a.parquet").write_text("partial")
        raise RuntimeError("crash mid-write")
    assert not final.exists()
    assert list(tmp_path.iterdir()) == []


def test_a_killed_writer_leaves_no_half_written_run_and_the_run_is_redone(tmp_path: Path) -> None:
    script = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(ROOT)!r})
        from core.storage.store import staged_folder
        from pathlib import Path
        with staged_folder(Path({str(tmp_path)!r}) / "run1") as staging:
            (staging / "selection.parquet").write_text("half")
            print("writing", flush=True)
            time.sleep(60)
    """)
    writer = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert writer.stdout is not None and writer.stdout.readline().strip() == "writing"
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait(timeout=10)
    store = RunStore(tmp_path)
    assert not (tmp_path / "run1").exists() and store.run_ids() == []
    leftovers = store.remove_stale_staging()
    assert len(leftovers) == 1 and not leftovers[0].exists()
    store.write_run("run1", {"config": {}}, _tables(1))
    assert store.is_finished("run1")


def _write_many(root: str, prefix: str, count: int) -> list[str]:
    store = RunStore(root)
    ids = []
    for i in range(count):
        run_id = f"{prefix}{i}"
        store.write_run(run_id, {"config": {"i": i}}, _tables(i))
        ids.append(run_id)
    return ids


def test_two_processes_write_into_one_store_without_clashing(tmp_path: Path) -> None:
    with ProcessPoolExecutor(max_workers=2) as pool:
        futures = [pool.submit(_write_many, str(tmp_path), prefix, 6) for prefix in ("a", "b")]
        written = sorted(sum((f.result() for f in futures), []))
    store = RunStore(tmp_path)
    assert store.run_ids() == written
    for run_id in written:
        assert len(store.load_table(run_id, "selection")) == 3


def test_the_same_run_written_twice_at_once_ends_as_one_finished_run(tmp_path: Path) -> None:
    with ProcessPoolExecutor(max_workers=2) as pool:
        futures = [pool.submit(_write_many, str(tmp_path), "same", 4) for _ in range(2)]
        for future in futures:
            future.result()
    store = RunStore(tmp_path)
    assert store.run_ids() == [f"same{i}" for i in range(4)]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]


def test_json_writes_are_atomic_replacements(tmp_path: Path) -> None:
    path = tmp_path / "meta.json"
    write_json_atomic(path, {"a": 1})
    before = path.stat().st_ino
    time.sleep(0.01)
    write_json_atomic(path, {"a": 2})
    assert json.loads(path.read_text()) == {"a": 2}
    assert path.stat().st_ino != before  # replaced by rename, never rewritten in place
