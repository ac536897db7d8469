"""The engine end to end on the debug scenario: CLI, records, reuse, determinism, bad input."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import special

from core import selection
from core.base.hparams import hparams_for
from core.base.splits import ACCURACY_SPLITS
from core.base.validation import ForgeLensError
from core.records.gaps import weighted_train_loss_reduction
from core.run import engine as experiment
from core.run.sweep import run_sweep
from core.storage.atomic import config_id
from core.storage.integrity import manifest
from core.storage.store import RUN_FORMAT_VERSION, RunStore

ROOT = Path(__file__).resolve().parents[2]
METHODS = selection.available()  # every registered selector, a new one included
BUDGETS = (0.1, 0.2)
SEEDS = (0, 1)


@pytest.fixture(scope="module")
def debug_sweep(tmp_path_factory: pytest.TempPathFactory) -> tuple[RunStore, list[str]]:
    """(store, run ids) of the debug scenario swept over every selector (named apart from the
    dashboard tests' ``debug_store``, a Path)."""
    root = tmp_path_factory.mktemp("runs")
    run_ids = run_sweep("debug", METHODS, BUDGETS, SEEDS, root=str(root), device="cpu")
    return RunStore(root), run_ids


def _explicit(z: np.ndarray, logits: np.ndarray, space: str) -> np.ndarray:
    """Brute-force embeddings, built explicitly in float64 (fine for a tiny pool)."""
    z = z.astype(np.float64)
    if space == "coreset":
        return z
    p = special.softmax(logits.astype(np.float64), axis=1)
    a = p.copy()
    a[np.arange(len(p)), p.argmax(axis=1)] -= 1.0
    if space == "forge":
        a = a / np.linalg.norm(a, axis=1, keepdims=True)
    return (a[:, :, None] * z[:, None, :]).reshape(len(z), -1)


def test_a_sweep_writes_one_complete_run_per_config(debug_sweep) -> None:
    store, run_ids = debug_sweep
    assert len(run_ids) == len(set(run_ids)) == len(METHODS) * len(BUDGETS) * len(SEEDS)
    runs = store.finished_runs()
    assert set(runs["run_id"]) == set(run_ids)
    pool_n = store.load_pool_meta(runs["pool_id"].iloc[0])["n"]
    for row in runs.itertuples():
        selection = store.load_table(row.run_id, "selection")
        assert len(selection) == row.budget_count == experiment.budget_count(row.budget, pool_n)
        assert selection["idx"].is_unique and selection["order"].tolist() == list(
            range(len(selection))
        )
        accuracy = store.load_table(row.run_id, "accuracy")
        assert set(accuracy["split"]) == set(ACCURACY_SPLITS)
        assert set(accuracy["stage"]) == {"before", "after"}
        config = store.load_config(row.run_id)
        assert config["param_distance"] > 0 and config["iterations"] > 0
        assert set(config["timings"]) >= {"select", "adapt", "records", "total"}


def test_gaps_agree_with_the_loss_columns_and_the_samples_table(debug_sweep) -> None:
    store, run_ids = debug_sweep
    for run_id in run_ids[:: max(1, len(run_ids) // 6)]:
        pairs = store.load_table(run_id, "pairs")
        samples = store.load_table(run_id, "samples").set_index("idx")
        np.testing.assert_allclose(pairs["r"], pairs["loss_before"] - pairs["loss_after"])
        np.testing.assert_allclose(pairs["nn_r"], pairs["nn_loss_before"] - pairs["nn_loss_after"])
        np.testing.assert_allclose(pairs["gap"], (pairs["r"] - pairs["nn_r"]).abs())
        np.testing.assert_allclose(pairs["gamma"], np.maximum(pairs["znorm"], pairs["nn_znorm"]))
        np.testing.assert_allclose(pairs["loss_before"], samples.loc[pairs["idx"], "loss_before"])
        np.testing.assert_allclose(
            pairs["nn_loss_after"], samples.loc[pairs["nn_idx"], "loss_after"]
        )
        assert samples.loc[pairs["nn_idx"], "selected"].all()
        assert not samples.loc[pairs["idx"], "selected"].any()
        n_unselected = int((~samples["selected"]).sum())
        assert (pairs.groupby("space").size() == n_unselected).all()


def test_each_recorded_neighbour_is_the_true_nearest_selected_sample(debug_sweep) -> None:
    store, run_ids = debug_sweep
    for run_id in run_ids[:: max(1, len(run_ids) // 4)]:
        pool_id = store.load_config(run_id)["pool_id"]
        z, logits = store.load_embeddings(pool_id)
        selected = store.load_table(run_id, "selection")["idx"].to_numpy()
        pairs = store.load_table(run_id, "pairs")
        for space, group in pairs.groupby("space"):
            emb = _explicit(z, logits, str(space))
            dist = np.linalg.norm(
                emb[group["idx"].to_numpy(), None, :] - emb[None, selected, :], axis=2
            )
            np.testing.assert_allclose(group["distance"], dist.min(axis=1), rtol=1e-4, atol=1e-4)
            recorded = np.linalg.norm(
                emb[group["idx"].to_numpy()] - emb[group["nn_idx"].to_numpy()], axis=1
            )
            np.testing.assert_allclose(recorded, dist.min(axis=1), rtol=1e-4, atol=1e-4)


def test_summary_matches_its_definition(debug_sweep) -> None:
    store, run_ids = debug_sweep
    run_id = run_ids[-1]
    pairs = store.load_table(run_id, "pairs")
    samples = store.load_table(run_id, "samples")
    selected = store.load_table(run_id, "selection")["idx"].to_numpy()
    summary = store.load_table(run_id, "summary").set_index("space")
    r = samples["r"].to_numpy()
    for space, group in pairs.groupby("space"):
        row = summary.loc[space]
        assert row["max_gap"] == pytest.approx(group["gap"].max())
        assert row["n_pairs"] == len(group)
        if np.ptp(group["distance"]) > 0 and np.ptp(group["gap"]) > 0:
            assert row["pearson"] == pytest.approx(
                np.corrcoef(group["distance"], group["gap"])[0, 1]
            )
        total = 0.0
        for j in selected:  # Prop. 2 by its definition, one selected sample at a time
            total += (np.sum(group["nn_idx"].to_numpy() == j) + 1) * r[j]
        assert row["weighted_train_loss_reduction"] == pytest.approx(total / len(r))


def test_weighted_train_loss_reduction_counts_neighbours() -> None:
    r = np.array([1.0, 2.0, 3.0, 4.0])
    # sample 0 is nearest for two unselected samples, sample 2 for none
    assert weighted_train_loss_reduction(np.array([0, 2]), np.array([0, 0]), r) == pytest.approx(
        (3 * 1.0 + 1 * 3.0) / 4
    )


def test_a_second_sweep_reuses_finished_runs(debug_sweep) -> None:
    store, run_ids = debug_sweep
    stamps = {rid: (store.run_dir(rid) / "DONE").stat().st_mtime_ns for rid in run_ids}
    events: list[dict] = []
    again = run_sweep(
        "debug", METHODS, BUDGETS, SEEDS, root=str(store.root), device="cpu", progress=events.append
    )
    assert again == run_ids
    assert all(e["reused"] for e in events if e["stage"] == "done")
    assert stamps == {rid: (store.run_dir(rid) / "DONE").stat().st_mtime_ns for rid in run_ids}


def test_same_config_and_seed_give_identical_tables(debug_sweep, tmp_path: Path) -> None:
    store, _ = debug_sweep
    methods = ("badge", "forge", "clue")
    fresh = run_sweep("debug", methods, (0.1,), (1,), root=str(tmp_path), device="cpu")
    other = RunStore(tmp_path)
    for run_id in fresh:
        assert store.is_finished(run_id)  # same config -> same id as in the first store
        for table in ("selection", "accuracy", "samples", "pairs", "summary"):
            pd.testing.assert_frame_equal(
                other.load_table(run_id, table), store.load_table(run_id, table)
            )


def test_a_crash_mid_run_leaves_no_run_and_the_rerun_completes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*args, **kwargs):
        raise RuntimeError("crash while computing records")

    monkeypatch.setattr(experiment, "pair_table", boom)
    with pytest.raises(RuntimeError):
        run_sweep("debug", ("random",), (0.1,), (0,), root=str(tmp_path), device="cpu")
    store = RunStore(tmp_path)
    assert store.run_ids() == []
    monkeypatch.undo()
    (run_id,) = run_sweep("debug", ("random",), (0.1,), (0,), root=str(tmp_path), device="cpu")
    assert store.is_finished(run_id)


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"scenario": "nope"}, "scenario='nope'"),
        ({"methods": ("random", "magic")}, "method='magic'"),
        ({"budgets": (0.0,)}, "budget=0.0"),
        ({"budgets": (1.5,)}, "budget=1.5"),
        ({"adaptation": "last"}, "adaptation='last'"),
        ({"seeds": (-1,)}, "seed=-1"),
        ({"methods": ()}, "methods=[] is not allowed"),
    ],
)
def test_bad_sweep_input_is_named_and_writes_nothing(
    tmp_path: Path, kwargs: dict, needle: str
) -> None:
    args = {"scenario": "debug", "methods": ("random",), "budgets": (0.1,), "seeds": (0,), **kwargs}
    with pytest.raises(ForgeLensError) as error:
        run_sweep(
            args["scenario"],
            args["methods"],
            args["budgets"],
            args["seeds"],
            root=str(tmp_path / "store"),
            device="cpu",
            adaptation=args.get("adaptation"),
        )
    assert needle in str(error.value)
    assert not (tmp_path / "store").exists()


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "core", *args], cwd=ROOT, capture_output=True, text=True, timeout=600
    )


