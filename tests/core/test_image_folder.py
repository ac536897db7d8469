"""Image-folder scenarios (DomainBed layout) from TOML files: bad input, budget split, domain
columns, local ResNet weights, fingerprints, and equality with the built-in effnet scenario."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from core.base.validation import ForgeLensError
from core.cli.main import main
from core.run.engine import prepare_pool, run_one
from core.run.sweep import run_sweep
from core.scenarios import build_scenario, scenario_entry
from core.scenarios.image_folder import FolderWarning, scan_folder
from core.scenarios.scenario_file import to_toml
from core.storage.store import RunStore
from tests.helpers.image_folders import make_folder
from tests.helpers.scenario_files import file_entry, save_unchecked


def table(folder: Path, name: str, **extra) -> dict:
    return {
        "name": name,
        "kind": "image-folder",
        "root": str(folder),
        "source": ["a"],
        "target": ["b"],
        "image_size": 16,
        **extra,
    }


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return make_folder(tmp_path / "data")


def test_the_scan_reports_domains_classes_and_counts(folder: Path) -> None:
    scan = scan_folder(folder)
    assert scan.domains == ["a", "b", "c"]
    assert scan.counts()["b"] == {"cat": 8, "dog": 8, "fox": 8}
    assert scan.problems(["a"], ["b"]) == ([], [])


@pytest.fixture(scope="module")
def debug_runs(tmp_path_factory) -> Path:
    """A store holding one finished run, which a failing scenario must leave alone."""
    runs = tmp_path_factory.mktemp("runs")
    run_sweep("debug", ["random"], [0.1], [0], root=str(runs), device="cpu")
    return runs


@pytest.mark.parametrize(
    ("change", "extra", "needle"),
    [
        (lambda f: None, {"root": "/no/such/folder"}, "root='/no/such/folder' is not an existing"),
        (lambda f: None, {"target": ["b", "a"]}, "named twice"),
        (lambda f: None, {"target": ["z"]}, "target domain 'z' is not a folder"),
        (lambda f: (f / "b" / "emu").mkdir(), {}, "emu holds no images"),
        (lambda f: (f / "d").mkdir(), {"target": ["d"]}, "holds no class folders"),
        (
            lambda f: (f / "b" / "dog" / "009.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really"),
            {},
            "009.png cannot be read",
        ),
    ],
)
def test_bad_folders_are_named_and_nothing_is_lost(
    folder: Path, debug_runs: Path, change, extra, needle: str
) -> None:
    runs = debug_runs
    before = sorted(p.name for p in runs.iterdir())
    change(folder)
    name = save_unchecked(runs, table(folder, "bad-" + str(abs(hash(needle)) % 10**6), **extra))
    with pytest.raises(ForgeLensError, match=needle):
        run_sweep(name, ["random"], [0.2], [0], root=str(runs), device="cpu")
    made_here = ("_features", "_scenarios")  # the test saved the file; a failed build caches
    assert sorted(p.name for p in runs.iterdir() if p.name not in made_here) == [
        b for b in before if b not in made_here
    ]


def test_unreadable_images_can_be_skipped_and_counted(folder: Path) -> None:
    (folder / "b" / "dog" / "009.png").write_bytes(b"\x89PNG\r\n\x1a\ntruncated")
    entry = file_entry(table(folder, "skip-bad", skip_unreadable=True))
    with pytest.warns(FolderWarning, match="skipped 1 unreadable image") as caught:
        scenario = entry.build()
    assert str(folder) in str(caught[0].message)  # names the folder it is about
    assert sum(len(scenario.split(s)) for s in ("target_pool", "target_val", "target_test")) == 24
    assert "1 unreadable skipped" in scenario.description


def test_a_class_missing_in_one_domain_is_reported_and_extra_target_classes_dropped(
    folder: Path,
) -> None:
    shutil.rmtree(folder / "a" / "fox")  # source lacks fox: target fox images are left out
    entry = file_entry(table(folder, "no-fox"))
    with pytest.warns(FolderWarning, match=r"class\(es\) fox that no source domain has"):
        scenario = entry.build()
    assert scenario.class_names == ("cat", "dog")
    assert len(scenario.target_pool) + len(scenario.target_val) + len(scenario.target_test) == 16


def test_several_targets_split_the_budget_and_records_carry_the_domain(
    folder: Path, tmp_path: Path
) -> None:
    name = save_unchecked(tmp_path, table(folder, "a-to-bc", target=["b", "c"]))
    ids = run_sweep(name, ["random", "margin"], [0.25], [0], root=str(tmp_path), device="cpu")
    store = RunStore(tmp_path)
    for run_id in ids:
        samples = store.load_table(run_id, "samples")
        per_domain = samples.groupby("domain")
        sizes = per_domain.size()
        picked = per_domain["selected"].sum()
        for domain in ("b", "c"):  # 25% of each domain's pool, not of the whole pool
            assert picked[domain] == max(1, round(0.25 * sizes[domain]))
        assert store.load_config(run_id)["budget_count"] == int(picked.sum())
        pairs = store.load_table(run_id, "pairs")
        assert set(pairs["domain"]) == {"b", "c"} and "nn_domain" in pairs
    pool_id = store.load_config(ids[0])["pool_id"]
    assert set(store.load_pool(pool_id)["domain"]) == {"b", "c"}
    from core.analysis.domain_report import domain_table

    by_domain = domain_table(store, ids).set_index(["method", "domain"])
    samples = store.load_table(ids[0], "samples")
    assert (
        by_domain.loc[("random", "b"), "selected"]
        == samples[samples["domain"] == "b"]["selected"].sum()
    )
    rest = samples[(samples["domain"] == "c") & ~samples["selected"]]
    assert by_domain.loc[("random", "c"), "unselected_after"] == pytest.approx(
        100 * (rest["pred_after"] == rest["label"]).mean()
    )


def test_changed_files_give_new_run_ids(folder: Path, tmp_path: Path) -> None:
    name = save_unchecked(tmp_path, table(folder, "fingerprinted"))
    (first,) = run_sweep(name, ["random"], [0.2], [0], root=str(tmp_path), device="cpu")
    (again,) = run_sweep(name, ["random"], [0.2], [0], root=str(tmp_path), device="cpu")
    assert again == first
    shutil.copy(folder / "b" / "cat" / "000.png", folder / "b" / "cat" / "100.png")
    (changed,) = run_sweep(name, ["random"], [0.2], [0], root=str(tmp_path), device="cpu")
    assert changed != first
    recorded = RunStore(tmp_path).load_config(first)["config"]["scenario_params"]
    with pytest.raises(ForgeLensError, match="files changed since"):
        scenario_entry(name, tmp_path).build(
            **recorded
        )  # a run's samples are never shown from changed data


@pytest.fixture(scope="module")
def resnet_weights(tmp_path_factory) -> Path:
    import torchvision

    folder = tmp_path_factory.mktemp("weights")
    torch.manual_seed(0)
    state = torchvision.models.resnet18(weights=None).state_dict()
    torch.save(state, folder / "resnet18.pth")
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in state.items()}, str(folder / "resnet18.safetensors"))
    return folder


def test_resnet18_from_a_local_file_gives_the_same_features_from_pth_and_safetensors(
    folder: Path, tmp_path: Path, resnet_weights: Path
) -> None:
    features = []
    for suffix in ("pth", "safetensors"):
        store = RunStore(tmp_path / suffix)
        name = save_unchecked(
            store.root,
            table(
                folder,
                f"resnet-{suffix}",
                backbone="resnet18",
                weights=str(resnet_weights / f"resnet18.{suffix}"),
            ),
        )
        prepared = prepare_pool(store, name, device=torch.device("cpu"))
        assert prepared.features["target_pool"].shape == (len(prepared.scenario.target_pool), 512)
        features.append(prepared.features)
        (run_id,) = run_sweep(
            name, ["forge"], [0.2], [0], root=str(store.root), device="cpu", adaptation="full"
        )
        assert store.load_config(run_id)["config"]["adaptation"] == "full"
    for split in features[0]:
        np.testing.assert_array_equal(features[0][split], features[1][split])


def test_a_missing_weights_file_names_the_path_and_the_remedy(
    folder: Path, monkeypatch, tmp_path
) -> None:
    with pytest.raises(ForgeLensError, match="no such file.*copy it from a machine"):
        file_entry(
            table(folder, "no-weights", backbone="resnet50", weights=str(tmp_path / "missing.pth"))
        )
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(ForgeLensError, match=f"looked in {tmp_path / 'torch'}"):
        file_entry(table(folder, "no-cache", backbone="resnet50"))


def test_the_cli_runs_a_scenario_file_and_saves_it_in_the_store(
    folder: Path, tmp_path: Path
) -> None:
    path = tmp_path / "my.toml"
    path.write_text(to_toml({**table(Path("data"), "cli-abc"), "target": ["b", "c"]}))
    out = tmp_path / "runs"
    common = [
        "--methods",
        "random,coreset",
        "--budgets",
        "0.2",
        "--seeds",
        "0",
        "--out",
        str(out),
        "--device",
        "cpu",
        "--no-umap",
        "--quiet",
    ]
    assert main(["run", "--scenario-file", str(path), *common]) == 0
    assert len(RunStore(out).run_ids()) == 2
    assert f'root = "{folder}"' in (out / "_scenarios" / "cli-abc.toml").read_text()
    # a saved scenario is known by name afterwards (the dashboard's jobs run it so)
    assert main(["run", "--scenario", "cli-abc", *common]) == 0
    assert len(RunStore(out).run_ids()) == 2  # reused


# -- the folder route equals the built-in digits-to-mnist-effnet ---------------------------
PER_CLASS = 8  # a documented slice: the first 8 digits of each class in each domain


def _write_domain(folder: Path, images: np.ndarray, labels: np.ndarray, bits: int) -> None:
    """Row r of class c -> folder/<c>/<r:05d>.png: sorted names keep each class's data order."""
    for row, (image, label) in enumerate(zip(images, labels, strict=True)):
        (folder / str(label)).mkdir(parents=True, exist_ok=True)
        if bits == 8:
            pixels = np.round(image[0] * 255).astype(np.uint8)
        else:
            pixels = np.round(image[0] * 65535).astype(np.uint16)
        Image.fromarray(pixels).save(folder / str(label) / f"{row:05d}.png")


