"""Adaptation: half-source/half-target batches, exact iteration count, determinism, and that it
actually fits the target."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from core.base.hparams import hparams_for
from core.base.validation import ForgeLensError
from core.nn.adaptation import MixedBatchSampler, adapt, parameter_distance
from core.nn.models import accuracy, per_sample_loss

CPU = torch.device("cpu")


def _selection(scenario, fraction: float, seed: int) -> np.ndarray:
    n = len(scenario.target_pool)
    return np.random.default_rng(seed).choice(n, round(fraction * n), replace=False)


def _state(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


# -- the batch sampler ----------------------------------------------------------------------


@pytest.mark.parametrize(("n_target", "n_source", "batch"), [(50, 300, 16), (7, 5, 4), (3, 40, 64)])
def test_sampler_batches_are_half_target_half_source(n_target, n_source, batch):
    epochs = 3
    sampler = MixedBatchSampler(n_target, n_source, batch, epochs, seed=0)
    batches = list(sampler)
    assert len(batches) == len(sampler) == epochs * math.ceil(n_target / (batch // 2))
    per_epoch = sampler.iterations_per_epoch
    for epoch in range(epochs):
        chunk = batches[epoch * per_epoch : (epoch + 1) * per_epoch]
        seen = np.concatenate([t for t, _ in chunk])
        assert np.array_equal(np.sort(seen), np.arange(n_target))  # one pass per epoch
    for target_rows, source_rows in batches:
        assert len(target_rows) == len(source_rows) <= batch // 2
        assert source_rows.min() >= 0 and source_rows.max() < n_source
    # source rows: without replacement until the source split is used up
    stream = np.concatenate([s for _, s in batches])
    for start in range(0, len(stream) - n_source + 1, n_source):
        assert len(np.unique(stream[start : start + n_source])) == n_source


def test_sampler_is_deterministic_per_seed():
    def draw(seed):
        return [np.concatenate(pair) for pair in MixedBatchSampler(40, 100, 8, 2, seed)]

    assert all(np.array_equal(a, b) for a, b in zip(draw(3), draw(3), strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(draw(3), draw(4), strict=True))


# -- adapt ----------------------------------------------------------------------------------


def test_adapt_returns_a_changed_copy_and_leaves_the_input_alone(debug, source):
    hp = hparams_for("debug")
    before = _state(source)
    selected = _selection(debug, 0.1, seed=0)
    tuned, info = adapt(source, debug, selected, hp, seed=0, device=CPU)
    assert tuned is not source and not tuned.training
    for name, value in source.state_dict().items():
        assert torch.equal(value, before[name]), name
    changed = [not torch.equal(v, before[k]) for k, v in tuned.state_dict().items()]
    assert all(changed)  # every layer, backbone included, was trained
    assert info["iterations"] == hp.adapt_iterations(len(selected))
    assert info["n_selected"] == len(selected) and info["epochs"] == hp.adapt_epochs
    reference = [before[name] for name, _ in source.named_parameters()]
    assert info["param_distance"] == pytest.approx(parameter_distance(tuned, reference))
    flat = torch.cat([(tuned.state_dict()[k] - before[k]).flatten().double() for k in before])
    assert info["param_distance"] == pytest.approx(float(flat.norm()), rel=1e-9)
    assert info["param_distance"] > 0 and np.isfinite(info["final_train_loss"])


def test_adapt_is_bit_identical_per_seed_on_cpu(debug, source):
    hp = hparams_for("debug", adapt_epochs=3)
    selected = _selection(debug, 0.2, seed=1)
    a, info_a = adapt(source, debug, selected, hp, seed=5, device=CPU)
    b, info_b = adapt(source, debug, selected, hp, seed=5, device=CPU)
    c, _ = adapt(source, debug, selected, hp, seed=6, device=CPU)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)
    assert info_a["final_train_loss"] == info_b["final_train_loss"]


def test_every_training_batch_is_half_selected_target_half_source(debug, source):
    """A forward pre-hook (deep-copied with the model) records every batch adapt() feeds."""
    hp = hparams_for("debug", adapt_epochs=2, adapt_batch=8)
    selected = _selection(debug, 0.1, seed=2)
    target_rows = {bytes(row.numpy().tobytes()) for row in debug.target_pool.x[selected]}
    source_rows = {bytes(row.numpy().tobytes()) for row in debug.source_train.x}
    batches: list[torch.Tensor] = []
    handle = source.register_forward_pre_hook(lambda _, args: batches.append(args[0].clone()))
    try:
        _, info = adapt(source, debug, selected, hp, seed=0, device=CPU)
    finally:
        handle.remove()
    assert len(batches) == info["iterations"]
    seen_target = 0
    for x in batches:
        half = len(x) // 2
        assert len(x) % 2 == 0 and half <= hp.adapt_batch // 2
        assert all(bytes(r.numpy().tobytes()) in target_rows for r in x[:half])
        assert all(bytes(r.numpy().tobytes()) in source_rows for r in x[half:])
        seen_target += half
    assert seen_target == hp.adapt_epochs * len(selected)


def test_adaptation_improves_target_accuracy_on_debug(debug, source):
    hp = hparams_for("debug")
    selected = _selection(debug, 0.5, seed=0)
    tuned, _ = adapt(source, debug, selected, hp, seed=0, device=CPU)
    before = accuracy(source, debug.target_test, device=CPU)
    after = accuracy(tuned, debug.target_test, device=CPU)
    assert after > before + 0.15
    # and it fits what it was trained on: the loss on the selected samples drops a lot
    chosen = debug.target_pool.subset(selected)
    loss_before, _ = per_sample_loss(source, chosen, device=CPU)
    loss_after, _ = per_sample_loss(tuned, chosen, device=CPU)
    assert loss_after.mean() < 0.5 * loss_before.mean()


def test_more_labels_help_more_on_average(debug, source):
    hp = hparams_for("debug")
    small = np.mean(
        [
            accuracy(
                adapt(source, debug, _selection(debug, 0.05, s), hp, seed=s, device=CPU)[0],
                debug.target_val,
                device=CPU,
            )
            for s in range(3)
        ]
    )
    full = np.arange(len(debug.target_pool))
    large = accuracy(
        adapt(source, debug, full, hp, seed=0, device=CPU)[0], debug.target_val, device=CPU
    )
    assert large > small


@pytest.mark.parametrize(
    ("selected", "match"),
    [
        (np.array([], dtype=np.int64), "non-empty"),
        (np.array([0, 0, 1]), "duplicate"),
        (np.array([0, 10_000]), "allowed"),
        (np.array([-1, 2]), "allowed"),
        (np.array([0.0, 1.0]), "integer"),
        (np.array([[0, 1]]), "1-D"),
    ],
)
def test_bad_selection_raises(debug, source, selected, match):
    with pytest.raises(ForgeLensError, match=match):
        adapt(source, debug, selected, hparams_for("debug"), seed=0, device=CPU)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_adapt_runs_on_cuda(debug, source):
    cuda = torch.device("cuda")
    selected = _selection(debug, 0.1, seed=0)
    tuned, info = adapt(source, debug, selected, hparams_for("debug"), seed=0, device=cuda)
    assert next(tuned.parameters()).is_cuda and not next(source.parameters()).is_cuda
    assert info["iterations"] == hparams_for("debug").adapt_iterations(len(selected))