def test_cli_runs_lists_and_tabulates_the_debug_scenario(tmp_path: Path) -> None:
    out = tmp_path / "runs"
    progress = tmp_path / "progress.jsonl"
    result = _cli(
        "run",
        "--scenario",
        "debug",
        "--methods",
        "random,badge,forge",
        "--budgets",
        "0.1,0.2",
        "--seeds",
        "0,1",
        "--out",
        str(out),
        "--device",
        "cpu",
        "--progress",
        str(progress),
        "--no-umap",
    )
    assert result.returncode == 0, result.stderr
    assert len(RunStore(out).run_ids()) == 12
    assert progress.read_text().splitlines()[-1].startswith('{"time"')
    assert '"stage": "finished"' in progress.read_text().splitlines()[-1]
    table = _cli("table", "--out", str(out), "--scenario", "debug")
    assert table.returncode == 0, table.stderr
    assert "random" in table.stdout and "forge" in table.stdout
    assert "\nspearman:\n" in table.stdout and " badge " in table.stdout
    listing = _cli("list")
    assert listing.returncode == 0 and "digits-to-mnist" in listing.stdout
    assert "forge-kmeanspp" in listing.stdout


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--methods", "random,magic"], "method='magic'"),
        (["--budgets", "0.1,abc"], "--budgets"),
        (["--budgets", "2"], "budget=2.0"),
        (["--scenario", "nope"], "scenario='nope'"),
        (["--device", "tpu"], "device='tpu'"),
    ],
)
def test_cli_bad_input_exits_non_zero_and_writes_nothing(
    tmp_path: Path, args: list[str], needle: str
) -> None:
    out = tmp_path / "runs"
    result = _cli("run", "--scenario", "debug", "--out", str(out), *args)
    assert result.returncode != 0
    assert needle in result.stderr
    assert not out.exists()


