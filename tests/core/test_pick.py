"""Deciding what to label: embeddings files, picks with manifests, labels back (issue 25)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.base.validation import ForgeLensError
from core.run.labels_back import fit_head, labels_back, train_head
from core.run.pick import export_pool, load_pick, pick, pick_dir
from core.run.pick_store import load_labels_result
from core.scenarios import load_scenario
from core.scenarios.embeddings_file import EmbeddingsTable, read_embeddings, write_embeddings
from core.selection import available, select
from core.storage.store import RunStore

ROOT = Path(__file__).resolve().parents[2]
FORMATS = (".npz", ".parquet", ".safetensors")


@pytest.fixture(scope="module")
def store(trained, tmp_path_factory) -> Path:
    """A store holding the debug source model (copied from the session's, so nothing trains)."""
    root = tmp_path_factory.mktemp("pick_store")
    shutil.copytree(trained[2], root / "_models")
    return root


@pytest.fixture(scope="module")
def exported(store, tmp_path_factory) -> dict[str, Path]:
    """The debug target pool exported with labels in every format."""
    folder = tmp_path_factory.mktemp("exported")
    return {
        suffix: export_pool(store, "debug", folder / f"pool{suffix}", device="cpu")
        for suffix in FORMATS
    }


def test_round_trip_gives_identical_arrays_and_picks_for_every_selector(store, exported) -> None:
    z, logits = RunStore(store).load_embeddings(pick_id_pool(store))
    labels = load_scenario("debug").target_pool.y
    for suffix, path in exported.items():
        table = read_embeddings(path)
        assert np.array_equal(table.z, z) and np.array_equal(table.logits, logits), suffix
        assert np.array_equal(table.labels, labels), suffix
        assert table.ids == tuple(f"pool-{i}" for i in range(len(z)))
    table = read_embeddings(exported[".safetensors"])
    for method in available():
        for seed in (0, 1):
            expected = select(method, z, logits, 12, seed=seed, device="cpu")
            got = select(method, table.z, table.logits, 12, seed=seed, device="cpu")
            assert np.array_equal(expected, got), (method, seed)


def pick_id_pool(store: Path) -> str:
    """The pool id of the debug scenario's stored pool (a pick prepares it)."""
    pick_id, _ = pick(store, scenario="debug", method="random", n_picks=3, seed=0, device="cpu")
    info, _ = load_pick(store, pick_id)
    return info["config"]["pool"]["pool_id"]


def test_a_pick_on_the_file_equals_the_pick_on_the_scenario(store, exported) -> None:
    for method in ("forge", "badge", "margin"):
        on_scenario, _ = pick(store, scenario="debug", method=method, n_picks=9, device="cpu")
        on_file, _ = pick(store, embeddings=exported[".parquet"], method=method, n_picks=9)
        a, b = load_pick(store, on_scenario)[1], load_pick(store, on_file)[1]
        assert list(a["id"]) == list(b["id"]) and on_scenario != on_file


def test_the_manifest_holds_the_picks_in_order_with_checked_scores(store, exported) -> None:
    pick_id, reused = pick(store, embeddings=exported[".npz"], method="forge", fraction=0.1)
    assert not reused
    assert pick(store, embeddings=exported[".npz"], method="forge", fraction=0.1) == (
        pick_id,
        True,
    )
    info, frame = load_pick(store, pick_id)
    table = read_embeddings(exported[".npz"])
    assert len(frame) == round(0.1 * table.n) == info["config"]["n_picks"]
    assert list(frame["rank"]) == list(range(1, len(frame) + 1))
    rows = frame["row"].to_numpy()
    assert list(rows) == list(select("forge", table.z, table.logits, len(frame), seed=0))
    top2 = np.sort(table.logits[rows].astype(np.float64), axis=1)[:, -2:]
    assert np.allclose(frame["margin"], top2[:, 1] - top2[:, 0])
    z = table.z[rows].astype(np.float64)
    assert np.allclose(frame["z_norm"], np.linalg.norm(z, axis=1), rtol=1e-6)
    assert np.allclose(frame["tangent_norm"], np.sqrt(10) * frame["z_norm"])
    brute = [np.linalg.norm(z[:k] - z[k], axis=1).min() for k in range(1, len(z))]
    assert np.isnan(frame["nearest_pick_distance"][0])
    assert np.allclose(frame["nearest_pick_distance"][1:], brute, rtol=1e-5, atol=1e-5)
    folder = pick_dir(store, pick_id)
    csv = pd.read_csv(folder / "manifest.csv")
    assert list(csv["id"]) == list(frame["id"]) and "row" not in csv
    jsonl = [json.loads(line) for line in (folder / "manifest.jsonl").read_text().splitlines()]
    assert [r["rank"] for r in jsonl] == list(frame["rank"])
    tasks = json.loads((folder / "labelstudio.json").read_text())
    assert [t["data"]["forgelens_id"] for t in tasks] == list(frame["id"])
    other, _ = pick(store, embeddings=exported[".npz"], method="forge", fraction=0.1, seed=1)
    assert other != pick_id


def test_label_studio_tasks_carry_texts_inline_and_images_by_path(tmp_path) -> None:
    rng = np.random.default_rng(0)
    z, logits = rng.normal(size=(20, 4)), rng.normal(size=(20, 3))
    texts = EmbeddingsTable(
        z=z, logits=logits, ids=tuple("abcdefghijklmnopqrst"), class_names=("x", "y", "w")
    )
    for field, value in (("text", "a tweet"), ("path", "/data/img.png")):
        table = EmbeddingsTable(**{**texts.__dict__, field: (value,) * 20})
        path = write_embeddings(tmp_path / f"{field}.parquet", table)
        pick_id, _ = pick(tmp_path / "store", embeddings=path, method="badge", n_picks=4)
        tasks = json.loads((pick_dir(tmp_path / "store", pick_id) / "labelstudio.json").read_text())
        data = tasks[0]["data"]
        assert (
            data["text"] == "a tweet"
            if field == "text"
            else data["image"] == "/data/local-files/?d=data/img.png"
        )


def _table(n: int = 30, d: int = 5, c: int = 3) -> EmbeddingsTable:
    rng = np.random.default_rng(1)
    return EmbeddingsTable(
        z=rng.normal(size=(n, d)).astype(np.float32),
        logits=rng.normal(size=(n, c)).astype(np.float32),
        ids=tuple(f"s{i}" for i in range(n)),
        class_names=("cat", "dog", "fox"),
        labels=np.full(n, -1, dtype=np.int64),
    )


def _bad_file(tmp_path: Path, case: str) -> Path:
    table = _table()
    path = tmp_path / "bad.npz"
    if case == "missing":
        return tmp_path / "nosuch.npz"
    if case == "suffix":
        path = tmp_path / "bad.txt"
        path.write_text("z")
        return path
    fields = {"z": table.z, "logits": table.logits, "id": np.asarray(table.ids)}
    if case == "rows":
        fields["logits"] = table.logits[:-1]
    elif case == "nan":
        fields["z"] = table.z.copy()
        fields["z"][4, 2] = np.nan
    elif case == "ids":
        fields["id"] = np.asarray(["same"] * 30)
    elif case == "label":
        fields["label"] = np.asarray(["cat"] * 29 + ["wolf"])
        fields["class_names"] = np.asarray(table.class_names)
    elif case == "no-logits":
        del fields["logits"]
    np.savez(path, **fields)
    return path


@pytest.mark.parametrize(
    "case, words",
    [
        ("missing", ["nosuch.npz", "does not exist"]),
        ("suffix", ["bad.txt", ".txt"]),
        ("rows", ["bad.npz", "'z' has 30 rows", "'logits' has 29"]),
        ("nan", ["bad.npz", "'z'", "row 4, column 2"]),
        ("ids", ["bad.npz", "'id'", "'same'"]),
        ("label", ["bad.npz", "'label'", "'wolf'", "cat, dog, fox"]),
        ("no-logits", ["bad.npz", "'logits' is missing"]),
    ],
)
def test_a_bad_embeddings_file_is_named_with_its_field_and_nothing_is_written(
    tmp_path, case, words
) -> None:
    path = _bad_file(tmp_path, case)
    with pytest.raises(ForgeLensError) as error:
        pick(tmp_path / "store", embeddings=path, method="forge", n_picks=3)
    for word in words:
        assert word in str(error.value), (word, str(error.value))
    assert not (tmp_path / "store").exists()


def test_an_unknown_selector_parameter_is_named(tmp_path) -> None:
    path = write_embeddings(tmp_path / "pool.npz", _table())
    with pytest.raises(ForgeLensError, match=r"'forge': parameter\(s\) bogus.*allowed: "):
        pick(tmp_path / "store", embeddings=path, method="forge", n_picks=3, params={"bogus": 1})
    assert not (tmp_path / "store").exists()


def test_a_wrong_dimension_is_named(tmp_path) -> None:
    path = write_embeddings(tmp_path / "pool.safetensors", _table())
    with pytest.raises(ForgeLensError, match=r"pool.safetensors: field 'z' has 5 columns.*512"):
        read_embeddings(path, expect_dim=512)


def test_the_fitted_head_is_the_linear_head_and_training_lowers_its_loss() -> None:
    rng = np.random.default_rng(2)
    z = rng.normal(size=(200, 6)) + 3.0
    weight, bias = rng.normal(size=(4, 6)), rng.normal(size=4)
    w, b, error = fit_head(z, z @ weight.T + bias)
    assert np.allclose(w, weight, atol=1e-8) and np.allclose(b, bias, atol=1e-8)
    assert error < 1e-10
    y = rng.integers(0, 4, size=20)
    _, _, history = train_head(w, b, z[:20], y, steps=50, l2=0.01)
    assert all(b <= a + 1e-12 for a, b in zip(history, history[1:], strict=False))
    assert history[-1] < history[0]


def _oracle_labels(store: Path, pick_id: str, path: Path, *, json_export: bool = False) -> Path:
    scenario = load_scenario("debug")
    _, frame = load_pick(store, pick_id)
    names = [scenario.class_names[scenario.target_pool.y[r]] for r in frame["row"]]
    if json_export:  # Label Studio's full export of the tasks we wrote
        tasks = [
            {
                "id": k,
                "data": {"forgelens_id": ident},
                "annotations": [{"result": [{"value": {"choices": [name]}}]}],
            }
            for k, (ident, name) in enumerate(zip(frame["id"], names, strict=True))
        ]
        path.write_text(json.dumps(tasks))
    else:
        pd.DataFrame({"id": frame["id"], "label": names}).to_csv(path, index=False)
    return path


def test_labels_back_adapts_the_head_and_reports_what_changed(store, exported, tmp_path) -> None:
    pick_id, _ = pick(store, embeddings=exported[".npz"], method="badge", n_picks=20)
    labels = _oracle_labels(store, pick_id, tmp_path / "labels.csv")
    labels_id, _ = labels_back(store, pick_id, labels, steps=100)
    summary, flips = load_labels_result(store, labels_id)
    assert summary["n_labels"] == 20 and summary["head_fit_error"] < 1e-4
    assert summary["labelled_loss_after"] < summary["labelled_loss_before"]
    assert summary["labelled_accuracy_after"] >= summary["labelled_accuracy_before"]
    net = np.asarray(summary["mix_after"]) - np.asarray(summary["mix_before"])
    names = summary["class_names"]
    flows = np.zeros(len(names), dtype=int)
    for before, after in zip(flips["before"], flips["after"], strict=True):
        flows[names.index(before)] -= 1
        flows[names.index(after)] += 1
    assert np.array_equal(net, flows) and len(flips) == summary["n_flipped"]
    from safetensors.numpy import load_file

    head = load_file(str(store / "_labels" / labels_id / "head.safetensors"))
    table = read_embeddings(exported[".npz"])
    after = table.z @ head["weight"].T + head["bias"]
    flipped = after.argmax(1) != table.logits.argmax(1)
    assert set(np.flatnonzero(flipped)) == set(flips["row"])
    json_labels = _oracle_labels(store, pick_id, tmp_path / "export.json", json_export=True)
    assert labels_back(store, pick_id, json_labels, steps=100) == (labels_id, True)


@pytest.mark.parametrize(
    "rows, words",
    [
        ("id,label\nnosuch,0\n", ["labels.csv", "'id'", "'nosuch'"]),
        ("id,label\npool-1,0\npool-1,1\n", ["labels.csv", "'pool-1' twice"]),
        ("id,label\npool-1,zebra\n", ["labels.csv", "'label'", "'zebra'", "lacks"]),
        ("name,label\npool-1,0\n", ["labels.csv", "id missing"]),
    ],
)
def test_bad_labels_are_named_and_nothing_is_written(store, exported, tmp_path, rows, words):
    pick_id, _ = pick(store, embeddings=exported[".npz"], method="margin", n_picks=5)
    path = tmp_path / "labels.csv"
    path.write_text(rows)
    before = sorted((store / "_labels").glob("*")) if (store / "_labels").exists() else []
    with pytest.raises(ForgeLensError) as error:
        labels_back(store, pick_id, path)
    for word in words:
        assert word in str(error.value), (word, str(error.value))
    after = sorted((store / "_labels").glob("*")) if (store / "_labels").exists() else []
    assert before == after


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "core", *args], capture_output=True, text=True, cwd=ROOT
    )


