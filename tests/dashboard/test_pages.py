"""Every page driven by AppTest against a real debug run store (and an empty one)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from streamlit.testing.v1 import AppTest

from benchmarks.synthetic_store import write_synthetic_store
from core.records.tangent_norms import with_tangent_norms
from core.storage.store import RUNS_ENV, RunStore
from dashboard import jobs
from dashboard.navigation import PAGES
from tests.helpers.app import APP, TIMEOUT, chart_specs, charts, decode, open_app, texts
from tests.helpers.figures import shown_coefficients
from tests.helpers.markdown import unescape_markdown
from tests.helpers.stores import DEBUG_BUDGETS, DEBUG_METHODS, DEBUG_SEEDS


# ---- empty store ---------------------------------------------------------------------------
def test_home_on_an_empty_store_offers_the_default_experiment(
    empty_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    launched = []

    def fake_launch(root, scenario, methods, budgets, seeds, **kwargs):
        launched.append((scenario, methods, budgets, seeds))
        folder = jobs.jobs_dir(root)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "j-default.json").write_text(
            json.dumps(
                {
                    "job_id": "j-default",
                    "pid": None,
                    "scenario": scenario,
                    "methods": methods,
                    "budgets": budgets,
                    "seeds": seeds,
                }
            )
        )
        (folder / "j-default.jsonl").write_text(
            json.dumps({"stage": "embed", "message": "embedding the target pool"}) + "\n"
        )
        return "j-default"

    monkeypatch.setattr(
        jobs,
        "submit_job",
        lambda *args, **kwargs: jobs.Submitted(fake_launch(*args, **kwargs), state=jobs.RUNNING),
    )
    at = open_app(empty_store, monkeypatch)
    assert "ForgeLens" in at.title[0].value
    assert "is empty" in at.info[0].value
    from core.nn.adaptation import format_seconds
    from dashboard import clock, presets

    for preset in presets.presets():  # each offer says how many runs and how long, before a click
        seconds = clock.plan(str(empty_store), pd.DataFrame(), preset.request).seconds
        assert (
            f"**{preset.title}** — {preset.n_runs} runs of **{preset.request['scenario']}**, "
            f"about **{format_seconds(seconds)}**"
        ) in texts(at)
    assert presets.presets()[0].n_runs < 10 and seconds > 60
    button = next(b for b in at.button if b.label == "Run the full default experiment")
    button.click().run()
    request = jobs.default_request()
    assert launched == [
        (request["scenario"], request["methods"], request["budgets"], request["seeds"])
    ]
    assert "Job j-default" in texts(at)
    assert any("embedding the target pool" in str(p.proto.text) for p in at.get("progress"))


@pytest.mark.parametrize("page", [p for p in PAGES if p.needs_runs], ids=lambda p: p.url_path)
def test_analysis_pages_on_an_empty_store_say_what_to_do(
    page, empty_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = open_app(empty_store, monkeypatch, page)
    assert "no finished runs yet" in at.info[0].value
    assert not chart_specs(at)


def test_teaching_page_works_without_runs_and_steps_pick_by_pick(
    empty_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = open_app(empty_store, monkeypatch, "teaching")
    figure = charts(at)[0]
    assert "5 picks" in figure["layout"]["annotations"][0]["text"]
    assert sum(s["type"] == "circle" for s in figure["layout"]["shapes"]) == 2 * 5
    plus = next(b for b in at.button if b.label == "+1 pick")
    for k in (6, 7, 8):
        plus.click().run()
        figure = charts(at)[0]
        assert at.slider[0].value == k
        assert f"{k} picks" in figure["layout"]["annotations"][1]["text"]
        picks = [t for t in figure["data"] if t.get("name") == "picks (newest numbered)"]
        assert [list(t["text"]) for t in picks] == [
            [str(i) if i > k - 8 else "" for i in range(1, k + 1)]
        ] * 2
    at.slider[0].set_value(40).run()
    figure = charts(at)[0]
    assert "40 picks" in figure["layout"]["annotations"][0]["text"]
    labels = next(t for t in figure["data"] if t.get("name") == "picks (newest numbered)")["text"]
    assert sum(bool(t) for t in labels) == 8  # at k = 40 only the newest eight carry numbers
    assert "What to notice" in texts(at)


# ---- debug store ---------------------------------------------------------------------------
def test_home_summarises_the_store(debug_store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_app(debug_store, monkeypatch)
    n_runs = len(DEBUG_METHODS) * len(DEBUG_BUDGETS) * len(DEBUG_SEEDS)
    assert [m.value for m in at.metric][:2] == [str(n_runs), "1"]
    table = at.table[0].value
    assert table.shape[0] == len(DEBUG_METHODS) * len(DEBUG_BUDGETS)
    assert not at.sidebar.selectbox and not at.sidebar.multiselect  # no filters on Home
    assert "Figure 5 in numbers — debug" in [h.value for h in at.subheader]


def test_run_page_lists_runs_and_launches_a_sweep(
    debug_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []

    def fake_launch(root, scenario, methods, budgets, seeds, **kwargs):
        calls.append((scenario, methods, budgets, seeds, kwargs))
        folder = jobs.jobs_dir(root)
        folder.mkdir(parents=True, exist_ok=True)
        jobs.cli_command(  # the checks the queue makes
            scenario, methods, budgets, seeds, root=root, progress=folder / "j-test.jsonl", **kwargs
        )
        request = {"scenario": scenario, "methods": methods, "budgets": budgets, "seeds": seeds}
        (folder / "j-test.json").write_text(
            json.dumps({"job_id": "j-test", "pid": None, **request, **kwargs})
        )
        return "j-test"

    monkeypatch.setattr(
        jobs,
        "submit_job",
        lambda *args, **kwargs: jobs.Submitted(fake_launch(*args, **kwargs), state=jobs.RUNNING),
    )
    at = open_app(debug_store, monkeypatch, "run")
    assert at.dataframe[0].value.shape[0] == len(RunStore(debug_store).finished_runs())
    last = RunStore(debug_store).run_ids()[-1]
    next(s for s in at.main.selectbox if s.label == "Show the config of run").set_value(last).run()
    assert json.loads(at.json[0].proto.body)["run_id"] == last
    main = at.main
    scenario = next(s for s in main.selectbox if s.label == "Scenario")
    scenario.set_value("tweets-airline-to-apple").run()
    assert next(s for s in at.main.selectbox if s.label == "Adaptation").value == "head"
    main = at.main
    next(s for s in main.selectbox if s.label == "Scenario").set_value("debug").run()
    main = at.main
    assert next(s for s in main.selectbox if s.label == "Adaptation").value == "full"
    next(m for m in main.multiselect if m.label == "Selectors").set_value(["random", "forge"])
    next(m for m in main.multiselect if m.label.startswith("Budgets")).set_value([0.1])
    next(m for m in main.multiselect if m.label == "Seeds").set_value([3])
    next(s for s in main.selectbox if s.label == "Device").set_value("cpu")
    next(b for b in main.button if b.label == "Launch").click().run()
    assert calls == [
        (
            "debug",
            ["random", "forge"],
            [0.1],
            [3],
            {"device": "cpu", "umap": True, "adaptation": "full", "ray_address": None},
        )
    ]
    assert "Started job j-test: 2 runs" in at.success[0].value
    assert "--scenario debug --methods random,forge" in at.code[0].value
    assert "--adaptation full" in at.code[0].value
    next(s for s in at.main.selectbox if s.label == "Adaptation").set_value("head")
    next(b for b in at.main.button if b.label == "Launch").click().run()
    assert calls[-1][-1]["adaptation"] == "head"
    next(t for t in at.main.text_input if t.label.startswith("Ray cluster")).input("auto")
    next(b for b in at.main.button if b.label == "Launch").click().run()
    assert calls[-1][-1]["ray_address"] == "auto"
    assert "--executor ray --address auto" in at.code[0].value
    # the expected duration before Launch comes from the one estimator, on this store's runs
    from dashboard import clock

    request = {"scenario": "debug", "methods": ["random", "forge"], "budgets": [0.1]}
    planned = clock.plan(
        str(debug_store),
        RunStore(debug_store).finished_runs(),
        {**request, "seeds": [3], "adaptation": "head"},
    )
    assert f"Expected duration: {clock.describe(planned)}" in " ".join(
        unescape_markdown(c.value) for c in at.main.caption
    )
    # a selector of one's own by its import path goes through as typed; a bare typo does not
    selectors = next(m for m in at.main.multiselect if m.label == "Selectors")
    selectors.set_value(["random", "my_pkg.picks:TypiClust"]).run()
    next(b for b in at.main.button if b.label == "Launch").click().run()
    assert calls[-1][1] == ["random", "my_pkg.picks:TypiClust"]
    next(m for m in at.main.multiselect if m.label == "Selectors").set_value(["forj"]).run()
    assert next(b for b in at.main.button if b.label == "Launch").disabled
    assert any("Not a selector" in w.value for w in at.main.warning)


def _store_table(root: Path, name: str, **equal) -> pd.DataFrame:
    """A table of the runs matching ``equal``, stacked in the dashboard's run order."""
    store = RunStore(root)
    runs = store.finished_runs()
    for column, value in equal.items():
        runs = (
            runs[np.isclose(runs[column], value)]
            if column == "budget"
            else runs[runs[column] == value]
        )
    frames = []
    for row in runs.sort_values(["seed"]).itertuples():
        table = store.load_table(row.run_id, name)
        if name == "samples":  # the pool's tangent norms, joined as the dashboard reads them
            table = with_tangent_norms(store, store.load_config(row.run_id)["pool_id"], table)
        frames.append(table.assign(method=row.method, seed=row.seed))
    return pd.concat(frames, ignore_index=True)