def test_run_ids_hash_the_run_format_and_the_selector_parameters(debug_sweep) -> None:
    store, run_ids = debug_sweep
    hp = hparams_for("debug")
    for run_id in run_ids:
        config = store.load_config(run_id)["config"]
        assert config["format"] == RUN_FORMAT_VERSION
        assert config["selector_params"] == selection.get_selector(config["method"]).get_params()
        assert config_id(config) == run_id
    base = experiment.run_config("debug", "duc", 0.1, 0, hp)
    assert base["selector_params"] == {"kappa": 2.0}
    other = experiment.run_config("debug", "duc", 0.1, 0, hp, selector_params={"kappa": 3.0})
    older = {k: v for k, v in base.items() if k != "format"}
    assert len({config_id(base), config_id(other), config_id(older)}) == 3


def _copy_as_format_1(store: RunStore, run_id: str, old: RunStore) -> str:
    """Copy a run into ``old`` as it was written before the run format was recorded: no format,
    no selector parameters, and the id those gave it. Returns that id."""
    info = store.load_config(run_id)
    for key in ("format", "selector_params"):
        del info["config"][key]
    old_id = config_id(info["config"])
    shutil.copytree(store.run_dir(run_id), old.run_dir(old_id))
    (old.run_dir(old_id) / "config.json").write_text(json.dumps({**info, "run_id": old_id}))
    (old.run_dir(old_id) / "DONE").write_text("")  # format 1 markers held no checksums
    return old_id


