"""Reports group runs by their full configuration apart from the seed: a store that mixes two
hyper-parameter settings is never averaged together, and Random is paired per seed within one."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.analysis import reports
from core.base.hparams import hparams_for
from core.base.statistics import NOT_DISTINGUISHABLE
from core.cli.main import main as cli_main
from core.run.sweep import run_sweep
from core.storage.store import RunStore

SEEDS = (0, 1)


@pytest.fixture(scope="module")
def mixed_store(tmp_path_factory):
    root = tmp_path_factory.mktemp("mixed")
    for lr in (0.01, 0.05):
        run_sweep(
            "debug",
            ("random", "forge"),
            (0.1,),
            SEEDS,
            root=str(root),
            device="cpu",
            adaptation="head",
            hparams=hparams_for("debug", adapt_lr=lr),
        )
    return RunStore(root)


def test_two_settings_are_two_experiments_labelled_by_what_differs(mixed_store):
    table = reports.experiments(mixed_store)
    assert len(table) == 2 and table["n_runs"].tolist() == [4, 4]
    labels = sorted(table["experiment_label"])
    assert labels[0].endswith("adapt_lr=0.01") and labels[1].endswith("adapt_lr=0.05")
    assert all("head adaptation · loss ce · default recipe" in label for label in labels)


def test_accuracy_is_never_averaged_across_settings(mixed_store):
    long = reports.accuracy_long(mixed_store)
    summary = reports.accuracy_summary(long)
    assert len(summary) == 4  # 2 settings x 2 methods, one budget
    assert (summary["n_seeds"] == len(SEEDS)).all()  # not 4 "seeds"
    test = long[(long["split"] == "test") & (long["stage"] == "after")]
    for row in summary.itertuples():
        runs = test[test["setting"] == row.setting]
        assert runs["method"].unique().tolist() == [row.method]
        assert row.mean == pytest.approx(runs["accuracy"].mean())
        if row.method == "forge":  # paired with Random of the same experiment and seed
            random = test[(test["experiment"] == row.experiment) & (test["method"] == "random")]
            mine = runs.set_index("seed")["accuracy"]
            expected = (mine - random.set_index("seed")["accuracy"]).mean()
            assert row.diff_to_random == pytest.approx(expected)
            assert row.n_pairs == len(SEEDS)
            assert row.diff_verdict in ("higher", "lower", NOT_DISTINGUISHABLE)
            assert row.diff_low <= row.diff_to_random <= row.diff_high


def test_accuracy_long_is_every_runs_table_with_its_run_facts(mixed_store):
    """Against a run-by-run reference: each run's accuracy rows, in store order, prefixed by
    the run's id, scenario, selector (and its label), budget, seeds, experiment and setting."""
    long = reports.accuracy_long(mixed_store)
    runs = reports.with_settings(mixed_store, mixed_store.finished_runs())
    facts = [
        "run_id",
        "scenario",
        "method",
        "method_label",
        "budget",
        "source_seed",
        "seed",
        "experiment",
        "setting",
    ]
    expected = []
    for run in runs.itertuples(index=False):
        table = mixed_store.load_table(run.run_id, "accuracy")
        for field in reversed(facts):
            table.insert(0, field, getattr(run, field))
        expected.append(table)
    reference = pd.concat(expected, ignore_index=True)
    assert list(long.columns) == [*facts, "split", "stage", "n", "accuracy", "loss"]
    pd.testing.assert_frame_equal(long, reference, check_exact=True)
    some = list(runs["run_id"][:2])
    pd.testing.assert_frame_equal(
        reports.accuracy_long(mixed_store, some),
        reference[reference["run_id"].isin(some)].reset_index(drop=True),
        check_exact=True,
    )
    assert reports.accuracy_long(mixed_store, []).columns.tolist() == list(long.columns)


def test_correlations_and_theory_are_per_setting(mixed_store):
    corr = reports.correlation_summary(mixed_store)
    assert len(corr) == 2 * 2 * 3 and (corr["n_seeds"] == len(SEEDS)).all()
    assert corr["spearman_per_seed"].str.count(";").eq(len(SEEDS) - 1).all()
    theory = reports.theory_table(mixed_store)
    assert len(theory) == 2 * 2 * len(SEEDS) * 3
    assert (theory["bound_holds_fraction"] > 0.9).all()  # CE head: not guaranteed by the theorem
    # Proposition 2's identity: mean pool r = weighted training term + pair-difference term
    np.testing.assert_allclose(
        theory["weighted_train_loss_reduction"] + theory["pair_difference_term"],
        theory["pool_r"],
        rtol=1e-6,
    )
    assert (theory["pair_difference_term"] >= -theory["max_gap_term"] - 1e-12).all()
    assert (theory["proxy_spearman"].between(-1, 1)).all()


def test_cli_prints_one_block_per_setting(mixed_store, capsys):
    assert cli_main(["table", "--out", str(mixed_store.root)]) == 0
    out = capsys.readouterr().out
    assert out.count("########") == 2 and "adapt_lr=0.01" in out and "adapt_lr=0.05" in out
    assert "(n=2)" in out and "Δ" in out
    assert cli_main(["table", "--out", str(mixed_store.root), "--kind", "theory", "--wide"]) == 0
    out = capsys.readouterr().out
    assert "bound_holds_fraction" in out and "generalisation_gap" in out
    assert cli_main(["table", "--out", str(mixed_store.root), "--kind", "bogus"]) == 2
    assert "kind='bogus'" in capsys.readouterr().err
