"""UMAP and Compare on a store with picks but no labelled runs, ``python -m core picks``, and
a pick made from the Run page: the picks drawn where they are in the pool, by rank; the overlap
and mixes equal to sets and counts computed here; store text shown as typed."""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.analysis.pick_views import compare_picks
from core.base.validation import ForgeLensError
from core.cli.main import main
from core.run.pick import pick
from core.scenarios.embeddings_file import EmbeddingsTable, write_embeddings
from tests.helpers.app import charts, decode, open_app, texts

N = 80
PICKS = (("forge", 0), ("random", 0), ("random", 1))


@pytest.fixture(scope="module")
def picks_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str], dict]:
    """Three picks of 10 from an 80-text pool with two target domains, no runs."""
    folder = tmp_path_factory.mktemp("picks_only")
    rng = np.random.default_rng(1)
    z = rng.normal(size=(N, 8)).astype(np.float32)
    logits = (z @ rng.normal(size=(8, 3))).astype(np.float32)
    table = EmbeddingsTable(
        z=z,
        logits=logits,
        ids=tuple(f"s{i}" for i in range(N)),
        class_names=("neg", "<i>neu</i>", "pos"),
        domain=tuple("ab"[i % 2] for i in range(N)),
        text=tuple(f"<b>post</b> {i} $x$" for i in range(N)),
    )
    pool = write_embeddings(folder / "pool.parquet", table)
    root = folder / "store"
    ids = [pick(root, embeddings=pool, method=m, n_picks=10, seed=s)[0] for m, s in PICKS]
    frames = {i: pd.read_parquet(root / "_picks" / i / "picks.parquet") for i in ids}
    return root, ids, {"frames": frames, "table": table, "pool": pool}


def test_umap_page_draws_each_pick_where_it_is_coloured_by_rank(
    picks_store, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, ids, facts = picks_store
    at = open_app(root, monkeypatch, "projection")
    assert not at.exception and not at.error
    (figure,) = charts(at)
    titles = [a["text"] for a in figure["layout"]["annotations"]]
    assert len(titles) == 3 and {t.split(" · ")[0].removeprefix("<b>") for t in titles} == {
        "forge",
        "random",
    }
    assert len(list((root / "_picks" / ".maps").glob("umap_*_z.parquet"))) == 1  # cached once
    for axis, title in zip(("x", "x2", "x3"), titles, strict=True):
        pick_id = next(i for i in ids if i[:6] in title)
        frame = facts["frames"][pick_id]
        (trace,) = [
            t
            for t in figure["data"]
            if t.get("customdata") is not None and t.get("xaxis", "x") == axis
        ]
        rows = [int(r[0]) for r in trace["customdata"]]
        ranks = [int(r[1]) for r in trace["customdata"]]
        assert dict(zip(rows, ranks, strict=True)) == dict(
            zip(frame["row"], frame["rank"], strict=True)
        )
        assert list(decode(trace["marker"]["color"])) == ranks  # colour = rank
        hover = " ".join(str(r[5]) for r in trace["customdata"])
        assert "&lt;b&gt;post&lt;/b&gt;" in hover and "<b>post" not in hover
        labels = [
            t for t in figure["data"] if t.get("mode") == "text" and t.get("xaxis", "x") == axis
        ]
        assert sorted(int(v) for v in labels[0]["text"]) == list(range(1, 11))
    first = facts["frames"][next(i for i in ids if i[:6] in titles[0])]
    shown = [t.value for t in at.get("text")]
    assert shown[:10] == [facts["table"].text[r] for r in first["row"]]  # as typed, in order
    next(r for r in at.main.radio if r.label == "UMAP of").set_value("forge").run()
    assert not at.exception and "FORGE" in charts(at)[0]["layout"]["title"]["text"]


def test_compare_page_overlap_and_mixes_match_sets_and_counts(
    picks_store, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, ids, facts = picks_store
    at = open_app(root, monkeypatch, "compare")
    assert not at.exception and not at.error
    jaccard, classes, domains = charts(at)
    names = list(jaccard["data"][0]["x"])
    rows = {}
    for name in names:
        pick_id = next(
            i
            for i in ids
            if facts["frames"][i]["selector"][0] == name.split(" · ")[0]
            and f"seed {facts['frames'][i]['seed'][0]}" in name
        )
        rows[name] = set(facts["frames"][pick_id]["row"])
    values = decode(jaccard["data"][0]["z"])
    for (i, a), (j, b) in itertools.product(enumerate(names), repeat=2):
        assert values[i, j] == pytest.approx(len(rows[a] & rows[b]) / len(rows[a] | rows[b]))
    predicted = facts["table"].logits.argmax(axis=1)
    bars = {t["name"]: list(decode(t["y"])) for t in classes["data"] if t["type"] == "bar"}
    for name, chosen in rows.items():
        counts = np.bincount(predicted[sorted(chosen)], minlength=3)
        assert bars[name] == pytest.approx(list(100 * counts / len(chosen)))
    pool_ticks = next(t for t in classes["data"] if t["name"] == "pool")
    assert list(decode(pool_ticks["y"])) == pytest.approx(list(100 * np.bincount(predicted) / N))
    assert "&lt;i&gt;neu&lt;/i&gt;" in classes["data"][0]["x"]  # class names from files: escaped
    assert list(domains["data"][0]["x"]) == ["a", "b"]
    assert "labelled runs would unlock" not in texts(at)


def test_cli_prints_the_comparison_and_writes_the_map(
    picks_store, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    root, ids, facts = picks_store
    assert main(["picks", "--out", str(root), "--compare"]) == 0
    out = capsys.readouterr().out
    assert all(i in out for i in ids) and "overlap (Jaccard)" in out
    assert "target-domain mix" in out
    target = tmp_path / "map.csv"
    assert main(["picks", "--out", str(root), "--map", ids[0], "--file", str(target)]) == 0
    points = pd.read_csv(target)
    frame = facts["frames"][ids[0]]
    assert len(points) == N and points["rank"].iloc[frame["row"]].tolist() == list(range(1, 11))
    assert (points["rank"] > 0).sum() == 10
    assert main(["picks", "--out", str(root), "--map", "nosuch0", "--file", str(target)]) == 2


def test_a_pick_made_on_the_run_page_is_the_cli_pick(
    picks_store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, ids, facts = picks_store
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    at = open_app(fresh, monkeypatch, "run")
    assert "Decide what to label" in [s.value for s in at.subheader]
    at.radio(key="run_pick_origin").set_value("an embeddings file").run()
    at.text_input(key="run_pick_file").input(str(facts["pool"])).run()
    at.number_input(key="run_pick_count").set_value(10).run()
    at.button(key="run_pick_go").click().run()
    assert not at.exception and not at.error
    made, reused = pick(fresh, embeddings=facts["pool"], method="forge", n_picks=10)
    assert reused and made == ids[0] and made in at.success[0].value


def test_comparing_picks_of_two_pools_is_refused_with_both_named(picks_store) -> None:
    root, ids, facts = picks_store
    table = facts["table"]
    other = write_embeddings(root.parent / "other.npz", table.rows(np.arange(40)))
    second, _ = pick(root, embeddings=other, method="random", n_picks=5, seed=0)
    try:
        with pytest.raises(ForgeLensError, match="2 different pools.*allowed: picks of one pool"):
            compare_picks(root, [ids[0], second])
        assert compare_picks(root, [second]).jaccard.to_numpy().tolist() == [[1.0]]
    finally:
        shutil.rmtree(root / "_picks" / second)  # the other tests see the three picks only
