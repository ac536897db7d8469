"""Head-only adaptation: only the last linear layer moves, it equals training the whole model
with a frozen backbone, |theta_T - theta_0| is the head's change, features are cached once,
and the mode is recorded per run. Plus the full mode's duration estimate leaves no trace."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch

from core.base.hparams import ADAPTATION_MODES, DEFAULT_ADAPTATION, default_adaptation, hparams_for
from core.base.progress import format_seconds
from core.base.splits import ACCURACY_SPLITS
from core.base.validation import ForgeLensError
from core.cli.main import main as cli_main
from core.nn.adaptation import adapt, adapt_head
from core.nn.feature_cache import FEATURES, compute_features, features_path
from core.nn.models import head_logits, per_sample_loss
from core.nn.source_model import get_source_model
from core.run.constraints import check_sweep
from core.run.sweep import run_sweep
from core.scenarios import available, load_scenario
from core.storage.store import RunStore

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def features(debug, source):
    return compute_features(source, debug, device=CPU)


def _selection(scenario, fraction: float, seed: int) -> np.ndarray:
    n = len(scenario.target_pool)
    return np.random.default_rng(seed).choice(n, round(fraction * n), replace=False)


def _state(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_sweeps_take_the_scenario_default_mode_and_check_a_given_one():
    assert set(DEFAULT_ADAPTATION.values()) <= set(ADAPTATION_MODES)
    assert set(DEFAULT_ADAPTATION) <= set(available())
    for name in available():
        assert check_sweep(name, ["random"], [0.1], [0]).adaptation == default_adaptation(name)
        for mode in ADAPTATION_MODES:
            assert check_sweep(name, ["random"], [0.1], [0], mode).adaptation == mode
    with pytest.raises(ForgeLensError, match="adaptation='last'.*" + ", ".join(ADAPTATION_MODES)):
        check_sweep("debug", ["random"], [0.1], [0], "last")


def test_features_are_what_the_backbone_computes(debug, source, features):
    for name, z in features.items():
        split = debug.split(name)
        assert z.dtype == np.float32 and z.shape == (len(split), source.feature_dim)
        with torch.no_grad():
            expected = source.features(split.x).numpy()
        np.testing.assert_allclose(z, expected, rtol=1e-5, atol=1e-6)


def test_head_mode_changes_only_the_head(debug, source, features):
    hp = hparams_for("debug")
    before = _state(source)
    selected = _selection(debug, 0.1, seed=0)
    tuned, info = adapt_head(source, features, debug, selected, hp, seed=0, device=CPU)
    assert info["mode"] == "head" and info["iterations"] == hp.adapt_iterations(len(selected))
    after = tuned.state_dict()
    assert set(after) == set(before)
    for name, value in after.items():
        if name.startswith("head."):
            assert not torch.equal(value, before[name]), name
        else:
            assert torch.equal(value, before[name]), name  # backbone: bit-identical
    for name, value in source.state_dict().items():  # the source model itself is untouched
        assert torch.equal(value, before[name]), name
    head_change = math.sqrt(
        sum(
            float(((after[k].double() - before[k].double()) ** 2).sum())
            for k in ("head.weight", "head.bias")
        )
    )
    everything = math.sqrt(
        sum(float(((after[k].double() - before[k].double()) ** 2).sum()) for k in before)
    )
    assert info["param_distance"] > 0
    assert info["param_distance"] == pytest.approx(head_change, rel=1e-12)
    assert info["param_distance"] == pytest.approx(everything, rel=1e-12)


def test_head_mode_equals_training_the_whole_model_with_a_frozen_backbone(debug, source, features):
    """Same batches, same optimizer, same seed: cached features change nothing but the cost."""
    hp = hparams_for("debug", adapt_epochs=3)
    selected = _selection(debug, 0.2, seed=3)
    tuned, info = adapt_head(source, features, debug, selected, hp, seed=7, device=CPU)
    frozen = copy.deepcopy(source)
    for parameter in frozen.backbone.parameters():
        parameter.requires_grad_(False)
    reference, reference_info = adapt(frozen, debug, selected, hp, seed=7, device=CPU)
    for name in ("head.weight", "head.bias"):
        torch.testing.assert_close(
            tuned.state_dict()[name], reference.state_dict()[name], rtol=1e-4, atol=1e-5
        )
    assert info["iterations"] == reference_info["iterations"]
    assert info["param_distance"] == pytest.approx(reference_info["param_distance"], rel=1e-4)
    # and the head on cached features gives the adapted model's logits
    logits = head_logits(tuned, features["target_test"], device=CPU)
    with torch.no_grad():
        np.testing.assert_allclose(logits, tuned(debug.target_test.x).numpy(), rtol=1e-4, atol=1e-5)


def test_head_mode_is_bit_identical_per_seed(debug, source, features):
    hp = hparams_for("debug", adapt_epochs=2)
    selected = _selection(debug, 0.2, seed=1)
    a, _ = adapt_head(source, features, debug, selected, hp, seed=5, device=CPU)
    b, _ = adapt_head(source, features, debug, selected, hp, seed=5, device=CPU)
    c, _ = adapt_head(source, features, debug, selected, hp, seed=6, device=CPU)
    assert torch.equal(a.head.weight, b.head.weight) and torch.equal(a.head.bias, b.head.bias)
    assert not torch.equal(a.head.weight, c.head.weight)


def test_head_mode_rejects_features_of_the_wrong_shape(debug, source, features):
    bad = {**features, "target_pool": features["target_pool"][:-1]}
    with pytest.raises(ForgeLensError, match="target_pool.*one row per sample"):
        adapt_head(source, bad, debug, np.array([0, 1]), hparams_for("debug"), seed=0, device=CPU)


def test_the_duration_estimate_leaves_training_unchanged(debug, source):
    """Timing one batch first (progress given) must not change a single weight."""
    hp = hparams_for("debug", adapt_epochs=2)
    selected = _selection(debug, 0.1, seed=2)
    events: list[dict] = []
    timed, info = adapt(source, debug, selected, hp, seed=3, device=CPU, progress=events.append)
    plain, plain_info = adapt(source, debug, selected, hp, seed=3, device=CPU)
    (estimate,) = [e for e in events if "estimate_seconds" in e]
    # the event, the message and the run info report one and the same estimate
    assert estimate["iterations"] == info["iterations"]
    assert info["estimate_seconds"] == estimate["estimate_seconds"]
    assert f"{info['iterations']} iterations" in estimate["message"]
    assert f"about {format_seconds(info['estimate_seconds'])}" in estimate["message"]
    assert plain_info["estimate_seconds"] is None
    for name, value in timed.state_dict().items():
        assert torch.equal(value, plain.state_dict()[name]), name


def test_a_head_sweep_records_its_mode_and_caches_features_once(tmp_path):
    root = tmp_path / "runs"
    methods, budgets, seeds = ("random", "forge"), (0.1,), (0, 1)
    head_ids = run_sweep(
        "debug", methods, budgets, seeds, root=str(root), device="cpu", adaptation="head"
    )
    full_ids = run_sweep("debug", methods, budgets, seeds, root=str(root), device="cpu")
    assert not set(head_ids) & set(full_ids)
    store = RunStore(root)
    files = list((root / FEATURES).glob("*.npz"))
    assert len(files) == 1
    for run_id in head_ids:
        info = store.load_config(run_id)
        assert info["config"]["adaptation"] == "head"
        assert info["adaptation_info"]["mode"] == "head"
        assert files[0] == features_path(root, info["model_id"])
        assert set(store.load_table(run_id, "accuracy")["split"]) == set(ACCURACY_SPLITS)
    for run_id in full_ids:
        assert store.load_config(run_id)["config"]["adaptation"] == "full"
    # theta_0 is the same model in both modes: the before-losses agree
    head_before = store.load_table(head_ids[0], "samples")["loss_before"].to_numpy()
    full_before = store.load_table(full_ids[0], "samples")["loss_before"].to_numpy()
    np.testing.assert_allclose(head_before, full_before, rtol=1e-5, atol=1e-6)
    # the after-losses of a head run are the adapted head on the cached features
    debug = load_scenario("debug")
    model, _ = get_source_model(debug, hparams_for("debug"), cache_dir=store.models_dir, device=CPU)
    info = store.load_config(head_ids[0])
    selected = store.load_table(head_ids[0], "selection")["idx"].to_numpy()
    with np.load(files[0]) as data:
        cached = {name: data[name] for name in ("target_pool", "source_train")}
    tuned, _ = adapt_head(
        model,
        cached,
        debug,
        selected,
        hparams_for("debug"),
        seed=info["config"]["seed"],
        device=CPU,
    )
    loss, _ = per_sample_loss(tuned, debug.target_pool, device=CPU)
    samples = store.load_table(head_ids[0], "samples")
    np.testing.assert_allclose(samples["loss_after"], loss, rtol=1e-4, atol=1e-6)
    assert info["param_distance"] == pytest.approx(
        math.dist(
            tuned.head.weight.detach().flatten().tolist() + tuned.head.bias.tolist(),
            model.head.weight.detach().flatten().tolist() + model.head.bias.tolist(),
        ),
        rel=1e-9,
    )
    # a second head sweep reuses everything, the feature file included
    stamp = files[0].stat().st_mtime_ns
    again = run_sweep(
        "debug", methods, budgets, seeds, root=str(root), device="cpu", adaptation="head"
    )
    assert again == head_ids and files[0].stat().st_mtime_ns == stamp


def test_cli_takes_an_adaptation_mode_and_rejects_unknown_ones(tmp_path, capsys):
    out = tmp_path / "runs"
    code = cli_main(
        [
            "run",
            "--scenario",
            "debug",
            "--adaptation",
            "last",
            "--out",
            str(out),
            "--quiet",
            "--no-umap",
        ]
    )
    assert code == 2 and "adaptation='last'" in capsys.readouterr().err
    assert not out.exists()
    code = cli_main(
        [
            "run",
            "--scenario",
            "debug",
            "--adaptation",
            "head",
            "--methods",
            "random",
            "--budgets",
            "0.1",
            "--seeds",
            "0",
            "--out",
            str(out),
            "--quiet",
            "--no-umap",
        ]
    )
    assert code == 0 and "(head adaptation)" in capsys.readouterr().out
    (run_id,) = RunStore(out).run_ids()
    assert RunStore(out).load_config(run_id)["config"]["adaptation"] == "head"
    assert cli_main(["table", "--out", str(out), "--adaptation", "head"]) == 0
    assert "after head adaptation" in capsys.readouterr().out
    assert cli_main(["table", "--out", str(out), "--adaptation", "full"]) == 1
