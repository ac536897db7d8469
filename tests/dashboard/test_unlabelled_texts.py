"""Unlabelled texts (a CSV without a label column) embedded by a text scenario's source model
give the very z and logits its pool holds for the same texts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from core.run.pick import pick
from core.run.pick_store import load_pick
from core.run.unlabelled import embed_unlabelled
from core.scenarios.embeddings_file import read_embeddings
from core.storage.store import RunStore


def test_unlabelled_texts_embed_as_the_pool_and_pick_with_their_texts(
    text_store: Path, text_slice, tmp_path: Path
) -> None:
    store = RunStore(text_store)
    pool_id = store.finished_runs()["pool_id"].iloc[0]
    z, logits = store.load_embeddings(pool_id)
    texts = list(text_slice.texts["target_pool"])
    csv = tmp_path / "tweets.csv"
    pd.DataFrame({"text": texts, "id": [f"tweet-{i}" for i in range(len(texts))]}).to_csv(
        csv, index=False
    )
    out = embed_unlabelled(
        text_store, text_slice.name, tmp_path / "tweets.safetensors", texts=csv,
        device="cpu", built=text_slice,
    )  # fmt: skip
    table = read_embeddings(out)
    assert table.labels is None and table.text == tuple(texts)
    assert table.ids == tuple(f"tweet-{i}" for i in range(len(texts)))
    assert np.allclose(table.z, z, atol=1e-4) and np.allclose(table.logits, logits, atol=1e-4)
    pick_id, _ = pick(tmp_path / "picks", embeddings=out, method="badge", n_picks=5)
    _, frame = load_pick(tmp_path / "picks", pick_id)
    assert list(frame["text"]) == [texts[r] for r in frame["row"]]
