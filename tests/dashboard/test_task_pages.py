"""Pages on the two other task types: a reward-model store (tweet preference pairs) and a span-QA
store (a tiny random QA model). Pages ask the task for the metric name and sample renderer."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.storage.store import RunStore
from tests.helpers.app import charts, decode, open_app
from tests.helpers.markdown import unescape_markdown
from tests.helpers.stores import TEXT_PER_CLASS

PAGES = ("home", "accuracy", "gap", "projection", "compare", "run")


@pytest.fixture(scope="module")
def reward_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from core.run.sweep import run_sweep
    from core.scenarios import build_scenario

    root = tmp_path_factory.mktemp("reward_store")
    pairs = build_scenario(
        "tweets-pairs-airline-to-apple", base_params={"per_class": TEXT_PER_CLASS}
    )
    run_sweep(
        pairs.name,
        ["random", "badge", "forge"],
        [0.2],
        [0],
        root=str(root),
        device="cpu",
        built=pairs,
    )
    return root


@pytest.fixture(scope="module")
def qa_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from core.run.sweep import run_sweep
    from core.scenarios import build_scenario
    from core.scenarios.squad_data import load_squad_json
    from core.tasks.qa.tiny import make_tiny_qa_model, write_toy_squad

    root = tmp_path_factory.mktemp("qa_store")
    source = write_toy_squad(root / "source.json", 30, "wiki")
    target = write_toy_squad(root / "target.json", 50, "news", seed=1)
    texts = [q.question + " " + q.context for p in (source, target) for q in load_squad_json(p)]
    model_dir = make_tiny_qa_model(root / "model", texts)
    scenario = build_scenario(
        "squad-files",
        source_file=str(source),
        target_file=str(target),
        model_dir=str(model_dir),
        max_length=64,
    )
    run_sweep(
        "squad-files",
        ["random", "badge", "forge"],
        [0.2],
        [0],
        root=str(root / "runs"),
        device="cpu",
        adaptation="head",
        built=scenario,
    )
    return root / "runs"


def _markdown(at) -> str:
    return "\n".join(unescape_markdown(m.value) for m in at.markdown)


def _captions(at) -> str:
    return "\n".join(c.value for c in at.caption)


def _assert_page_shows_the_store(at, root: Path, page: str) -> None:
    """The page is about this store's runs: no error or warning box, its scenario named in the
    sidebar, and on a chart page at least one chart whose traces hold data points."""
    from dashboard.navigation import PAGES as SPECS

    spec = next(p for p in SPECS if p.file == f"{page}.py")
    assert not at.error, [e.value for e in at.error]
    runs = RunStore(root).finished_runs()
    if page == "home":
        metrics = {m.label: m.value for m in at.metric}
        assert metrics["finished runs"] == str(len(runs))
        assert f"Figure 5 in numbers — {runs['scenario'].iloc[0]}" in [
            unescape_markdown(h.value)
            for h in at.subheader  # a name from the store: escaped
        ]
        return
    if page == "run":
        assert "scenario" in [s.label.lower() for s in at.selectbox]
        return
    scenario = runs["scenario"].iloc[0]
    assert scenario in [str(v) for box in at.sidebar.selectbox for v in [box.value]]
    if spec.charts:
        points = [
            len(trace[axis]) if isinstance(trace[axis], list) else len(decode(trace[axis]))
            for chart in charts(at)
            for trace in chart["data"]
            for axis in ("x", "y")
            if trace.get(axis) is not None
        ]
        assert points and max(points) > 0, f"{page}: no chart with data"


@pytest.mark.parametrize("page", PAGES)
def test_every_page_shows_a_reward_store(reward_store, monkeypatch, page):
    _assert_page_shows_the_store(open_app(reward_store, monkeypatch, page), reward_store, page)


@pytest.mark.parametrize("page", PAGES)
def test_every_page_shows_a_qa_store(qa_store, monkeypatch, page):
    _assert_page_shows_the_store(open_app(qa_store, monkeypatch, page), qa_store, page)


def test_reward_pages_name_the_metric_and_show_text_pairs(reward_store, monkeypatch):
    at = open_app(reward_store, monkeypatch, "accuracy")
    assert "pair accuracy" in _captions(at)
    at = open_app(reward_store, monkeypatch, "gap")
    assert "z_w - z_l" in _captions(at)
    shown = _markdown(at)
    assert "preferred" in shown
    from core.scenarios import build_scenario

    pairs = build_scenario(
        "tweets-pairs-airline-to-apple", base_params={"per_class": TEXT_PER_CLASS}
    )
    store = RunStore(reward_store)
    runs = store.finished_runs()
    table = store.load_table(runs[runs["method"] == "badge"]["run_id"].iloc[0], "pairs")
    biggest = table[table["space"] == "badge"].nlargest(1, "gap")["idx"].iloc[0]
    pair = pairs.preview("target_pool", int(biggest))  # the page's default: largest BADGE gaps
    assert " ".join(pair.first.split())[:40] in shown
    assert " ".join(pair.second.split())[:40] in shown


def test_qa_pages_name_the_metric_and_show_questions(qa_store, monkeypatch):
    at = open_app(qa_store, monkeypatch, "accuracy")
    assert "exact match" in _captions(at)
    at = open_app(qa_store, monkeypatch, "gap")
    shown = _markdown(at)
    assert "**Q:** Who signed a deal with" in shown
    assert "Officials said on Monday that **" in shown  # the gold answer in bold
