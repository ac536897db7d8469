"""Models, hyper-parameter registry and the cached source model."""

from __future__ import annotations

import json
from dataclasses import asdict

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from core.base.hparams import DEFAULTS, SOURCE_FIELDS, HParams, hparams_for
from core.base.validation import ForgeLensError
from core.nn.models import FeatureClassifier, build_model, embed, per_sample_loss
from core.nn.source_model import get_source_model, source_model_id
from core.scenarios import available, load_scenario

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def mnist_like():
    return load_scenario("digits-to-mnist")


# -- hyper-parameters -----------------------------------------------------------------------


def test_every_registered_scenario_has_hyper_parameters_that_survive_a_run_config():
    assert set(DEFAULTS) == set(available())  # no scenario without defaults, no stale entry
    for name in available():
        hp = hparams_for(name)
        # run configs store asdict(hp) as JSON; reading it back must give the same settings
        assert HParams(**json.loads(json.dumps(asdict(hp)))) == hp


def test_overrides_apply_and_unknown_keys_are_rejected():
    hp = hparams_for("digits-to-mnist", adapt_lr=0.123, adapt_epochs=2)
    assert hp.adapt_lr == 0.123 and hp.adapt_epochs == 2
    with pytest.raises(ForgeLensError, match="adapt_lrr.*allowed"):
        hparams_for("digits-to-mnist", adapt_lrr=1.0)
    with pytest.raises(ForgeLensError, match="scenario='nope'"):
        hparams_for("nope")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("adapt_batch", 63),
        ("adapt_batch", 0),
        ("adapt_lr", 0.0),
        ("adapt_lr", float("nan")),
        ("adapt_optimizer", "rmsprop"),
        ("arch", "resnet"),
        ("adapt_momentum", 1.0),
        ("source_epochs", 1.5),
        ("adapt_weight_decay", -1.0),
    ],
)
def test_bad_values_raise_naming_the_field(field, value):
    with pytest.raises(ForgeLensError, match=field):
        hparams_for("debug", **{field: value})


def test_numpy_scalars_are_stored_as_python_numbers():
    hp = hparams_for("debug", adapt_epochs=np.int64(3), adapt_lr=np.float32(0.5))
    assert type(hp.adapt_epochs) is int and type(hp.adapt_lr) is float
    assert json.loads(json.dumps(asdict(hp)))["adapt_epochs"] == 3


def test_iteration_count_is_epochs_times_half_batches():
    hp = hparams_for("digits-to-mnist", adapt_batch=64, adapt_epochs=3)
    assert hp.adapt_iterations(150) == 3 * 5  # ceil(150 / 32) = 5
    assert hp.adapt_iterations(160) == 3 * 5
    assert hp.adapt_iterations(161) == 3 * 6
    assert hp.adapt_iterations(1) == 3


def test_source_params_are_the_source_fields():
    hp = hparams_for("debug")
    assert set(hp.source_params()) == set(SOURCE_FIELDS)
    assert all(not name.startswith("adapt_") for name in SOURCE_FIELDS)


# -- the model ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["debug", "digits-to-mnist"])
def test_features_then_head_equal_forward(name):
    scenario = load_scenario(name)
    hp = hparams_for(name)
    model = build_model(scenario, hp)
    assert isinstance(model, FeatureClassifier)
    x = scenario.target_pool.x[:17]
    z = model.features(x)
    assert z.shape == (17, hp.feature_dim)
    assert torch.equal(model.head(z), model(x))
    assert model.head.in_features == hp.feature_dim
    assert model.head.out_features == scenario.num_classes


def test_build_model_is_seeded_without_touching_global_rng(debug):
    hp = hparams_for("debug")
    state = torch.get_rng_state()
    a, b = build_model(debug, hp), build_model(debug, hp)
    c = build_model(debug, hp, seed=hp.source_seed + 1)
    assert torch.equal(torch.get_rng_state(), state)
    for (name, pa), pb, pc in zip(
        a.state_dict().items(), b.state_dict().values(), c.state_dict().values(), strict=True
    ):
        assert torch.equal(pa, pb), name
        assert not torch.equal(pa, pc), name


def test_init_follows_pytorch_default_bounds(mnist_like):
    model = build_model(mnist_like, hparams_for("digits-to-mnist"))
    for module in model.modules():
        if isinstance(module, torch.nn.Linear | torch.nn.Conv2d):
            fan_in = module.weight[0].numel()
            bound = 1.0 / np.sqrt(fan_in)  # kaiming_uniform(a=sqrt(5)) bound == 1/sqrt(fan_in)
            weight = module.weight.detach().abs()
            assert float(weight.max()) <= bound + 1e-7
            assert float(weight.max()) > 0.9 * bound  # spread over the range
            assert float(module.bias.detach().abs().max()) <= bound + 1e-7


