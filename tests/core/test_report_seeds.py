"""Two levels of seeds and the method as the row: runs that differ only in source model and
selection seed are one setting; a plugin selector (with parameters) sits in the same table as
the built-ins; `core table` names every interval's method, says when runs were set aside, and
writes CSV."""

from __future__ import annotations

import io
import shutil

import numpy as np
import pandas as pd
import pytest

from core.analysis import reports
from core.base.hparams import hparams_for
from core.base.statistics import TOO_FEW
from core.cli.main import main as cli_main
from core.run.sweep import run_sweep
from core.storage.store import RunStore

METHODS = ("random", "forge", "examples.typiclust:TypiClust")
SEEDS = (0, 1)
SOURCES = (0, 1)


@pytest.fixture(scope="module", autouse=True)
def _registry_restored():
    """The plugin these tests register leaves the registry with them (other tests count it)."""
    from core.selection import registry

    selectors, sources = registry.SELECTORS.snapshot(), dict(registry.PLUGIN_SOURCES)
    yield
    registry.SELECTORS.restore(selectors)
    registry.PLUGIN_SOURCES.clear()
    registry.PLUGIN_SOURCES.update(sources)


@pytest.fixture(scope="module")
def seeded_store(tmp_path_factory):
    root = tmp_path_factory.mktemp("seeded")
    for source in SOURCES:
        run_sweep(
            "debug",
            METHODS,
            (0.1,),
            SEEDS,
            root=str(root),
            device="cpu",
            adaptation="head",
            hparams=hparams_for("debug", source_seed=source),
        )
    return RunStore(root)


def test_source_seeds_and_a_plugin_selector_are_one_experiment(seeded_store):
    runs = reports.with_settings(seeded_store, seeded_store.finished_runs())
    assert len(runs) == len(METHODS) * len(SEEDS) * len(SOURCES)
    assert runs["experiment"].nunique() == 1
    [label] = runs["experiment_label"].unique()
    assert label == "debug · head adaptation · loss ce · default recipe"  # a few words
    assert sorted(runs["source_seed"].unique()) == list(SOURCES)
    assert runs["setting"].nunique() == len(METHODS)  # the seeds are not part of a setting
    assert set(runs["method_label"]) == {"random", "forge", "typiclust"}


def test_accuracy_is_nested_over_source_models_and_paired_within_one(seeded_store):
    long = reports.accuracy_long(seeded_store)
    summary = reports.accuracy_summary(long).set_index("method_label")
    test = long[(long["split"] == "test") & (long["stage"] == "after")]
    wide = test.pivot_table(index=["source_seed", "seed"], columns="method", values="accuracy")
    for method in ("forge", "typiclust"):
        row = summary.loc[method]
        assert (row.n_source_models, row.n_seeds, row.n_pairs) == (2, 4, 2)
        per_source = (wide[method] - wide["random"]).groupby(level="source_seed").mean()
        assert row.diff_to_random == pytest.approx(per_source.mean())
        half = 12.7062047361747 * per_source.std(ddof=1) / np.sqrt(2)  # t_0.975 with 1 dof
        assert (row.diff_low, row.diff_high) == pytest.approx(
            (per_source.mean() - half, per_source.mean() + half)
        )
        assert row.diff_interval == "t over source-model means"
        means = wide[method].groupby(level="source_seed").mean()
        assert row["mean"] == pytest.approx(means.mean())
        assert row.source_std == pytest.approx(means.std(ddof=1))
        within = wide[method].groupby(level="source_seed").var(ddof=1).mean()
        assert row.seed_std == pytest.approx(np.sqrt(within))
    one = reports.accuracy_summary(long[long["source_seed"] == 0]).set_index("method_label")
    assert one.loc["forge", "diff_interval"] == "t over seeds, given one source model"
    assert one.loc["forge", "n_pairs"] == len(SEEDS)


def test_correlations_are_nested_over_source_models(seeded_store):
    corr = reports.correlation_summary(seeded_store)
    runs = reports.run_summaries(seeded_store)
    assert len(corr) == len(METHODS) * 3 and (corr["n_source_models"] == 2).all()
    for row in corr.itertuples():
        part = runs[(runs["setting"] == row.setting) & (runs["space"] == row.space)]
        means = part.groupby("source_seed")["spearman"].mean()
        assert row.spearman == pytest.approx(means.mean())
        assert row.spearman_source_std == pytest.approx(means.std(ddof=1))
        assert row.spearman_interval == "t over source-model means"
        assert row.spearman_per_seed.count("s1/") == len(SEEDS)


def test_method_labels_name_only_the_parameters_that_differ():
    configs = {
        "a": {"method": "duc", "selector_params": {"kappa": 2.0, "space": "z"}},
        "b": {"method": "duc", "selector_params": {"kappa": 3.0, "space": "z"}},
        "c": {"method": "typiclust", "selector": {"source": "m:T", "params": {"k_nn": 20}}},
    }
    assert reports.method_labels(configs) == {
        "a": "duc(kappa=2.0)",
        "b": "duc(kappa=3.0)",
        "c": "typiclust",
    }


def test_cli_table_shows_one_block_with_the_plugin_and_both_spreads(seeded_store, capsys):
    assert cli_main(["table", "--out", str(seeded_store.root)]) == 0
    out = capsys.readouterr().out
    assert out.count("########") == 1 and "2 source models" in out
    assert "selectors: typiclust = examples.typiclust:TypiClust(" in out
    assert "t over source-model means" in out and "src, ±" in out and "(2 src x 2 seeds)" in out
    assert "set aside" not in out
    assert cli_main(["table", "--out", str(seeded_store.root), "--kind", "theory"]) == 0
    out = capsys.readouterr().out
    assert max(map(len, out.splitlines())) <= 100
    assert "holds  share of pairs where Theorem 4's whole bound holds" in out
    assert cli_main(["table", "--out", str(seeded_store.root), "--kind", "theory", "--wide"]) == 0
    assert "bound_holds_fraction" in capsys.readouterr().out