def test_the_folder_route_equals_the_built_in_effnet_scenario(tmp_path: Path) -> None:
    """MNIST (the target) is 8-bit data, written losslessly: its features are bit-identical.
    The source digits are floats (upsampled 8x8 counts), written as 16-bit PNGs: they differ
    by < 1/131070 per pixel, so source features and the head agree to float tolerance."""
    from core.scenarios.pretrained_digits import DigitsToMnistEffnet

    builder = DigitsToMnistEffnet(per_class=PER_CLASS)
    _write_domain(tmp_path / "data" / "digits", *builder.load_source(), bits=16)
    xt, yt = builder.load_target()
    _write_domain(tmp_path / "data" / "mnist", xt, yt, bits=8)
    name = save_unchecked(
        tmp_path / "a",
        {
            "name": "digits-folder",
            "kind": "image-folder",
            "root": str(tmp_path / "data"),
            "source": ["digits"],
            "target": ["mnist"],
            "image_size": 28,
        },
    )
    device = torch.device("cpu")
    built = build_scenario("digits-to-mnist-effnet", per_class=PER_CLASS)
    ours = prepare_pool(RunStore(tmp_path / "a"), name, device=device)
    theirs = prepare_pool(
        RunStore(tmp_path / "b"), "digits-to-mnist-effnet", device=device, built=built
    )
    assert ours.scenario.class_names == built.class_names
    for split in ("target_pool", "target_val", "target_test"):
        np.testing.assert_array_equal(ours.scenario.split(split).x, built.split(split).x)
        np.testing.assert_array_equal(ours.scenario.split(split).y, built.split(split).y)
        np.testing.assert_array_equal(ours.features[split], theirs.features[split])
    for split in ("source_train", "source_val"):
        np.testing.assert_array_equal(ours.scenario.split(split).y, built.split(split).y)
        np.testing.assert_allclose(
            ours.scenario.split(split).x, built.split(split).x, atol=1 / 131070 + 1e-7
        )
        np.testing.assert_allclose(ours.features[split], theirs.features[split], atol=2e-3)
    np.testing.assert_allclose(ours.embedding.logits, theirs.embedding.logits, atol=1e-3)
    for method in ("random", "coreset", "margin", "forge"):
        mine, _ = run_one(RunStore(tmp_path / "a"), ours, method, 0.1, 0, device=device)
        ref, _ = run_one(RunStore(tmp_path / "b"), theirs, method, 0.1, 0, device=device)
        a, b = RunStore(tmp_path / "a"), RunStore(tmp_path / "b")
        assert a.load_table(mine, "selection").equals(b.load_table(ref, "selection")), method
        acc_a, acc_b = a.load_table(mine, "accuracy"), b.load_table(ref, "accuracy")
        np.testing.assert_allclose(acc_a["accuracy"], acc_b["accuracy"], atol=1e-9)
        np.testing.assert_allclose(acc_a["loss"], acc_b["loss"], atol=1e-3)
        pairs_a, pairs_b = a.load_table(mine, "pairs"), b.load_table(ref, "pairs")
        for column in ("space", "idx", "nn_idx", "label", "nn_label", "pseudo", "nn_pseudo"):
            assert pairs_a[column].equals(pairs_b[column]), (method, column)
        np.testing.assert_allclose(pairs_a["gap"], pairs_b["gap"], rtol=1e-3, atol=1e-2)
        np.testing.assert_allclose(pairs_a["distance"], pairs_b["distance"], rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("suffix", ["png", "jpg", "bmp", "webp"])
@pytest.mark.parametrize("mode", ["RGB", "L", "P"])
def test_every_format_and_colour_mode_reads_as_the_same_picture(
    tmp_path: Path, suffix: str, mode: str
) -> None:
    from core.scenarios.image_folder import read_image

    rng = np.random.default_rng(1)
    rgb = Image.fromarray(
        (np.kron(rng.integers(0, 256, (4, 6, 3)), np.ones((5, 5, 1)))).astype(np.uint8)
    )  # 20 x 30 blocks: survives jpeg well enough
    picture = rgb.convert(mode)
    path = tmp_path / f"x.{suffix}"
    if (mode, suffix) == ("P", "jpg"):
        pytest.skip("JPEG cannot store a palette image")
    picture.save(path, **{"jpg": {"quality": 95}, "webp": {"lossless": True}}.get(suffix, {}))
    image = read_image(path, 16)
    expected_channels = 1 if mode == "L" and suffix != "webp" else 3  # WebP stores gray as RGB
    assert image.shape == (expected_channels, 16, 16) and image.dtype == np.float32
    reference = (
        np.asarray(
            picture.convert("RGB" if expected_channels == 3 else "L").resize(
                (16, 16), Image.Resampling.BILINEAR
            ),
            dtype=np.float32,
        )
        / 255
    )
    reference = reference.transpose(2, 0, 1) if reference.ndim == 3 else reference[None]
    tolerance = 0.1 if suffix == "jpg" else 1e-6
    assert np.abs(image - reference).mean() < tolerance


def _png_header(path: Path, width: int, height: int) -> None:
    """A PNG whose header declares width x height 1-bit pixels (no pixel data: never decoded)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))


@pytest.mark.parametrize("size", [(10_000, 10_000), (20_000, 10_000)])
def test_a_huge_image_is_refused_clearly_or_skipped(folder: Path, size) -> None:
    """100 megapixels (over ForgeLens's limit) and 200 (over PIL's bomb limit too): a clear
    error naming the file, or with skip_unreadable skipped and counted; never decoded."""
    huge = folder / "b" / "dog" / "009.png"
    _png_header(huge, *size)
    with pytest.raises(ForgeLensError, match=r"image .*009.png cannot be read .*allowed: at most"):
        file_entry(table(folder, "huge")).build()
    entry = file_entry(table(folder, "huge-skip", skip_unreadable=True))
    with pytest.warns(FolderWarning, match="skipped 1 unreadable image"):
        entry.build()