def test_old_stores_are_read_refused_for_new_runs_and_upgraded(debug_sweep, tmp_path) -> None:
    store, run_ids = debug_sweep
    old = RunStore(tmp_path / "old")
    old_ids = [_copy_as_format_1(store, run_id, old) for run_id in run_ids[:3]]
    assert set(old_ids).isdisjoint(run_ids)
    runs = old.finished_runs()
    assert list(runs["format"]) == [1, 1, 1]  # read as they are: the dashboard shows them
    with pytest.raises(
        ForgeLensError,
        match=r"3 run\(s\) in run format 1.*python -m core "
        r"upgrade --out",
    ):
        run_sweep("debug", ("random",), (0.1,), (0,), root=str(old.root), device="cpu")
    assert _cli("run", "--scenario", "debug", "--out", str(old.root)).returncode == 2
    upgraded = _cli("upgrade", "--out", str(old.root))
    assert upgraded.returncode == 0, upgraded.stderr
    # the upgraded runs get exactly the ids a fresh sweep gives them, with tables unchanged
    assert sorted(old.run_ids()) == sorted(run_ids[:3])
    for run_id in run_ids[:3]:
        assert old.load_config(run_id)["config"] == store.load_config(run_id)["config"]
        for table in ("selection", "pairs"):
            pd.testing.assert_frame_equal(
                old.load_table(run_id, table), store.load_table(run_id, table)
            )


def test_a_run_of_a_newer_format_is_refused_with_what_to_do(debug_sweep, tmp_path) -> None:
    store, run_ids = debug_sweep
    newer = RunStore(tmp_path / "newer")
    shutil.copytree(store.run_dir(run_ids[0]), newer.run_dir(run_ids[0]))
    path = newer.run_dir(run_ids[0]) / "config.json"
    info = json.loads(path.read_text())
    info["config"]["format"] = RUN_FORMAT_VERSION + 1
    path.write_text(json.dumps(info))
    marker = path.parent / "DONE"  # sealed as its writer would have: it verifies, format aside
    marker.write_bytes(manifest(path.parent, RUN_FORMAT_VERSION, exclude=("DONE",)))
    with pytest.raises(
        ForgeLensError, match=f"run format {RUN_FORMAT_VERSION + 1}.*update ForgeLens"
    ):
        newer.load_config(run_ids[0])
    assert newer.finished_runs().empty  # never half-read: listed apart, with the reason
    assert list(newer.refused_runs()) == [run_ids[0]]