def test_cli_bad_input_exits_2_naming_the_file_and_writes_nothing(tmp_path) -> None:
    """(The README's example, run end to end by tests/dashboard/test_label_example.py, covers
    the commands that succeed.)"""
    bad = _cli("pick", "--embeddings", str(tmp_path / "nosuch.npz"), "--n", "3",
               "--out", str(tmp_path / "fresh"))  # fmt: skip
    assert bad.returncode == 2 and "nosuch.npz" in bad.stderr
    assert not (tmp_path / "fresh").exists()
    bad = _cli("labels", "--pick", "nosuch", "--labels", str(tmp_path / "l.csv"),
               "--out", str(tmp_path / "fresh"))  # fmt: skip
    assert bad.returncode == 2 and "pick_id='nosuch' is not stored" in bad.stderr
    assert not (tmp_path / "fresh").exists()


def test_an_unlabelled_image_folder_any_nesting_is_embedded_like_the_pool(store, tmp_path):
    """Target images written as PNGs in nested folders without classes, embedded by the
    source model: z and logits match the stored pool's up to 8-bit rounding of the pixels."""
    from PIL import Image

    from core.run.unlabelled import embed_unlabelled

    scenario = load_scenario("debug")
    z, logits = RunStore(store).load_embeddings(pick_id_pool(store))
    rows = list(range(0, 30))
    for row in rows:
        pixels = scenario.target_pool.x[row, 0].numpy()
        folder = tmp_path / "unlabelled" / f"batch{row % 3}" / ("deep" if row % 2 else "")
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.round(pixels * 255).astype(np.uint8)).save(folder / f"{row:03d}.png")
    (tmp_path / "unlabelled" / "notes.txt").write_text("not an image")
    out = embed_unlabelled(
        store, "debug", tmp_path / "pool.npz", images=tmp_path / "unlabelled", device="cpu"
    )
    table = read_embeddings(out)
    assert table.n == 30 and table.labels is None
    order = [int(Path(i).stem) for i in table.ids]
    assert sorted(order) == rows and all(Path(p).is_file() for p in table.path)
    assert np.allclose(table.z, z[order], atol=0.05 * np.abs(z).max())
    assert (table.logits.argmax(1) == logits[order].argmax(1)).mean() >= 0.9
    pick_id, _ = pick(store, embeddings=out, method="forge", n_picks=5)
    tasks = json.loads((pick_dir(store, pick_id) / "labelstudio.json").read_text())
    assert all(t["data"]["image"].startswith("/data/local-files/?d=") for t in tasks)
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("no images here")
    with pytest.raises(ForgeLensError, match="holds no image files"):
        embed_unlabelled(store, "debug", tmp_path / "x.npz", images=tmp_path / "empty")
    with pytest.raises(ForgeLensError, match=r"holds images; allowed: --images"):
        texts = tmp_path / "texts.csv"
        texts.write_text("text\nhello\n")
        embed_unlabelled(store, "debug", tmp_path / "x.npz", texts=texts)
    with pytest.raises(ForgeLensError, match=r"x.txt.*suffix"):
        embed_unlabelled(store, "debug", tmp_path / "x.txt", images=tmp_path / "unlabelled")
