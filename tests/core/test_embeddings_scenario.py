"""Embeddings scenarios (``kind = "embeddings"``): a built-in scenario's z and logits exported
and read back give the same pool and identical picks for every selector and seed; the head is
the least-squares fit of the logits; full adaptation and unlabelled rows are refused."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from core.base.validation import ForgeLensError
from core.nn.models import head_logits
from core.run.constraints import check_sweep
from core.run.engine import prepare_pool
from core.run.sweep import run_sweep
from core.scenarios.embeddings_file import EmbeddingsTable, write_embeddings
from core.scenarios.file_builders import save_table
from core.selection import available
from core.storage.store import RunStore

CPU = torch.device("cpu")
TARGET = ("target_pool", "target_val", "target_test")
SOURCE = ("source_train", "source_val")


def _export(prepared, splits: tuple[str, ...], domain: str) -> EmbeddingsTable:
    """Rows of ``splits`` at their original positions (so the target is cut as it was)."""
    scenario = prepared.scenario
    n = sum(len(scenario.split(s)) for s in splits)
    z = np.zeros((n, prepared.features[splits[0]].shape[1]), np.float32)
    logits = np.zeros((n, scenario.num_classes), np.float32)
    labels = np.zeros(n, np.int64)
    for split in splits:
        rows = scenario.indices[split]
        z[rows] = prepared.features[split]
        logits[rows] = head_logits(prepared.model, prepared.features[split], device=CPU)
        labels[rows] = scenario.split(split).y
    return EmbeddingsTable(
        z=z,
        logits=logits,
        ids=tuple(f"{domain}-{i}" for i in range(n)),
        class_names=scenario.class_names,
        labels=labels,
        domain=(domain,) * n,
    )


@pytest.fixture(scope="module")
def exported(trained, tmp_path_factory) -> tuple[Path, dict[str, Path]]:
    """(store holding the debug source model, the debug scenario exported as files)."""
    root = tmp_path_factory.mktemp("emb_store")
    shutil.copytree(trained[2], root / "_models")
    prepared = prepare_pool(RunStore(root), "debug", device=CPU, adaptation="head")
    folder = tmp_path_factory.mktemp("emb_files")
    source, target = _export(prepared, SOURCE, "src"), _export(prepared, TARGET, "tgt")
    both = dataclasses.replace(
        source,
        z=np.concatenate([source.z, target.z]),
        logits=np.concatenate([source.logits, target.logits]),
        ids=source.ids + target.ids,
        labels=np.concatenate([source.labels, target.labels]),
        domain=source.domain + target.domain,
    )
    files = {
        "source": write_embeddings(folder / "source.npz", source),
        "target": write_embeddings(folder / "target.parquet", target),
        "both": write_embeddings(folder / "both.safetensors", both),
    }
    return root, files


def test_read_back_embeddings_give_identical_picks_for_every_selector_and_seed(exported):
    root, files = exported
    name = save_table(
        root,
        {
            "name": "debug-emb",
            "kind": "embeddings",
            "source_file": str(files["source"]),
            "target_file": str(files["target"]),
        },
    )
    methods = list(available())
    kwargs = {"root": str(root), "device": "cpu", "adaptation": "head"}
    builtin = run_sweep("debug", methods, [0.05], [0, 1], **kwargs)
    read_back = run_sweep(name, methods, [0.05], [0, 1], **kwargs)
    store = RunStore(root)

    def picks(run_id: str) -> list[int]:
        samples = store.load_table(run_id, "samples")
        return samples[samples["selected"]].sort_values("order")["idx"].tolist()

    for a, b in zip(builtin, read_back, strict=True):
        ca, cb = store.load_config(a)["config"], store.load_config(b)["config"]
        assert (ca["method"], ca["seed"]) == (cb["method"], cb["seed"])
        assert len(picks(a)) == 10 and picks(a) == picks(b), (ca["method"], ca["seed"])
    za, la = store.load_embeddings(store.load_config(builtin[0])["pool_id"])
    zb, lb = store.load_embeddings(store.load_config(read_back[0])["pool_id"])
    assert np.array_equal(za, zb) and np.array_equal(la, lb)
    info = store.load_config(read_back[0])["source_model"]
    assert info["head_fit_relative_error"] < 1e-5  # a linear last layer is recovered
    # one file split by its domain field is the same scenario
    one = save_table(
        root,
        {
            "name": "debug-emb-one",
            "kind": "embeddings",
            "file": str(files["both"]),
            "source": "src",
            "target": "tgt",
        },
    )
    pool = prepare_pool(store, one, device=CPU, adaptation="head")
    zc, lc = store.load_embeddings(pool.pool_id)
    assert np.array_equal(zc, zb) and np.array_equal(lc, lb)


def test_full_adaptation_and_unlabelled_rows_are_refused(exported, tmp_path):
    root, files = exported
    table = {
        "name": "emb-bad",
        "kind": "embeddings",
        "source_file": str(files["source"]),
        "target_file": str(files["target"]),
    }
    with pytest.raises(ForgeLensError, match="adaptation='full' is not allowed for kind"):
        save_table(tmp_path, {**table, "adaptation": "full"})
    save_table(tmp_path, table)
    with pytest.raises(ForgeLensError, match="adaptation='full' is not allowed for the embed"):
        check_sweep("emb-bad", ["random"], [0.1], [0], "full", root=tmp_path)
    with pytest.raises(ForgeLensError, match="needs source_file and target_file, or file"):
        save_table(tmp_path, {**table, "file": str(files["both"])})
    unlabelled = tmp_path / "unlabelled.npz"
    from core.scenarios.embeddings_file import read_embeddings

    rows = read_embeddings(files["target"])
    write_embeddings(unlabelled, dataclasses.replace(rows, labels=np.full(rows.n, -1)))
    with pytest.raises(ForgeLensError, match=r"unlabelled.npz: field 'label' \(target\)"):
        save_table(tmp_path, {**table, "name": "emb-unl", "target_file": str(unlabelled)})
    assert not (tmp_path / "_scenarios" / "emb-unl.toml").exists()
