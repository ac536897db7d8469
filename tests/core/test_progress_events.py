"""Progress events of the slow preparation steps: source-model epochs and feature batches."""

from __future__ import annotations

import torch

from core.base.hparams import hparams_for
from core.nn.feature_cache import compute_features
from core.nn.models import build_model
from core.nn.source_model import train_source

CPU = torch.device("cpu")


def test_source_training_reports_every_epoch(debug) -> None:
    hp = hparams_for("debug", source_epochs=3)
    events = []
    info = train_source(build_model(debug, hp), debug, hp, device=CPU, progress=events.append)
    assert [(e["epoch"], e["epochs"]) for e in events] == [(1, 3), (2, 3), (3, 3)]
    assert [e["loss"] for e in events] == info["epoch_losses"]
    assert all(e["stage"] == "source model" for e in events)


def test_feature_pass_reports_counts_up_to_the_total(debug, source) -> None:
    events = []
    compute_features(source, debug, device=CPU, batch_size=16, progress=events.append)
    counts = [(e["done"], e["total"]) for e in events if "done" in e]
    total = sum(
        len(debug.split(name))
        for name in ("source_train", "source_val", "target_pool", "target_val", "target_test")
    )
    assert counts and counts[-1] == (total, total)
    assert [d for d, _ in counts] == sorted(d for d, _ in counts)  # never goes backwards


def test_pool_previews_round_trip_what_the_scenario_draws(debug, tmp_path) -> None:
    import numpy as np

    from core.records.previews import read_previews, write_previews
    from core.storage.store import RunStore

    store = RunStore(tmp_path)
    store.pool_dir("p").mkdir(parents=True)
    assert read_previews(store, "p", [0]) is None  # nothing stored yet: caller falls back
    write_previews(store, "p", debug)
    indices = [0, 5, len(debug.split("target_pool")) - 1]
    for stored, i in zip(read_previews(store, "p", indices), indices, strict=True):
        np.testing.assert_array_equal(
            np.asarray(stored), np.asarray(debug.preview("target_pool", i))
        )
