"""Downloads in screen units, the pick grouping (Prop. 2's c_j) and the setting note."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from core.base.validation import ForgeLensError
from dashboard import exports, framing
from dashboard.stats import group_by_pick


def _pairs() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "method": "badge",
            "budget": 0.05,
            "seed": [0, 0, 0, 1, 1],
            "space": "badge",
            "idx": [1, 2, 3, 1, 2],
            "nn_idx": [7, 7, 9, 8, 8],
            "label": [0, 1, 1, 0, 1],
            "nn_label": [0, 0, 1, 1, 1],
            "pseudo": [0, 0, 1, 0, 1],
            "nn_r": [0.5, 0.5, 0.1, 0.2, 0.2],
            "gap": [1.0, 3.0, 0.5, 2.0, 4.0],
            "distance": 1.0,
            "gamma": 2.0,
        }
    )


def test_group_by_pick_counts_neighbours_per_seed_and_pick() -> None:
    grouped = group_by_pick(_pairs())
    rows = {(r.seed, r.nn_idx): r for r in grouped.itertuples()}
    assert set(rows) == {(0, 7), (0, 9), (1, 8)}  # the same idx in two seeds is kept apart
    assert rows[(0, 7)].neighbours == 2 and rows[(0, 7)].weight == 3
    assert rows[(0, 7)].mean_gap == pytest.approx(2.0) and rows[(0, 7)].max_gap == 3.0
    assert grouped["neighbours"].sum() == len(_pairs())
    assert list(grouped["max_gap"]) == sorted(grouped["max_gap"], reverse=True)


def test_exports_use_the_screens_units_and_round_trip() -> None:
    long = pd.DataFrame(
        {
            "method": ["random", "forge"],
            "budget": [0.05, 0.05],
            "seed": [0, 0],
            "split": "test",
            "stage": "after",
            "accuracy": [0.8260, 0.8477],
            "n": 1000,
            "loss": 0.5,
            "run_id": ["a", "b"],
        }
    )
    rows = exports.accuracy_rows_percent(long)
    np.testing.assert_allclose(rows["accuracy_pct"], [82.60, 84.77])
    np.testing.assert_allclose(rows["budget_pct"], [5.0, 5.0])
    back = pd.read_parquet(io.BytesIO(exports.to_parquet(rows)))
    pd.testing.assert_frame_equal(back, rows)
    assert pd.read_csv(io.BytesIO(exports.to_csv(rows)))["accuracy_pct"].iloc[0] == 82.6
    summary = pd.DataFrame(
        {"method": ["forge"], "budget": [0.1], "mean": [0.8547], "std": [0.01], "n_seeds": [3]}
    )
    shown = exports.summary_percent(summary)
    assert shown.loc[0, "mean_pct"] == pytest.approx(85.47) and shown.loc[0, "n_seeds"] == 3
    pairs = exports.pairs_export(_pairs(), ["zero", "one"])
    assert list(pairs["label_name"]) == ["zero", "one", "one", "zero", "one"]
    assert pairs["budget_pct"].iloc[0] == pytest.approx(5.0)
    with pytest.raises(ForgeLensError, match="accuracy"):
        exports.accuracy_rows_percent(long.drop(columns="accuracy"))


def test_umap_export_marks_each_selectors_picks_in_pick_order() -> None:
    points = pd.DataFrame(
        {
            "idx": [0, 1, 2, 3],
            "x": [0.0, 1.0, 2.0, 3.0],
            "y": [1.0, 0.0, 1.0, 0.0],
            "label": [0, 1, 1, 0],
            "correct": [True, False, True, True],
            "znorm": [1.0, 2.0, 3.0, 4.0],
        }
    )
    picks = {
        "forge": pd.DataFrame({"idx": [3, 1], "order": [0, 1]}),
        "random": pd.DataFrame({"idx": [0], "order": [0]}),
    }
    table = exports.umap_export(
        points, picks, space="forge", budget=0.05, seed=2, class_names=["a", "b"]
    )
    assert len(table) == len(points) and table["budget_pct"].iloc[0] == pytest.approx(5.0)
    assert table["order_forge"].tolist() == [pd.NA, 1, pd.NA, 0]
    assert table["order_random"].notna().sum() == 1 and table.loc[0, "order_random"] == 0
    assert list(table["label_name"]) == ["a", "b", "b", "a"]
    back = pd.read_parquet(io.BytesIO(exports.to_parquet(table)))
    pd.testing.assert_frame_equal(back, table)


def test_compare_exports_keep_the_figures_units() -> None:
    picks = pd.DataFrame(
        {"method": "badge", "budget": 0.1, "seed": [0, 1], "idx": [4, 5], "label": [1, 0]}
    )
    rows = exports.picks_export(picks, ["zero", "one"])
    assert rows["budget_pct"].tolist() == [10.0, 10.0] and rows["label_name"].tolist() == [
        "one",
        "zero",
    ]
    mix = pd.DataFrame({"method": ["pool", "badge"], "label": [0, 0], "fraction": [0.25, 0.5]})
    shown = exports.fractions_percent(mix, ("fraction",))
    assert shown["fraction_pct"].tolist() == [25.0, 50.0] and "fraction" not in shown
    with pytest.raises(ForgeLensError, match="fraction"):
        exports.fractions_percent(mix.drop(columns="fraction"), ("fraction",))


def test_setting_note_reads_the_recorded_configs() -> None:
    config = {
        "config": {
            "scenario": "digits-to-mnist",
            "adaptation": "full",
            "hparams": {
                "arch": "cnn",
                "width": 16,
                "feature_dim": 64,
                "adapt_optimizer": "sgd",
                "adapt_lr": 0.005,
                "adapt_batch": 64,
            },
        },
        "adaptation_info": {"iterations": 50, "epochs": 10},
    }
    other = {**config, "adaptation_info": {"iterations": 100, "epochs": 10}}
    setting = framing.run_setting(
        {"a": config, "b": other}, {"scenario_summary": {"sizes": {"target_pool": 3000}}}
    )
    assert setting["iterations"].startswith("T = 50–100 iterations")
    assert "trained from scratch" in setting["backbone"]
    assert "target pool of 3000" in setting["data"]
    assert "sgd at learning rate 0.005" in setting["recipe"]
    table = framing.setting_markdown({"a": config})
    assert "ResNet-50" in table and "4 epochs" in table