def test_gap_page_draws_figure_5_with_scipy_correlations(
    debug_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = open_app(debug_store, monkeypatch, "gap")
    assert at.main.selectbox[0].value == "badge"
    figure = charts(at)[0]
    scatters = [t for t in figure["data"] if "customdata" in t]
    assert len(scatters) == 3
    pairs = _store_table(debug_store, "pairs", method="badge", budget=DEBUG_BUDGETS[0])
    titles = [a["text"] for a in figure["layout"]["annotations"]]
    for title, (space, x) in zip(
        titles, [("badge", "distance"), ("badge", "gamma"), ("forge", "distance")], strict=True
    ):
        part = pairs[pairs["space"] == space]
        expected = (sps.pearsonr(part[x], part["gap"])[0], sps.spearmanr(part[x], part["gap"])[0])
        assert shown_coefficients(title) == pytest.approx(expected, abs=0.005)
        per_seed = [sps.spearmanr(g[x], g["gap"])[0] for _, g in part.groupby("seed")]
        assert "ρ by seed " + " ".join(f"{v:+.2f}" for v in per_seed) + "<br>mean" in title
    assert f"{len(pairs) // 3} pairs per space" in texts(at)
    # points carry their row in the stacked pairs table: (a) holds exactly the BADGE rows,
    # and the hover data names the sample, its seed, its nearest pick, class and prediction
    data = decode(scatters[0]["customdata"])  # one integer typed array, not Python lists
    assert isinstance(scatters[0]["customdata"], dict) and data.dtype == np.int32
    keys = data[:, 0]
    np.testing.assert_allclose(
        decode(scatters[0]["y"]), pairs["gap"].to_numpy()[keys], rtol=1e-6, atol=1e-7
    )
    expected = pairs.loc[keys, ["idx", "seed", "nn_idx", "label", "pseudo"]].to_numpy()
    np.testing.assert_array_equal(data[:, 1:], expected)
    assert "x′ #%{customdata[1]} · seed %{customdata[2]}" in scatters[0]["hovertemplate"]
    assert "class %{customdata[4]}, predicted %{customdata[5]}" in scatters[0]["hovertemplate"]
    # panel (b) is coloured by the BADGE distance, not by its own x axis (gamma)
    assert scatters[1]["marker"]["coloraxis"] == "coloraxis2"
    cards = at.get("image")  # the six largest gaps: one image element a card, both thumbnails
    captions = [[img.caption for img in card.proto.imgs] for card in cards]
    assert len(captions) == 6 and all(len(pair) == 2 for pair in captions)
    assert all(a.startswith("x′ #") and b.endswith("(selected)") for a, b in captions)
    at.main.radio[0].set_value("forge").run()
    assert "largest gaps in FORGE space" in texts(at)
    next(t for t in at.main.toggle if t.label.startswith("Add the CORESET")).set_value(True).run()
    assert sum("customdata" in t for t in charts(at)[0]["data"]) == 4
    next(t for t in at.main.toggle if t.label.startswith("Log")).set_value(True).run()
    assert charts(at)[0]["layout"]["yaxis"]["type"] == "log"
    assert charts(at)[0]["layout"]["yaxis"]["exponentformat"] == "power"  # never "100µ"
    versus = next(s for s in at.main.selectbox if s.label.startswith("Side by side"))
    versus.set_value("random").run()
    figure = charts(at)[0]
    titles = [a["text"] for a in figure["layout"]["annotations"]]
    assert sum("customdata" in t for t in figure["data"]) == 8  # two rows of four panels
    assert titles[0].startswith("<b>badge: (a)") and titles[4].startswith("<b>random: (a)")
    assert figure["layout"]["yaxis"]["matches"] == "y5"  # one gap axis for both rows
    versus.set_value("— none —").run()
    at.main.selectbox[0].set_value("forge").run()
    forge_pairs = _store_table(debug_store, "pairs", method="forge", budget=DEBUG_BUDGETS[0])
    part = forge_pairs[forge_pairs["space"] == "badge"]
    title = charts(at)[0]["layout"]["annotations"][0]["text"]
    assert shown_coefficients(title)[1] == pytest.approx(
        sps.spearmanr(part["distance"], part["gap"])[0], abs=0.005
    )


def test_projection_page_overlays_each_selectors_picks(
    debug_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = open_app(debug_store, monkeypatch, "projection")
    figure = charts(at)[0]
    titles = [a["text"] for a in figure["layout"]["annotations"]]
    assert [t.split("</b>")[0].removeprefix("<b>") for t in titles] == list(DEBUG_METHODS)
    picks = _store_table(debug_store, "selection", budget=DEBUG_BUDGETS[0], seed=DEBUG_SEEDS[0])
    for axis, method in zip(("x", "x2", "x3"), DEBUG_METHODS, strict=True):
        shown = {
            int(row[0])
            for t in figure["data"]
            if t.get("customdata") is not None and t.get("xaxis", "x") == axis
            for row in t["customdata"]
        }
        assert shown == set(picks[picks["method"] == method]["idx"])
    assert "coloraxis" in figure["layout"]  # gamma colouring by default
    assert len(at.get("image")) == 8  # first picks shown until a selection is made
    colour = next(r for r in at.main.radio if r.label == "Colour by")
    colour.set_value("correctness").run()
    # each pick is drawn once, under the name its pool correctness gives
    pool = RunStore(debug_store).load_pool(RunStore(debug_store).finished_runs()["pool_id"][0])
    correct = dict(zip(pool["idx"].tolist(), pool["correct"].tolist(), strict=True))
    shown = [
        (int(row[0]), t["name"] == "correct under θ₀")
        for t in charts(at)[0]["data"]
        if t.get("name") in ("correct under θ₀", "misclassified")
        and t.get("customdata") is not None
        for row in t["customdata"]
    ]  # picks carry [pool idx, hover fields...]
    assert sorted(i for i, _ in shown) == sorted(picks["idx"])
    assert all(correct[i] == is_correct for i, is_correct in shown)
    next(m for m in at.main.multiselect if m.label.startswith("Selectors")).set_value(
        ["forge"]
    ).run()
    assert len(charts(at)[0]["layout"]["annotations"]) == 1
    next(r for r in at.main.radio if r.label == "UMAP of").set_value("z").run()
    assert not at.exception
    assert "features z" in charts(at)[0]["layout"]["title"]["text"]


def test_accuracy_page_tables_match_core_reports(
    debug_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from core.analysis.reports import accuracy_long, accuracy_summary

    at = open_app(debug_store, monkeypatch, "accuracy")
    # the model and data named are those of the runs' configs, not a fixed description
    captions = [unescape_markdown(c.value) for c in at.caption]
    named = next(c for c in captions if c.startswith("Model:"))
    config = RunStore(debug_store).load_config(RunStore(debug_store).run_ids()[0])
    assert config["config"]["hparams"]["arch"] in named and "scenario debug" in named
    long = accuracy_long(RunStore(debug_store))
    table = (
        at.markdown[0].value
        if "| selector |" in at.markdown[0].value
        else next(m.value for m in at.markdown if "| selector |" in m.value)
    )
    assert "**" in table
    for split in ("test", "val"):
        if split == "val":
            at.main.selectbox[0].set_value("val").run()
            table = next(m.value for m in at.markdown if "| selector |" in m.value)
        summary = accuracy_summary(long, split=split)
        for row in summary.itertuples():
            assert f"{100 * row.mean:.2f} ± {100 * row.std:.2f}" in table
    labels = [b.proto.label for b in at.get("download_button")]
    assert labels == [
        f"{what} ({kind})"
        for what in ("this table, in %", "per-seed rows, in %", "the decomposition, in %")
        for kind in ("CSV", "parquet")
    ]
    assert "not the paper's setting" in at.expander[0].proto.label
    assert len(charts(at)) == 2
    decomposition = next(m.value for m in at.markdown if "selected train" in m.value)
    assert decomposition.count("\n") == 1 + len(DEBUG_METHODS)


def test_accuracy_page_reads_each_runs_accuracy_once(
    debug_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The summary and the decomposition share one read of the runs' accuracy tables (they
    read them twice before: 0.5 s of a first visit at 48 runs), and a split change reads
    nothing again."""
    from dashboard import loaders

    for cached in (loaders.accuracy_long_table, loaders.accuracy_tables):
        cached.clear()
    loaders.decomposition_table.clear()
    reads: list[str] = []
    original = RunStore.load_table

    def counted(self, run_id, name, columns=None):
        if name == "accuracy":
            reads.append(run_id)
        return original(self, run_id, name, columns)

    monkeypatch.setattr(RunStore, "load_table", counted)
    at = open_app(debug_store, monkeypatch, "accuracy")
    assert reads and len(reads) == len(set(reads)), reads
    at.main.selectbox[0].set_value("val").run()
    assert not at.exception
    assert len(reads) == len(set(reads))


def test_compare_page_overlap_matches_python_sets(
    debug_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = open_app(debug_store, monkeypatch, "compare")
    jaccard, histogram, coverage = charts(at)
    z = decode(jaccard["data"][0]["z"])
    picks = _store_table(debug_store, "selection", budget=DEBUG_BUDGETS[0])
    for i, a in enumerate(DEBUG_METHODS):
        for j, b in enumerate(DEBUG_METHODS):
            scores = []
            for seed in DEBUG_SEEDS:
                sa = set(picks[(picks.method == a) & (picks.seed == seed)].idx)
                sb = set(picks[(picks.method == b) & (picks.seed == seed)].idx)
                scores.append(len(sa & sb) / len(sa | sb))
            assert z[i, j] == pytest.approx(np.mean(scores))
    assert [t["name"] for t in histogram["data"]] == [*DEBUG_METHODS, "pool"]
    pairs = _store_table(debug_store, "pairs", budget=DEBUG_BUDGETS[0])
    for space in ("forge", "badge"):
        if space == "badge":
            at.main.radio[0].set_value("badge").run()
            coverage = charts(at)[2]
        z = decode(coverage["data"][0]["z"])
        classes = [int(c) for c in coverage["data"][0]["x"]]
        for i, method in enumerate(DEBUG_METHODS):
            part = pairs[(pairs.space == space) & (pairs.method == method)]
            for j, label in enumerate(classes):
                per_seed = [
                    (g.label == g.nn_label).mean()
                    for _, g in part[part.label == label].groupby("seed")
                ]
                assert z[i, j] == pytest.approx(np.mean(per_seed))


def test_sidebar_filters_what_pages_show(
    debug_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = open_app(debug_store, monkeypatch, "gap")
    assert not [r for r in at.sidebar.radio if r.label == "Adaptation"]  # one mode only
    methods = next(m for m in at.sidebar.multiselect if m.label == "Selectors")
    methods.set_value(["forge"]).run()
    assert at.main.selectbox[0].options == ["forge"]
    seeds = next(m for m in at.sidebar.multiselect if m.label == "Seeds")
    seeds.set_value([DEBUG_SEEDS[1]]).run()
    assert f"seeds {DEBUG_SEEDS[1]} ·" in texts(at)
    seeds.set_value([]).run()
    assert "No runs match the sidebar" in at.info[0].value
    assert not chart_specs(at)


def test_sidebar_never_mixes_adaptation_modes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Head and full runs of one scenario: the pages show one mode, the default one first."""
    from core.analysis.reports import accuracy_long, accuracy_summary

    store = write_synthetic_store(
        tmp_path / "modes",
        n=200,
        methods=("random", "forge"),
        budgets=(0.1,),
        seeds=(0, 1),
        adaptations=("full", "head"),
    )
    runs = store.finished_runs()
    at = open_app(tmp_path / "modes", monkeypatch, "accuracy")
    mode = next(r for r in at.sidebar.radio if r.label == "Adaptation")
    assert mode.value == "full"  # core.base.hparams.default_adaptation of an unlisted scenario
    for adaptation in ("full", "head"):
        if adaptation == "head":
            mode.set_value("head").run()
        ids = list(runs.loc[runs["adaptation"] == adaptation, "run_id"])
        summary = accuracy_summary(accuracy_long(store, ids), split="test")
        table = next(m.value for m in at.markdown if "| selector |" in m.value)
        for row in summary.itertuples():
            assert f"{100 * row.mean:.2f} ± {100 * row.std:.2f}" in table
        assert f"{len(ids)} run(s) selected of {len(ids)}" in texts(at)
        assert f"({adaptation} adaptation)" in texts(at)


def test_theory_page_shows_the_numbers_of_core_theory_table(
    debug_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from core.analysis.reports import theory_table

    at = open_app(debug_store, monkeypatch, "theory")
    assert "full adaptation, CE loss" in texts(at)  # the debug store's regime, named
    bound, holds, proxy, proposition = charts(at)
    theory = theory_table(RunStore(debug_store))
    part = theory[(theory.space == "badge") & (theory.budget == DEBUG_BUDGETS[0])]
    bars = {t["name"]: dict(zip(t["x"], decode(t["y"]), strict=True)) for t in holds["data"]}
    for method, group in part.groupby("method"):
        assert bars["whole bound"][method] == pytest.approx(
            100 * group["bound_holds_fraction"].mean()
        )
        assert bars["first-order term alone"][method] == pytest.approx(
            100 * group["first_order_holds_fraction"].mean()
        )
    pairs = _store_table(debug_store, "pairs", method="forge", budget=DEBUG_BUDGETS[0])
    pairs = pairs[(pairs.space == "badge") & (pairs.seed == DEBUG_SEEDS[0])]
    fails = int((pairs.signed_gap > pairs.first_order).sum())
    assert (
        f"above the line: {fails} of {len(pairs)} pairs"
        in bound["layout"]["annotations"][0]["text"]
    )
    for axis in ("xaxis", "xaxis2", "yaxis", "yaxis2"):  # log axes read 10^-4, never "100µ"
        assert bound["layout"][axis]["type"] == "log"
        assert bound["layout"][axis]["exponentformat"] == "power"
    samples = _store_table(debug_store, "samples", method="forge", budget=DEBUG_BUDGETS[0])
    samples = samples[samples.seed == DEBUG_SEEDS[0]]
    rho = sps.spearmanr(samples.znorm, samples.tangent_norm_full)[0]
    assert f"Spearman ρ = {rho:.2f}" in proxy["layout"]["title"]["text"]
    names = [t["name"] for t in proposition["data"]]
    assert names[:3] == [
        "(1) weighted training loss reduction",
        "(2) − (N − |s|)/N · max gap",
        "(3) generalisation gap",
    ]
    assert not at.dataframe  # the numbers' data grid: only once its expander is opened
    at.session_state["theory_numbers_open"] = True
    at.run()
    [numbers] = at.dataframe
    assert len(numbers.value) == len(theory)


def test_theory_page_explains_a_run_recorded_before_the_theorem_terms(
    debug_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run whose pairs lack Theorem 4's terms gets a sentence, not a traceback (the page
    checks the chosen run's pairs before it draws them)."""
    from dashboard import loaders

    real = loaders.run_table

    def without_terms(root: str, run_ids: tuple[str, ...], name: str) -> pd.DataFrame:
        table = real(root, run_ids, name)
        terms = ["signed_gap", "first_order", "second_order", "bound"]
        return table.drop(columns=terms) if name == "pairs" else table

    monkeypatch.setattr(loaders, "run_table", without_terms)
    at = open_app(debug_store, monkeypatch, "theory")
    assert "recorded before the theorem's terms were stored" in texts(at)
    assert not charts(at)


def test_sidebar_lets_the_user_pick_one_setting_never_mixing_two(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from core.base.hparams import hparams_for
    from core.run.sweep import run_sweep

    root = tmp_path / "mixed"
    for lr in (0.01, 0.05):
        run_sweep(
            "debug",
            ["random", "forge"],
            [0.1],
            [0, 1],
            root=str(root),
            device="cpu",
            adaptation="head",
            hparams=hparams_for("debug", adapt_lr=lr),
        )
    at = open_app(root, monkeypatch, "accuracy")
    setting = next(s for s in at.sidebar.selectbox if s.label == "Setting")
    assert len(setting.options) == 2
    assert "4 run(s) selected of 4" in texts(at)
    assert "(n=2)" in next(m.value for m in at.markdown if "| selector |" in m.value)
    setting.set_value(setting.options[1]).run()
    assert not at.exception and "4 run(s) selected of 4" in texts(at)
    assert all(len(label) < 80 for label in setting.options)  # a few words, not 600 characters
    theory = open_app(root, monkeypatch, "theory")  # the Theory page respects the setting too
    assert len(next(s for s in theory.sidebar.selectbox if s.label == "Setting").options) == 2
    theory.session_state["theory_numbers_open"] = True
    theory.run()
    [numbers] = theory.dataframe
    assert len(numbers.value) == 4 * 3  # one setting's 4 runs x 3 spaces, never both settings


def test_pages_open_on_the_newest_scenario_and_follow_the_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A link's query parameters choose selector, budget and seeds; without a link the sidebar
    opens on the scenario with the newest finished run (not the first by name)."""
    from benchmarks.synthetic_store import write_synthetic_store
    from dashboard.widgets import scenarios_newest_first

    runs = pd.DataFrame(
        {
            "scenario": ["a-old", "a-old", "debug", "b-new"],
            "created": ["2026-01-01", "2026-03-01", "2026-02-01", "2026-04-01"],
        }
    )
    assert scenarios_newest_first(runs) == ["b-new", "a-old", "debug"]
    write_synthetic_store(
        tmp_path, n=60, methods=("random", "badge", "forge"), budgets=(0.1, 0.2), seeds=(0, 1)
    )
    monkeypatch.setenv(RUNS_ENV, str(tmp_path))
    linked = AppTest.from_file(APP, default_timeout=TIMEOUT)
    linked.query_params.update({"selector": "forge", "budget": "0.2", "seeds": "1"})
    linked.switch_page("../pages/gap.py").run()
    assert not linked.exception, [e.value for e in linked.exception]
    assert linked.main.selectbox[0].value == "forge"
    assert next(s for s in linked.main.selectbox if s.label == "Budget").value == 0.2
    assert next(m for m in linked.sidebar.multiselect if m.label == "Seeds").value == [1]
    scenario = next(s for s in linked.sidebar.selectbox if s.label == "Scenario").value
    assert linked.query_params["scenario"] == scenario  # always in the link, the newest too
    # toggles and sliders too: a changed view round-trips through its link
    next(t for t in linked.main.toggle if t.label == "Log scale for the gap").set_value(True)
    next(s for s in linked.main.slider if s.label.startswith("Bins")).set_value(20).run()
    link = {k: v if isinstance(v, str) else v[0] for k, v in linked.query_params.items()}
    assert link["log"] == "1" and link["bins"] == "20"
    shared = AppTest.from_file(APP, default_timeout=TIMEOUT)
    shared.query_params.update(link)
    shared.switch_page("../pages/gap.py").run()
    assert next(t for t in shared.main.toggle if t.label == "Log scale for the gap").value
    assert next(s for s in shared.main.slider if s.label.startswith("Bins")).value == 20
    assert shared.main.selectbox[0].value == "forge"
    shared.query_params.update({"selector": "forge", "seed": "1", "space": "forge"})
    shared.switch_page("../pages/theory.py").run()
    assert next(r for r in shared.main.radio if r.label == "Pairs of the space").value == "forge"


def test_gap_and_umap_pages_tell_target_domains_apart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from benchmarks.synthetic_store import write_synthetic_store

    write_synthetic_store(
        tmp_path,
        n=300,
        methods=("random", "badge"),
        budgets=(0.1,),
        seeds=(0,),
        domains=("cartoon", "sketch"),
    )
    at = open_app(tmp_path, monkeypatch, "gap")
    pick = next(s for s in at.selectbox if s.label == "Target domain of x′")
    assert list(pick.options) == ["all", "cartoon", "sketch"]
    assert "270 pairs per space" in texts(at)
    pick.set_value("sketch").run()
    assert not at.exception
    pairs = RunStore(tmp_path).load_table("badge-0.1-0-full", "pairs")
    shown = int((pairs[pairs.space == "badge"].domain == "sketch").sum())
    assert f"{shown} pairs per space" in texts(at) and shown < 270
    at.switch_page("../pages/projection.py").run()
    colour = next(r for r in at.main.radio if r.label == "Colour by")
    assert "domain" in colour.options
    colour.set_value("domain").run()
    assert not at.exception
    names = {t.get("name") for t in charts(at)[0]["data"]}
    assert {"cartoon", "sketch"} <= names
    at.switch_page("../pages/compare.py").run()
    assert not at.exception
    assert "Target-domain mix of the picks" in [h.value for h in at.subheader]
    mix = next(c for c in charts(at) if c["layout"]["xaxis"]["title"]["text"] == "target domain")
    pool_share = next(t for t in mix["data"] if t["name"] == "pool")
    assert list(pool_share["x"]) == ["cartoon", "sketch"]  # round robin: half each
    np.testing.assert_allclose(decode(pool_share["y"]), [50.0, 50.0])


def test_open_pages_keep_up_with_new_runs_and_running_sweeps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sidebar filter the user did not narrow grows with new seeds; a narrowed one stays;
    an analysis page says a sweep of its scenario is running and how far it is."""
    write_synthetic_store(tmp_path, n=60, methods=("random", "forge"), budgets=(0.1,), seeds=(0,))
    at = open_app(tmp_path, monkeypatch, "gap")
    seeds = next(m for m in at.sidebar.multiselect if m.label == "Seeds")
    assert seeds.value == [0]
    write_synthetic_store(
        tmp_path, n=60, methods=("random", "forge"), budgets=(0.1,), seeds=(0, 1, 2)
    )
    at.run()
    seeds = next(m for m in at.sidebar.multiselect if m.label == "Seeds")
    assert seeds.value == [0, 1, 2]  # not narrowed: the new seeds join
    seeds.set_value([1]).run()
    write_synthetic_store(
        tmp_path, n=60, methods=("random", "forge"), budgets=(0.1,), seeds=(0, 1, 2, 3)
    )
    at.run()
    assert next(m for m in at.sidebar.multiselect if m.label == "Seeds").value == [1]

    class Running:  # a job of this scenario under way: 1 of 4 runs done
        job_id, state = "j-1", jobs.RUNNING
        request = {"scenario": "synthetic", "methods": ["random"], "budgets": [0.1]}
        request |= {"seeds": [4, 5, 6, 7]}
        events = [
            {"time": 1.0, "stage": "select", "run_index": 0, "n_runs": 4},
            {"time": 3.0, "stage": "done", "run_index": 0, "n_runs": 4},
        ]
        runs_done, n_runs = 1, 4

    monkeypatch.setattr(jobs, "list_jobs", lambda root: [Running()])
    at.run()
    notice = " ".join(unescape_markdown(i.value) for i in at.info)
    assert "A sweep of synthetic is running (job j-1): 1 of 4 runs done" in notice
    assert "left" in notice