def test_cli_table_csv_is_the_summaries(seeded_store, capsys):
    assert cli_main(["table", "--out", str(seeded_store.root), "--format", "csv"]) == 0
    table = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert set(table["table"]) == {"accuracy", "correlation"}
    accuracy = table[table["table"] == "accuracy"].set_index("method_label")
    expected = reports.accuracy_summary(reports.accuracy_long(seeded_store))
    expected = expected.set_index("method_label")
    for column in ("mean", "diff_to_random", "diff_low", "diff_high", "source_std"):
        np.testing.assert_allclose(
            accuracy[column].astype(float), expected.loc[accuracy.index, column], rtol=1e-12
        )
    assert cli_main(["table", "--out", str(seeded_store.root), "--format", "xml"]) == 2
    assert "format='xml'" in capsys.readouterr().err


def test_cli_table_refuses_an_unknown_scenario_with_the_closest_name(seeded_store, capsys):
    assert cli_main(["table", "--out", str(seeded_store.root), "--scenario", "nosuch"]) == 2
    err = capsys.readouterr().err
    assert "--scenario='nosuch' is not a known scenario" in err and "debug" in err
    assert cli_main(["table", "--out", str(seeded_store.root), "--scenario", "debg"]) == 2
    assert "did you mean 'debug'?" in capsys.readouterr().err


def test_cli_table_says_when_runs_of_a_setting_were_set_aside(seeded_store, tmp_path, capsys):
    root = tmp_path / "copy"
    shutil.copytree(seeded_store.root, root)
    store = RunStore(root)
    forge = store.finished_runs().query("method == 'forge'")["run_id"].iloc[0]
    path = store.run_dir(forge) / "accuracy.parquet"
    path.write_bytes(path.read_bytes()[:-20])  # damaged: its checksum no longer matches
    assert cli_main(["table", "--out", str(root), "--kind", "accuracy"]) == 0
    out = capsys.readouterr().out
    assert "note: 1 run(s) of this setting were set aside as damaged" in out
    assert "(2 src, 3 runs)" in out  # n counts what is shown, and says so
    assert cli_main(["table", "--out", str(root), "--format", "csv"]) == 0
    assert "set aside as damaged" in capsys.readouterr().err


def test_too_few_seeds_say_so(seeded_store):
    long = reports.accuracy_long(seeded_store)
    one = long[(long["source_seed"] == 0) & (long["seed"] == 0)]
    summary = reports.accuracy_summary(one)
    assert summary["diff_low"].isna().all()
    assert TOO_FEW in reports.interval_note(summary)


def test_cli_source_seeds_train_one_source_model_each_and_keep_default_ids(tmp_path, capsys):
    out = str(tmp_path / "store")
    common = ["run", "--scenario", "debug", "--methods", "random", "--budgets", "0.1"]
    common += ["--seeds", "0", "--adaptation", "head", "--no-umap", "--quiet", "--out", out]
    assert cli_main([*common, "--source-seeds", "0,1"]) == 0
    store = RunStore(out)
    runs = reports.with_settings(store, store.finished_runs())
    assert sorted(runs["source_seed"]) == [0, 1] and runs["pool_id"].nunique() == 2
    assert runs["setting"].nunique() == 1  # one setting, two source models
    default_seed = hparams_for("debug").source_seed
    assert cli_main(common) == 0  # without --source-seeds: the scenario's one source model
    again = store.finished_runs()
    assert len(again) == 2  # reused: the default's run id is the one of its source seed
    assert set(runs.loc[runs["source_seed"] == default_seed, "run_id"]) <= set(again["run_id"])
    capsys.readouterr()
    assert cli_main([*common, "--source-seeds", "1,1"]) == 2
    assert "--source-seeds=1,1 repeats a seed" in capsys.readouterr().err
    assert cli_main([*common, "--source-seeds", "1", "--set", "source_seed=2"]) == 2
    assert "disagree" in capsys.readouterr().err
    assert cli_main([*common, "--source-seeds", "-1"]) == 2
    assert "source_seeds" in capsys.readouterr().err


def test_experiment_labels_stay_short_and_distinct(seeded_store, monkeypatch):
    """Five hyper-parameters differ: a label names three and counts the rest; two experiments
    whose shortened labels would agree are told apart by their id."""
    import copy

    runs = seeded_store.finished_runs().head(3)
    configs = {r: copy.deepcopy(seeded_store.load_config(r)) for r in runs["run_id"]}
    _, second, third = runs["run_id"]
    for run_id, last in ((second, 1), (third, 2)):
        hparams = configs[run_id]["config"]["hparams"]
        hparams.update(adapt_batch=100, adapt_epochs=3, adapt_lr=0.5, eval_batch=7)
        hparams["width"] = 10 + last  # shown labels agree up to here: only the hidden rest differs
    monkeypatch.setattr(seeded_store, "load_config", lambda r: configs[r])
    labels = reports.with_settings(seeded_store, runs).set_index("run_id")["experiment_label"]
    assert labels.nunique() == 3 and all(len(label) < 130 for label in labels)
    assert "+2 more · #" in labels[second] and "+2 more · #" in labels[third]
