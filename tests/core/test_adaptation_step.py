"""The adaptation step and the divergence guard: SGD on the squared error steps below 2/lambda_max
of the head's Hessian (checked against autograd), stays finite where the old fixed step diverged,
and any run whose loss blows up stops with an error naming the run and adapt_lr, storing nothing
of it while finished runs stay."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch

from core.base.hparams import MSE_STEP_RULE, hparams_for
from core.cli.main import main as cli_main
from core.nn.adaptation import (
    AdaptationDiverged,
    DivergenceGuard,
    MixedBatchSampler,
    _train_mixed,
    adapt,
    adapt_head,
    curvature_step,
    row_counts,
)
from core.nn.feature_cache import compute_features
from core.nn.models import loss_tensor, per_sample_loss
from core.nn.optimizers import adaptation_optimizer
from core.nn.reward_model import PairwiseRewardHead
from core.nn.source_model import get_source_model, source_model_id
from core.run.engine import run_config
from core.storage.store import RunStore

CPU = torch.device("cpu")


def _autograd_lambda_max(head, target_z, source_z, counts, weight_decay) -> float:
    """lambda_max of the Hessian of the mean squared error over every batch row, by autograd."""
    names = [name for name, _ in head.named_parameters()]
    shapes = [p.shape for p in head.parameters()]
    flat0 = torch.cat([p.detach().double().flatten() for p in head.parameters()])
    z = torch.cat([target_z, source_z]).double()
    w = torch.from_numpy(np.concatenate(counts)).double()
    labels = torch.arange(len(z)) % 2
    probe = copy.deepcopy(head).double()

    def loss(flat: torch.Tensor) -> torch.Tensor:
        params, start = {}, 0
        for name, shape in zip(names, shapes, strict=True):
            params[name] = flat[start : start + math.prod(shape)].reshape(shape)
            start += math.prod(shape)
        logits = torch.func.functional_call(probe, params, (z,))
        per_sample = loss_tensor(logits, labels, "mse")
        return (w * per_sample).sum() / w.sum() + 0.5 * weight_decay * (flat**2).sum()

    hessian = torch.autograd.functional.hessian(loss, flat0)
    return float(torch.linalg.eigvalsh(hessian)[-1])


@pytest.mark.parametrize("kind", ["class", "pair"])
def test_the_mse_step_is_below_two_over_lambda_max_of_the_autograd_hessian(kind):
    generator = torch.Generator().manual_seed(0)
    dim = 3
    head = torch.nn.Linear(dim, 4) if kind == "class" else PairwiseRewardHead(dim)
    width = dim if kind == "class" else 2 * dim
    target_z = torch.randn(5, width, generator=generator) * 3 + 1
    source_z = torch.randn(9, width, generator=generator)
    counts = (np.array([2, 2, 1, 0, 3]), np.array([0, 1, 1, 2, 0, 1, 3, 0, 0]))
    hp = hparams_for("debug", adapt_loss="mse", adapt_lr=10.0, adapt_weight_decay=0.01)
    step = curvature_step(head, target_z, source_z, counts, hp)
    expected = _autograd_lambda_max(head, target_z, source_z, counts, 0.01)
    assert step["hessian_lambda_max"] == pytest.approx(expected, rel=1e-9)
    assert step["lr"] < 2.0 / expected and step["lr"] == pytest.approx(1.0 / expected)
    assert step["lr_rule"] == MSE_STEP_RULE
    small = curvature_step(head, target_z, source_z, counts, hparams_for("debug", adapt_lr=1e-5))
    assert small["lr"] == 1e-5  # adapt_lr caps the step when it is already smaller


def test_row_counts_are_the_batches_rows():
    sampler = MixedBatchSampler(7, 11, 4, 3, seed=5)
    target, source = row_counts(sampler)
    rows = list(sampler)
    assert target.tolist() == [3] * 7  # every selected row once per epoch
    assert source.sum() == sum(len(s) for _, s in rows) == 21
    assert np.bincount(np.concatenate([s for _, s in rows]), minlength=11).tolist() == (
        source.tolist()
    )


@pytest.fixture(scope="module")
def features(debug, source):
    return compute_features(source, debug, device=CPU)


def _selection(scenario, fraction: float = 0.1) -> np.ndarray:
    n = len(scenario.target_pool)
    return np.random.default_rng(0).choice(n, round(fraction * n), replace=False)


def test_mse_head_adaptation_is_stable_where_the_fixed_step_diverged(debug, source, features):
    hp = hparams_for("debug", adapt_loss="mse")  # the default recipe: adapt_lr 0.01
    rows = _selection(debug)
    # the old rule, a fixed step of adapt_lr, diverges on this case
    head = copy.deepcopy(source.head)
    target = (
        torch.as_tensor(features["target_pool"][rows]),
        torch.from_numpy(debug.target_pool.y[rows]),
    )
    src = (torch.as_tensor(features["source_train"]), torch.from_numpy(debug.source_train.y))
    sampler = MixedBatchSampler(len(rows), len(src[0]), hp.adapt_batch, hp.adapt_epochs, 0)
    with pytest.raises(AdaptationDiverged, match="adapt_lr"):
        _train_mixed(head, adaptation_optimizer(hp, head.parameters()), sampler, target, src, "mse")
    # the curvature step: finite, the epoch losses fall (monotonically-ish)
    tuned, info = adapt_head(source, features, debug, rows, hp, seed=0, device=CPU)
    losses = info["epoch_losses"]
    assert info["lr"] < hp.adapt_lr and info["lr"] * info["hessian_lambda_max"] == pytest.approx(1)
    assert np.isfinite(losses).all() and np.isfinite(info["param_distance"])
    assert losses[-1] < losses[0] / 10
    # momentum makes it oscillate, never back above where it started (measured: 443 -> 14)
    assert max(losses[1:]) < losses[0] and np.mean(losses[-5:]) < np.mean(losses[:5]) / 5
    for p in tuned.head.parameters():
        assert torch.isfinite(p).all()


def test_mse_full_adaptation_takes_the_head_bound(debug, source):
    hp = hparams_for("debug", adapt_loss="mse", adapt_epochs=3)
    rows = _selection(debug)
    _, info = adapt(source, debug, rows, hp, seed=0, device=CPU)
    assert info["lr_rule"] == MSE_STEP_RULE and info["lr"] < hp.adapt_lr
    assert np.isfinite(info["epoch_losses"]).all()
    assert source.training is False  # the source model is untouched
    _, ce = adapt(source, debug, rows, hparams_for("debug", adapt_epochs=3), seed=0, device=CPU)
    assert ce["lr"] == hparams_for("debug").adapt_lr and ce["lr_rule"] == "adapt_lr"


def test_the_step_rule_is_part_of_the_run_id_of_mse_runs_only():
    ce, mse = hparams_for("debug"), hparams_for("debug", adapt_loss="mse")
    assert "adapt_step" not in run_config("debug", "random", 0.1, 0, ce, "head", None, {})
    config = run_config("debug", "random", 0.1, 0, mse, "head", None, {})
    assert config["adapt_step"] == MSE_STEP_RULE
    adam = hparams_for("debug", adapt_loss="mse", adapt_optimizer="adam")
    assert "adapt_step" not in run_config("debug", "random", 0.1, 0, adam, "head", None, {})


@pytest.mark.parametrize(
    ("losses", "message"),
    [
        ([2.0, 1.5, float("nan")], r"iteration 3 of 9: the batch loss nan is not finite"),
        ([2.0, 150.0, 201.0], r"iteration 3 of 9: the batch loss 201 exceeds 200"),
        ([1e-5, 0.5, 1.01], r"iteration 3 of 9: the batch loss 1.01 exceeds 1 "),
    ],
)
def test_the_guard_stops_at_non_finite_or_growing_losses(losses, message):
    guard = DivergenceGuard(0.5, 9)
    for i, loss in enumerate(losses[:-1], start=1):
        guard.check(loss, i)
    with pytest.raises(AdaptationDiverged, match=message + r".*adapt_lr=0.05"):
        guard.check(losses[-1], len(losses))


def test_a_diverging_sweep_names_the_run_and_keeps_finished_ones(tmp_path, capsys):
    out = str(tmp_path / "runs")
    common = ["run", "--scenario", "debug", "--adaptation", "head", "--budgets", "0.1"]
    common += ["--seeds", "0", "--out", out, "--quiet", "--no-umap"]
    assert cli_main([*common, "--methods", "random"]) == 0
    store = RunStore(out)
    finished = store.run_ids()
    assert len(finished) == 1
    capsys.readouterr()
    code = cli_main([*common, "--methods", "forge,random", "--set", "adapt_lr=1e6"])
    err = capsys.readouterr().err
    assert code != 0
    assert "run forge budget=0.1 seed=0 on debug" in err and "adaptation diverged" in err
    assert "adapt_lr" in err and "Traceback" not in err
    assert RunStore(out).run_ids() == finished  # nothing of the diverged run, the old one kept
    assert RunStore(out).load_table(finished[0], "pairs") is not None


@pytest.fixture(scope="module")
def mse_source(debug, tmp_path_factory):
    """The debug source model an MSE sweep uses: trained with the squared error."""
    hp = hparams_for("debug", adapt_loss="mse")
    cache = tmp_path_factory.mktemp("mse-models")
    model, _ = get_source_model(debug, hp, cache_dir=cache, device=CPU)
    return model


def _test_accuracy(model, scenario) -> tuple[float, np.ndarray]:
    _, predictions = per_sample_loss(model, scenario.target_test, device=CPU)
    return float(np.mean(predictions == scenario.target_test.y)), predictions


def test_mse_adaptation_does_not_collapse(debug, source, mse_source):
    """From the cross-entropy source model (logits ~25 in norm, MSE ~400 against one-hot) full
    MSE fine-tuning killed 30 of 32 ReLU features and predicted one class (10.6%); from the
    MSE-trained source model an MSE sweep uses, both modes keep the source's accuracy at least,
    predict many classes and keep the backbone's features alive."""
    hp = hparams_for("debug", adapt_loss="mse")
    assert hp.source_loss() == "mse" and hparams_for("debug").source_loss() == "ce"
    x, y = debug.source_train.x, torch.from_numpy(debug.source_train.y)
    with torch.no_grad():
        mse_loss = float(loss_tensor(mse_source(x), y, "mse").mean())
        ce_model_loss = float(loss_tensor(source(x), y, "mse").mean())
    classes = debug.num_classes
    assert mse_loss < 1 - 1 / classes < ce_model_loss  # the constant prior output's MSE
    before, _ = _test_accuracy(mse_source, debug)
    rows = _selection(debug)
    features = compute_features(mse_source, debug, device=CPU)
    head, head_info = adapt_head(mse_source, features, debug, rows, hp, seed=0, device=CPU)
    full, full_info = adapt(mse_source, debug, rows, hp, seed=0, device=CPU)
    for tuned, info in ((head, head_info), (full, full_info)):
        after, predictions = _test_accuracy(tuned, debug)
        assert after >= before, (info["mode"], after, before)
        assert len(np.unique(predictions)) >= classes // 2, info["mode"]
        assert info["epoch_losses"][-1] < 1 - 1 / classes
    with torch.no_grad():
        z0, z1 = mse_source.features(debug.target_test.x), full.features(debug.target_test.x)
    alive0, alive1 = (int((z.abs().amax(0) > 1e-6).sum()) for z in (z0, z1))
    assert alive1 >= alive0 - 2 and z1.norm(dim=1).mean() > 0.5 * z0.norm(dim=1).mean()


def test_the_source_loss_is_in_the_ids_of_mse_runs_only(debug):
    ce, mse = hparams_for("debug"), hparams_for("debug", adapt_loss="mse")
    assert "source_loss" not in ce.source_params()  # cross-entropy source ids unchanged
    assert mse.source_params() == {**ce.source_params(), "source_loss": "mse"}
    assert source_model_id(debug, ce) != source_model_id(debug, mse)
    assert "source_loss" not in run_config("debug", "random", 0.1, 0, ce, "full", None, {})
    config = run_config("debug", "random", 0.1, 0, mse, "full", None, {})
    assert config["source_loss"] == "mse"
