"""Damaged stores and bad ids: every damage is detected, set aside (never deleted) and repaired.

Truncated and bit-flipped Parquet, JSON and caches; ids with ``..``; staging folders of writers
on other machines. Each test asserts the clear error or the repair.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from core.base.hparams import hparams_for
from core.base.validation import ForgeLensError
from core.cli import main as cli
from core.storage.integrity import QUARANTINE, check_id, sidecar
from core.storage.store import DONE, RUN_FORMAT_VERSION, RunStore, writer_tag

CPU = torch.device("cpu")


def _tables(seed: int) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    return {
        "selection": pd.DataFrame({"idx": rng.permutation(50)[:5], "order": np.arange(5)}),
        "accuracy": pd.DataFrame(
            {
                "split": ["test", "test"],
                "stage": ["before", "after"],
                "n": [100, 100],
                "accuracy": rng.random(2),
                "loss": rng.random(2),
            }
        ),
    }


def _info(run_id: str, method: str = "random", seed: int = 0, **extra) -> dict:
    return {
        "run_id": run_id,
        "pool_id": "pool1",
        "created": "2026-01-01T00:00:00+00:00",
        "config": {
            "scenario": "debug",
            "method": method,
            "budget": 0.1,
            "seed": seed,
            "adaptation": "full",
        },
        **extra,
    }


def _store(tmp_path: Path, n: int = 3) -> RunStore:
    store = RunStore(tmp_path / "store")
    for i in range(n):
        store.write_run(f"run{i}", _info(f"run{i}", seed=i), _tables(i))
    return store


def _truncate(path: Path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def _flip(path: Path, position: float = 0.5) -> None:
    data = bytearray(path.read_bytes())
    data[int(len(data) * position)] ^= 0x01
    path.write_bytes(bytes(data))


def _quarantined_names(root: Path) -> list[str]:
    folder = root / QUARANTINE
    return (
        sorted(p.name for p in folder.iterdir() if not p.name.endswith(".json"))
        if folder.is_dir()
        else []
    )


# ---- the DONE manifest ------------------------------------------------------------------------
def test_done_records_the_format_and_a_checksum_of_every_file(tmp_path: Path) -> None:
    store = _store(tmp_path, 1)
    folder = store.run_dir("run0")
    marker = json.loads((folder / DONE).read_text())
    assert marker["format"] == RUN_FORMAT_VERSION == 2
    files = sorted(p.name for p in folder.iterdir() if p.name != DONE)
    assert (
        sorted(marker["files"]) == files == ["accuracy.parquet", "config.json", "selection.parquet"]
    )
    for name, digest in marker["files"].items():
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest


@pytest.mark.parametrize("damage", ["truncate", "flip"])
@pytest.mark.parametrize("name", ["accuracy.parquet", "selection.parquet", "config.json"])
def test_a_damaged_run_is_quarantined_listed_and_left_out(
    tmp_path: Path, name: str, damage: str
) -> None:
    store = _store(tmp_path)
    (_truncate if damage == "truncate" else _flip)(store.run_dir("run1") / name)
    fresh = RunStore(store.root)  # another process: nothing cached
    assert fresh.run_ids() == ["run0", "run2"]
    assert fresh.finished_runs()["run_id"].tolist() == ["run0", "run2"]
    assert not store.run_dir("run1").exists()
    moved = _quarantined_names(store.root)
    assert len(moved) == 1 and moved[0].startswith("run-run1-")
    assert (store.root / QUARANTINE / moved[0] / name).is_file()  # kept, never deleted
    [record] = fresh.damaged()
    assert record["kind"] == "run" and record["id"] == "run1" and name in record["reason"]
    assert not fresh.is_finished("run1")  # so the next sweep redoes it


def test_a_bit_flip_that_still_parses_is_caught_by_the_checksum(tmp_path: Path) -> None:
    """The silent case of the issue: a changed value in a table that still reads."""
    store = _store(tmp_path, 1)
    path = store.run_dir("run0") / "config.json"
    info = json.loads(path.read_text())
    path.write_text(json.dumps({**info, "budget_count": 999}, indent=2))  # valid JSON
    assert RunStore(store.root).run_ids() == []
    assert "config.json does not match its checksum" in RunStore(store.root).damaged()[0]["reason"]


def test_a_run_of_format_1_is_read_but_a_truncated_one_is_quarantined(tmp_path: Path) -> None:
    store = _store(tmp_path, 2)
    for run_id in ("run0", "run1"):
        (store.run_dir(run_id) / DONE).write_text("")  # the marker of stores before checksums
    fresh = RunStore(store.root)
    assert fresh.run_ids() == ["run0", "run1"]
    assert fresh.unverified_run_ids() == ["run0", "run1"]
    assert len(fresh.load_table("run0", "accuracy")) == 2
    _truncate(store.run_dir("run1") / "accuracy.parquet")
    assert RunStore(store.root).run_ids() == ["run0"]
    assert "accuracy.parquet is damaged" in RunStore(store.root).damaged()[0]["reason"]


def test_a_format_1_table_damaged_beyond_its_footer_fails_clearly(tmp_path: Path) -> None:
    store = _store(tmp_path, 1)
    (store.run_dir("run0") / DONE).write_text("")
    path = store.run_dir("run0") / "accuracy.parquet"
    data = bytearray(path.read_bytes())
    data[4:40] = bytes(36)  # zero the first data page; the footer still reads
    path.write_bytes(bytes(data))
    assert store.run_ids() == ["run0"]  # format 1: only the footer is checked when listing
    with pytest.raises(ForgeLensError, match="accuracy.parquet is damaged.*quarantined"):
        store.load_table("run0", "accuracy")
    assert store.run_ids() == [] and [r["id"] for r in store.damaged()] == ["run0"]


@pytest.mark.parametrize(
    "config",
    [
        {"config": {"scenario": "debug"}},  # lacks method, budget, seed
        {
            "config": {
                "scenario": "debug",
                "method": "<img src=x onerror=alert(1)>",
                "budget": 0.1,
                "seed": 0,
            }
        },
        {"config": {"scenario": "debug", "method": "random", "budget": "0.1", "seed": 0}},
        {
            "config": {"scenario": "debug", "method": "random", "budget": 0.1, "seed": 0},
            "pool_id": "../../x",
        },
        ["not", "an", "object"],
    ],
)
def test_a_config_that_cannot_describe_a_run_is_quarantined(tmp_path: Path, config) -> None:
    store = _store(tmp_path, 1)
    store.write_run("odd", {}, _tables(9))
    (store.run_dir("odd") / "config.json").write_text(json.dumps(config))
    (store.run_dir("odd") / DONE).write_text("")  # as if written so (format 1)
    fresh = RunStore(store.root)
    assert fresh.finished_runs()["run_id"].tolist() == ["run0"]
    assert [r["id"] for r in fresh.damaged()] == ["odd"]


def test_a_read_only_store_still_leaves_damaged_runs_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = _store(tmp_path, 2)
    _truncate(store.run_dir("run0") / "selection.parquet")
    monkeypatch.setattr(os, "rename", lambda *a: (_ for _ in ()).throw(OSError("read-only")))
    fresh = RunStore(store.root)
    assert fresh.run_ids() == ["run1"]
    assert store.run_dir("run0").is_dir()  # could not move: left in place, still listed
    assert [(r["id"], r["moved_to"]) for r in fresh.damaged()] == [("run0", None)]


def test_verification_is_cached_per_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = _store(tmp_path, 3)
    assert store.run_ids() == ["run0", "run1", "run2"]
    import core.storage.integrity as integrity

    calls = []
    real = integrity.sha256_file
    monkeypatch.setattr(integrity, "sha256_file", lambda p: calls.append(p) or real(p))
    for _ in range(5):
        assert store.run_ids() == ["run0", "run1", "run2"]
    assert calls == []  # nothing changed on disk: no file hashed again


# ---- ids ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "bad", ["../x", "../../x", "..", ".", "a/b", "/etc", "", "x\n", 3, ".hidden", "a" * 200]
)
def test_ids_from_disk_are_checked_before_they_become_paths(tmp_path: Path, bad) -> None:
    store = RunStore(tmp_path)
    with pytest.raises(ForgeLensError, match="is not a valid id"):
        check_id("pool_id", bad)
    with pytest.raises(ForgeLensError, match="pool_id="):
        store.pool_dir(bad)
    with pytest.raises(ForgeLensError, match="run_id="):
        store.run_dir(bad)


def test_a_pool_id_with_dots_cannot_make_the_umap_cache_leave_the_store(tmp_path: Path) -> None:
    from core.analysis.projection import umap_2d

    store = RunStore(tmp_path / "store")
    with pytest.raises(ForgeLensError, match="pool_id='../../x'"):
        umap_2d(store, "../../x", "z")
    assert not (tmp_path / "x").exists() and not (tmp_path.parent / "x").exists()


# ---- stale staging -----------------------------------------------------------------------------
def _staging(root: Path, writer: str | None, pid: int, age_seconds: float) -> Path:
    tag = f"@{writer}" if writer else ""
    path = root / f".tmp-run1{tag}-{pid}-abcdef12"
    path.mkdir(parents=True)
    (path / "selection.parquet").write_text("half")
    then = time.time() - age_seconds
    os.utime(path, (then, then))
    return path


def test_staging_of_another_machine_is_never_removed_automatically(tmp_path: Path) -> None:
    dead_pid = 2**22 + 12345  # above pid_max on Linux: no such process here
    other = _staging(tmp_path, "0123456789ab", dead_pid, age_seconds=7200)
    fresh_other = _staging(tmp_path / "p", "0123456789ab", dead_pid, age_seconds=5)
    mine_dead = _staging(tmp_path / "q", writer_tag(), dead_pid, age_seconds=5)
    mine_live = _staging(tmp_path / "r", writer_tag(), os.getpid(), age_seconds=7200)
    removed = RunStore(tmp_path).remove_stale_staging()
    assert other.exists()  # its pid means nothing here: maybe a live writer elsewhere
    removed += RunStore(tmp_path / "q").remove_stale_staging()
    removed += RunStore(tmp_path / "r").remove_stale_staging()
    assert removed == [mine_dead] and mine_live.exists()
    # the explicit clean-up removes only what is older than any staging lasts
    assert RunStore(tmp_path).remove_stale_staging(everywhere=True) == [other]
    assert RunStore(tmp_path / "p").remove_stale_staging(everywhere=True) == []
    assert fresh_other.exists()


def test_core_clean_and_list_damaged(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    store = _store(tmp_path, 2)
    _truncate(store.run_dir("run1") / "accuracy.parquet")
    assert cli.main(["list", "--damaged", "--out", str(store.root)]) == 1
    out = capsys.readouterr().out
    assert "1 damaged item(s)" in out and "run run1: accuracy.parquet" in out
    assert cli.main(["clean", "--out", str(store.root)]) == 0
    assert "removed 0 staging folder(s)" in capsys.readouterr().out
    shutil.rmtree(store.root / QUARANTINE)
    assert cli.main(["list", "--damaged", "--out", str(store.root)]) == 0


# ---- caches rebuild themselves -----------------------------------------------------------------
def test_a_damaged_umap_cache_is_quarantined_and_recomputed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import core.analysis.projection as projection

    store = RunStore(tmp_path)
    n = 30
    rng = np.random.default_rng(0)
    store.write_pool(
        "pool1",
        {"pool_id": "pool1", "n": n, "class_names": ["a", "b"]},
        pd.DataFrame({"idx": np.arange(n)}),
        rng.normal(size=(n, 4)).astype(np.float32),
        rng.normal(size=(n, 2)).astype(np.float32),
    )
    calls = []

    def fake_umap(pool, z, space):
        calls.append(space)
        return pd.DataFrame(
            {"idx": np.arange(pool.n), "x": np.zeros(pool.n) + len(calls), "y": np.zeros(pool.n)}
        )

    monkeypatch.setattr(projection, "compute_umap", fake_umap)
    first = projection.umap_2d(store, "pool1", "z")
    path = store.pool_dir("pool1") / "umap_z.parquet"
    assert sidecar(path).is_file() and calls == ["z"]
    assert projection.umap_2d(store, "pool1", "z").equals(first) and calls == ["z"]
    for damage in (_flip, _truncate):
        damage(path)
        again = projection.umap_2d(store, "pool1", "z")
        assert len(again) == n and np.isfinite(again[["x", "y"]]).all().all()
    assert len(calls) == 3  # recomputed after each damage
    assert [r["kind"] for r in store.damaged()] == ["umap", "umap"]
    # in a pool of format 1 too, a damaged UMAP cache is the cache's problem, not the pool's
    (store.pool_dir("pool1") / DONE).write_text("")
    _truncate(path)
    assert RunStore(tmp_path).has_pool("pool1")
    assert len(projection.umap_2d(RunStore(tmp_path), "pool1", "z")) == n and len(calls) == 4


def test_a_damaged_pool_is_quarantined_and_stored_again_by_the_next_sweep(
    tmp_path: Path, debug
) -> None:
    from core.run.sweep import run_sweep

    root = tmp_path / "store"
    [run_id] = run_sweep("debug", ["random"], [0.1], [0], root=str(root), device="cpu", built=debug)
    store = RunStore(root)
    pool_id = store.load_config(run_id)["pool_id"]
    z, _ = store.load_embeddings(pool_id)
    _flip(store.pool_dir(pool_id) / "embeddings.npz", 0.6)
    _truncate(store.run_dir(run_id) / "accuracy.parquet")
    fresh = RunStore(root)
    assert not fresh.has_pool(pool_id) and fresh.run_ids() == []
    assert sorted(r["kind"] for r in fresh.damaged()) == ["pool", "run"]
    assert run_sweep(
        "debug", ["random"], [0.1], [0], root=str(root), device="cpu", built=debug
    ) == [run_id]
    again = RunStore(root)
    assert again.has_pool(pool_id) and again.run_ids() == [run_id]
    assert np.array_equal(again.load_embeddings(pool_id)[0], z)
    assert len(again.load_table(run_id, "accuracy")) == 8


def test_a_damaged_source_model_is_quarantined_and_trained_again(
    tmp_path: Path, debug, trained
) -> None:
    from core.nn.source_model import get_source_model

    _, info, cache = trained
    copy = tmp_path / "models"
    shutil.copytree(cache, copy)
    weights = copy / f"{info['model_id']}.safetensors"
    assert sidecar(weights).is_file()
    _flip(weights, 0.9)
    model, again = get_source_model(debug, hparams_for("debug"), cache_dir=copy, device=CPU)
    assert again["cached"] is False
    assert (copy / QUARANTINE).is_dir()
    _, third = get_source_model(debug, hparams_for("debug"), cache_dir=copy, device=CPU)
    assert third["cached"] is True


def test_a_damaged_feature_cache_is_quarantined_and_recomputed(
    tmp_path: Path, debug, source
) -> None:
    from core.nn.feature_cache import cached_features, features_path

    first, info = cached_features(tmp_path, "m1", source, debug, device=CPU)
    assert info["cached"] is False
    path = features_path(tmp_path, "m1")
    _flip(path, 0.5)
    again, info = cached_features(tmp_path, "m1", source, debug, device=CPU)
    assert info["cached"] is False
    assert all(np.array_equal(first[k], again[k]) for k in first)
    assert [r["kind"] for r in RunStore(tmp_path).damaged()] == ["features"]
    assert cached_features(tmp_path, "m1", source, debug, device=CPU)[1]["cached"] is True


def test_a_damaged_font_cache_is_quarantined_and_rendered_again(tmp_path: Path) -> None:
    from core.scenarios.font_digits import cached_font_digits

    images, labels = cached_font_digits(2, 0, tmp_path)
    [path] = (tmp_path / "font_digits").glob("*.npz")
    assert sidecar(path).is_file()
    for damage in (_truncate, _flip):
        damage(path)
        again, again_labels = cached_font_digits(2, 0, tmp_path)
        assert np.array_equal(again, images) and np.array_equal(again_labels, labels)
    assert len(list((tmp_path / "font_digits" / QUARANTINE).glob("*.json"))) == 2


def test_a_passing_read_error_on_an_intact_run_does_not_quarantine_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = _store(tmp_path, 1)
    assert store.run_ids() == ["run0"]

    def flaky(*args, **kwargs):
        raise OSError("Too many open files")

    monkeypatch.setattr(pd, "read_parquet", flaky)
    with pytest.raises(ForgeLensError, match="checksums match, so it was left in place"):
        store.load_table("run0", "accuracy")
    monkeypatch.undo()
    assert store.run_ids() == ["run0"] and store.damaged() == []
    assert len(store.load_table("run0", "accuracy")) == 2


# ---- no format-2 run without its manifest (issue 26 item 8) ----------------------------------
def _format_2_info(run_id: str, seed: int = 0) -> dict:
    info = _info(run_id, seed=seed)
    info["config"] |= {"format": RUN_FORMAT_VERSION, "selector_params": {}}
    return info


@pytest.mark.parametrize("strip_format", [False, True])
def test_an_emptied_marker_never_turns_a_changed_run_into_format_1(
    tmp_path: Path, strip_format: bool
) -> None:
    """The silent case: accuracy 0.742 -> 0.992 and an empty DONE (and even the config's
    format removed: its selector parameters still say format 2); the run is quarantined."""
    store = RunStore(tmp_path / "store")
    for i in range(2):
        store.write_run(f"run{i}", _format_2_info(f"run{i}", i), _tables(i))
    folder = store.run_dir("run1")
    table = pd.read_parquet(folder / "accuracy.parquet")
    table["accuracy"] = 0.992
    table.to_parquet(folder / "accuracy.parquet", index=False)
    if strip_format:
        info = json.loads((folder / "config.json").read_text())
        del info["config"]["format"]
        (folder / "config.json").write_text(json.dumps(info))
    (folder / DONE).write_text("")
    fresh = RunStore(store.root)
    assert fresh.run_ids() == ["run0"] and fresh.unverified_run_ids() == []
    [record] = fresh.damaged()
    assert "DONE marker is empty, but a run of format 2 lists checksums" in record["reason"]


def test_a_format_1_run_beside_format_2_runs_is_still_read_for_its_upgrade(tmp_path: Path):
    store = RunStore(tmp_path / "store")
    store.write_run("run0", _format_2_info("run0"), _tables(0))
    store.write_run("old", _info("old", seed=1), _tables(1))  # no format, no selector params
    (store.run_dir("old") / DONE).write_text("")
    fresh = RunStore(store.root)
    assert fresh.run_ids() == ["old", "run0"] and fresh.unverified_run_ids() == ["old"]


def _pool(store: RunStore, n: int = 30) -> None:
    rng = np.random.default_rng(0)
    store.write_pool(
        "pool1",
        {"pool_id": "pool1", "n": n, "class_names": ["a", "b"]},
        pd.DataFrame({"idx": np.arange(n)}),
        rng.normal(size=(n, 4)).astype(np.float32),
        rng.normal(size=(n, 2)).astype(np.float32),
    )


def test_damaged_tangent_norms_are_quarantined_and_recomputed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from types import SimpleNamespace

    import core.records.theory as theory
    from core.records.tangent_norms import ARCHS_WITH_FULL_TANGENT, read_pool_tangent_norms
    from core.run.follow_up import FollowUp
    from core.tasks.classification import ClassificationAdapter

    store = RunStore(tmp_path)
    _pool(store)
    calls = []

    def fake_norms(model, x, *, device):
        calls.append(len(x))
        return np.arange(len(x), dtype=np.float64) + 1.0

    monkeypatch.setattr(theory, "full_tangent_norms", fake_norms)
    prepared = SimpleNamespace(
        pool_id="pool1",
        model=None,
        scenario=SimpleNamespace(target_pool=SimpleNamespace(x=torch.zeros(30, 1, 8, 8))),
        hparams=SimpleNamespace(arch=sorted(ARCHS_WITH_FULL_TANGENT)[0]),
    )

    def norms() -> np.ndarray | None:
        """What a sweep on the pool does: compute its missing pool jobs, then the pages read."""
        later = FollowUp(helper=False)
        later.submit(ClassificationAdapter().pool_jobs(store, prepared, device=CPU))
        later.finish()
        return read_pool_tangent_norms(store, "pool1", 30)

    first = norms()
    path = store.pool_dir("pool1") / "tangent_norm_full.npy"
    assert sidecar(path).is_file() and len(calls) == 1
    assert np.array_equal(norms(), first)
    assert len(calls) == 1  # read from the cache
    _flip(path, 0.9)  # a value changes, the file still loads: the checksum catches it
    assert np.array_equal(norms(), first)
    _truncate(path)
    sidecar(path).unlink()  # an older cache without its sidecar, truncated: still caught
    assert np.array_equal(norms(), first)
    assert len(calls) == 3
    assert [r["kind"] for r in store.damaged()] == ["tangent", "tangent"]


class _TextScenario:
    modality = "text"

    def split(self, name):
        return range(12)

    def preview(self, split, index):
        return f"sample {index}"


def test_damaged_previews_are_quarantined_and_written_again(tmp_path: Path) -> None:
    from core.records.previews import PREVIEWS, read_previews, write_previews

    store = RunStore(tmp_path)
    _pool(store, 12)
    write_previews(store, "pool1", _TextScenario())
    path = store.pool_dir("pool1") / PREVIEWS
    assert read_previews(store, "pool1", [3]) == ["sample 3"]
    _flip(path, 0.5)
    assert read_previews(store, "pool1", [3]) is None and not path.exists()
    write_previews(store, "pool1", _TextScenario())  # what the page does next
    assert read_previews(store, "pool1", [3]) == ["sample 3"]
    sidecar(path).unlink()
    _truncate(path)  # a BadZipFile broke the pages before
    assert read_previews(store, "pool1", [3]) is None
    assert [r["kind"] for r in store.damaged()] == ["previews", "previews"]


def test_list_damaged_checks_the_caches_too(tmp_path: Path, capsys) -> None:
    from core.records.previews import PREVIEWS, write_previews

    store = RunStore(tmp_path)
    _pool(store, 12)
    write_previews(store, "pool1", _TextScenario())
    assert cli.main(["list", "--damaged", "--out", str(tmp_path)]) == 0
    capsys.readouterr()
    _flip(store.pool_dir("pool1") / PREVIEWS, 0.5)
    assert cli.main(["list", "--damaged", "--out", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "1 damaged item(s)" in out and "previews.npz does not match its checksum" in out
