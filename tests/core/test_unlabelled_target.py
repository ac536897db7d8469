"""Scenario files whose target is unlabelled (``unlabelled_target = true``): an image folder
without class folders (any nesting) or texts without a label column. They are picked from by
``core pick`` (the same picks as the ``core embed`` route of the same inputs), embedded by
``core embed``, and refused by ``core run`` with nothing saved."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.base.validation import ForgeLensError
from core.cli.main import main
from core.run.labels_back import labels_back
from core.run.pick import export_pool, load_pick, pick
from core.run.pick_store import load_labels_result
from core.run.unlabelled import embed_unlabelled
from core.scenarios.embeddings_file import read_embeddings
from core.scenarios.file_builders import use_scenario_file
from core.scenarios.scenario_file import to_toml
from tests.helpers.image_folders import CLASSES, make_folder


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> tuple[Path, Path]:
    """(data root, scenario file): labelled source ``a``, unlabelled target ``u`` holding the
    images of domain ``b`` at several depths, with no class folders."""
    base = tmp_path_factory.mktemp("unlabelled-images")
    root = make_folder(base / "data", domains=("a", "b"), per_class=6)
    for k, path in enumerate(sorted((root / "b").rglob("*.png"))):
        folder = root / "u" / f"batch{k % 3}" / ("deep/er" if k % 2 else "")
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, folder / f"{k:03d}.png")
    (root / "u" / "notes.txt").write_text("not an image")
    shutil.rmtree(root / "b")
    toml = base / "unlabelled.toml"
    toml.write_text(
        to_toml(
            {
                "name": "a-to-unlabelled",
                "kind": "image-folder",
                "root": "data",
                "source": ["a"],
                "target": ["u"],
                "image_size": 16,
                "unlabelled_target": True,
            }
        )
    )
    return root, toml


def test_a_pick_from_an_unlabelled_image_target_equals_the_embed_route(images, tmp_path):
    root, toml = images
    out = tmp_path / "store"
    common = ["--method", "margin", "--n", "5", "--out", str(out), "--device", "cpu"]
    assert main(["pick", "--scenario-file", str(toml), *common]) == 0
    (pick_id,) = [p.name for p in (out / "_picks").iterdir()]
    info, frame = load_pick(out, pick_id)
    assert info["pool_size"] == 18 and len(frame) == 5
    assert info["config"]["pool"]["unlabelled_target"] is True
    assert all(i.startswith("u/") for i in frame["id"]) and set(frame["domain"]) == {"u"}
    assert all(Path(p).is_file() and Path(p).is_relative_to(root / "u") for p in frame["path"])
    # the same images through `core embed` with the saved scenario's source model
    pool = embed_unlabelled(out, "a-to-unlabelled", tmp_path / "u.npz", images=root / "u")
    table = read_embeddings(pool)
    assert table.n == 18 and table.labels is None
    again, _ = pick(out, embeddings=pool, method="margin", n_picks=5, device="cpu")
    assert list(load_pick(out, again)[1]["path"]) == list(frame["path"])
    # the same request by name is reused
    assert main(["pick", "--scenario", "a-to-unlabelled", *common]) == 0
    assert len(list((out / "_picks").iterdir())) == 2
    # labels back on the pick: the kept pool is re-read, the head adapts on the 5 labels
    labels = pd.DataFrame(
        {"id": frame["id"], "label": [CLASSES[int(Path(i).stem) // 6] for i in frame["id"]]}
    )
    labels.to_csv(tmp_path / "labels.csv", index=False)
    labels_id, _ = labels_back(out, pick_id, tmp_path / "labels.csv", steps=50)
    summary, _ = load_labels_result(out, labels_id)
    assert summary["n_labels"] == 5 and sum(summary["mix_after"]) == 18
    # an unlabelled copy exports; a labelled one is refused, naming the scenario
    assert (
        read_embeddings(export_pool(out, "a-to-unlabelled", tmp_path / "x.npz", labels=False)).n
        == 18
    )
    with pytest.raises(ForgeLensError, match="'a-to-unlabelled' has an unlabelled target"):
        export_pool(out, "a-to-unlabelled", tmp_path / "y.npz")


def test_core_run_refuses_an_unlabelled_target_and_keeps_no_file(images, tmp_path, capsys):
    _, toml = images
    out = tmp_path / "store"
    args = ["run", "--scenario-file", str(toml), "--methods", "random", "--budgets", "0.2",
            "--seeds", "0", "--out", str(out), "--device", "cpu", "--quiet"]  # fmt: skip
    assert main(args) == 2
    message = capsys.readouterr().err
    assert "'a-to-unlabelled' has an unlabelled target" in message
    assert "python -m core pick --scenario a-to-unlabelled" in message
    assert not list((out / "_scenarios").glob("*.toml"))
    # saved by a pick, it is still refused by name, and no run is written
    use_scenario_file(toml, out)
    assert main([*args[:1], "--scenario", "a-to-unlabelled", *args[3:]]) == 2
    assert not (out / "runs").exists() or not any((out / "runs").iterdir())


def test_an_unlabelled_target_folder_without_images_is_named(images, tmp_path):
    root, _ = images
    (root / "empty" / "nested").mkdir(parents=True, exist_ok=True)
    (root / "empty" / "nested" / "readme.txt").write_text("no images")
    table = {
        "name": "empty-target",
        "kind": "image-folder",
        "root": str(root),
        "source": ["a"],
        "target": ["empty"],
        "image_size": 16,
        "unlabelled_target": True,
    }
    toml = tmp_path / "empty.toml"
    toml.write_text(to_toml(table))
    with pytest.raises(ForgeLensError, match=r"empty holds no images .* at any depth"):
        use_scenario_file(toml, tmp_path / "store")
    assert not (tmp_path / "store" / "_scenarios" / "empty-target.toml").exists()
    toml.write_text(to_toml({**table, "unlabelled_target": "yes"}))
    with pytest.raises(ForgeLensError, match="unlabelled_target='yes' is not allowed"):
        use_scenario_file(toml, tmp_path / "store")


def test_texts_without_a_label_column_are_picked_with_their_ids(tmp_path):
    words = {"good": "pos", "great": "pos", "love": "pos", "bad": "neg", "awful": "neg"}
    source = pd.DataFrame(
        [
            {"text": f"the book was {w} {i}", "label": y, "domain": "books"}
            for i in range(4)
            for w, y in words.items()
        ]
    )
    target = pd.DataFrame(
        {"text": [f"the film felt {w} really {i}" for i in range(3) for w in words]}
    )
    target["domain"] = "films"
    source.to_csv(tmp_path / "source.csv", index=False)
    target.to_csv(tmp_path / "target.csv", index=False)  # no label column
    table = {
        "name": "books-to-films",
        "kind": "text-files",
        "files": [str(tmp_path / "source.csv"), str(tmp_path / "target.csv")],
        "source": ["books"],
        "target": ["films"],
        "max_length": 16,
        "unlabelled_target": True,
    }
    (tmp_path / "t.toml").write_text(to_toml(table))
    out = tmp_path / "store"
    name = use_scenario_file(tmp_path / "t.toml", out)
    pick_id, _ = pick(out, scenario=name, method="entropy", n_picks=4, device="cpu")
    info, frame = load_pick(out, pick_id)
    assert info["pool_size"] == len(target) and info["modality"] == "text"
    rows = [int(i.split(":")[1]) for i in frame["id"]]
    assert all(i.startswith("target.csv:") for i in frame["id"])
    assert list(frame["text"]) == [target["text"][r] for r in rows]
    assert np.all(np.diff(frame["entropy"].to_numpy()) <= 1e-6)  # most uncertain first
    # a labelled source is still required
    source.loc[3, "label"] = ""
    source.to_csv(tmp_path / "source.csv", index=False)
    with pytest.raises(ForgeLensError, match=r"source.csv row 3: field 'label' is empty"):
        use_scenario_file(tmp_path / "t.toml", tmp_path / "other")