def test_embed_matches_forward_whatever_the_batch_size(debug):
    model = build_model(debug, hparams_for("debug"))
    x = debug.target_pool.x[:50]
    z, logits = embed(model, x, device=CPU, batch_size=7)
    z_all, logits_all = embed(model, x, device=CPU, batch_size=512)
    assert z.dtype == np.float32 and logits.dtype == np.float32
    assert z.shape == (50, model.feature_dim) and logits.shape == (50, debug.num_classes)
    np.testing.assert_allclose(z, z_all, rtol=1e-5, atol=1e-6)
    with torch.no_grad():
        np.testing.assert_allclose(logits, model(x).numpy(), rtol=1e-5, atol=1e-6)
    model.train()
    embed(model, x, device=CPU)
    assert model.training  # mode restored


def test_per_sample_loss_is_cross_entropy_with_the_true_label(debug):
    model = build_model(debug, hparams_for("debug"))
    split = debug.target_val
    losses, predictions = per_sample_loss(model, split, device=CPU, batch_size=16)
    assert losses.dtype == np.float64 and predictions.dtype == np.int64
    with torch.no_grad():
        log_p = F.log_softmax(model(split.x).double(), dim=1).numpy()
    np.testing.assert_allclose(losses, -log_p[np.arange(len(split)), split.y], rtol=1e-6)
    np.testing.assert_array_equal(predictions, log_p.argmax(axis=1))


# -- the source model -----------------------------------------------------------------------


def test_source_model_trains_once_then_loads_identically(trained, debug):
    model, info, cache = trained
    assert info["cached"] is False and not model.training
    assert (cache / f"{info['model_id']}.safetensors").is_file()
    assert (cache / f"{info['model_id']}.json").is_file()
    assert info["epochs"] == len(info["epoch_losses"]) == hparams_for("debug").source_epochs
    assert info["epoch_losses"][-1] < info["epoch_losses"][0]  # training lowered the loss
    again, info2 = get_source_model(debug, hparams_for("debug"), cache_dir=cache, device=CPU)
    assert info2["cached"] is True and info2["model_id"] == info["model_id"]
    assert info2["target_test_accuracy"] == info["target_test_accuracy"]
    assert not again.training
    with torch.no_grad():
        assert torch.equal(again(debug.target_test.x), model(debug.target_test.x))


def test_source_model_learns_the_source_and_the_shift_is_real(trained, debug):
    _, info, _ = trained
    chance = 1.0 / debug.num_classes
    assert info["source_train_accuracy"] > 0.9
    assert info["source_val_accuracy"] > 3 * chance
    assert info["target_test_accuracy"] < info["source_val_accuracy"] - 0.1


def test_model_id_depends_on_source_fields_only(debug):
    hp = hparams_for("debug")
    base = source_model_id(debug, hp)
    assert source_model_id(debug, hparams_for("debug", adapt_lr=0.5, adapt_epochs=1)) == base
    assert source_model_id(debug, hparams_for("debug", source_seed=1)) != base
    assert source_model_id(debug, hparams_for("debug", feature_dim=16)) != base
    assert source_model_id(load_scenario("digits-to-mnist"), hp) != base


@pytest.mark.parametrize("with_json", [False, True])
def test_a_broken_cache_entry_is_retrained(debug, tmp_path, with_json):
    hp = hparams_for("debug", source_epochs=2)
    model_id = source_model_id(debug, hp)
    (tmp_path / f"{model_id}.safetensors").write_bytes(b"garbage")  # a crash mid-write
    if with_json:
        (tmp_path / f"{model_id}.json").write_text("{}")
    model, info = get_source_model(debug, hp, cache_dir=tmp_path, device=CPU)
    assert info["cached"] is False
    again, info2 = get_source_model(debug, hp, cache_dir=tmp_path, device=CPU)
    assert info2["cached"] is True
    with torch.no_grad():
        assert torch.equal(again(debug.source_val.x), model(debug.source_val.x))
    assert not list(tmp_path.glob("*.tmp"))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_source_model_on_cuda(debug, tmp_path):
    cuda = torch.device("cuda")
    model, info = get_source_model(debug, hparams_for("debug"), cache_dir=tmp_path, device=cuda)
    assert next(model.parameters()).is_cuda and info["device"].startswith("cuda")
    z, logits = embed(model, debug.target_pool.x, device=cuda)
    assert z.shape[0] == logits.shape[0] == len(debug.target_pool)
