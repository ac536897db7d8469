"""Figure builders on small synthetic frames that follow the run-store schema."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from core.base.validation import ForgeLensError
from dashboard.figures.accuracy import accuracy_figure, decomposition_figure
from dashboard.figures.compare import class_histogram_figure, coverage_figure, jaccard_figure
from dashboard.figures.gap import GapPanel, figure5_panels, gap_figure
from dashboard.figures.projection import grid_columns, selection_map_figure
from dashboard.figures.teaching import high_picks_figure, teaching_figure
from tests.helpers.figures import shown_coefficients


def synthetic_pairs(n: int = 120, seed: int = 0) -> pd.DataFrame:
    """Pairs of three spaces, with gap growing with FORGE distance and with gamma."""
    rng = np.random.default_rng(seed)
    frames = []
    for space in ("coreset", "badge", "forge"):
        gamma = rng.uniform(1, 5, n)
        distance = rng.uniform(0, 2, n)
        gap = (distance if space == "forge" else 0.2) * gamma + rng.normal(0, 0.1, n) ** 2
        frames.append(
            pd.DataFrame(
                {
                    "space": space,
                    "idx": np.arange(n),
                    "distance": distance,
                    "gap": gap,
                    "gamma": gamma,
                    "seed": 0,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def _axis_titles(fig, axis: str) -> list[str]:
    layout = fig.to_dict()["layout"]
    return [
        layout[k]["title"]["text"]
        for k in sorted(layout)
        if k.startswith(axis) and "title" in layout[k]
    ]


def test_gap_figure_panels_traces_and_correlations_match_scipy() -> None:
    pairs = synthetic_pairs()
    fig = gap_figure(pairs, bins=6)
    scatters = [t for t in fig.data if t.customdata is not None]
    trends = [t for t in fig.data if t.name == "binned mean gap"]
    assert len(scatters) == 3 and len(trends) == 3
    assert all(t.type == "scattergl" for t in scatters)
    assert fig.data.index(trends[0]) > fig.data.index(scatters[0])  # trend drawn on top
    titles = [a.text for a in fig.layout.annotations]
    for panel, title, trace in zip(figure5_panels(), titles, scatters, strict=True):
        part = pairs[pairs["space"] == panel.space]
        pearson = sps.pearsonr(part[panel.x], part["gap"])[0]
        spearman = sps.spearmanr(part[panel.x], part["gap"])[0]
        assert shown_coefficients(title) == pytest.approx((pearson, spearman), abs=0.005)
        np.testing.assert_array_equal(
            np.asarray(trace.customdata)[:, 0].astype(int), part.index.to_numpy()
        )
        np.testing.assert_allclose(trace.x, part[panel.x], rtol=1e-6)  # float32 on the wire
        # colour adds information: gamma, except on the gamma panel (b): the distance
        np.testing.assert_allclose(
            trace.marker.color, part["distance" if panel.x == "gamma" else "gamma"], rtol=1e-6
        )
    assert "BADGE" in titles[0] and "γ" in titles[1] and "FORGE" in titles[2]
    x_titles = _axis_titles(fig, "xaxis")
    assert x_titles[0].endswith("BADGE") and x_titles[1].startswith("γ")
    assert x_titles[2].endswith("FORGE")
    assert _axis_titles(fig, "yaxis")[0].startswith("gap |r(x) − r(x′)|")
    assert fig.layout.coloraxis.cmax == pytest.approx(pairs["gamma"].max())
    assert len(trends[0].x) == 6  # binned mean: one point per bin


@pytest.mark.parametrize("shared", [True, False])
@pytest.mark.parametrize("rows, cols", [(1, 1), (1, 3), (2, 4), (3, 2)])
def test_subplot_grid_is_make_subplots_layout_with_its_axes(
    rows: int, cols: int, shared: bool
) -> None:
    """The gap and UMAP figures are assembled as one dict (plotly's object API cost 0.1-0.2 s
    per build): the grid must be make_subplots' own, titles and shared axes (or none)
    included, and each panel's axis ids the ones make_subplots gives a trace added at that
    row and column."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    from dashboard.figures.style import axis_key, subplot_axes, subplot_grid

    titles = [f"<b>({i})</b><br>r = 0.{i}" for i in range(rows * cols)]
    spacing = {"horizontal_spacing": 0.05, "vertical_spacing": 0.16}
    expected = make_subplots(
        rows=rows,
        cols=cols,
        subplot_titles=titles,
        shared_xaxes="columns" if shared else False,
        shared_yaxes="all" if shared else False,
        **spacing,
    )
    for row in range(1, rows + 1):
        for col in range(1, cols + 1):
            expected.add_trace(go.Scatter(x=[row], y=[col]), row=row, col=col)
    layout = subplot_grid(titles, rows, cols, shared=shared, **spacing)
    reference = expected.layout.to_plotly_json()
    reference.pop("template")
    assert layout == reference
    for trace in expected.data:
        row, col = int(trace.x[0]), int(trace.y[0])
        assert subplot_axes(row, col, cols) == (trace.xaxis, trace.yaxis)
        assert axis_key(trace.xaxis) in layout and axis_key(trace.yaxis) in layout
    layout["annotations"][0]["text"] = "changed"
    again = subplot_grid(titles, rows, cols, shared=shared, **spacing)
    assert again["annotations"][0]["text"] == titles[0]


def test_gap_hovers_name_classes_only_where_names_are_not_the_codes() -> None:
    pairs = synthetic_pairs()
    rng = np.random.default_rng(1)
    pairs = pairs.assign(
        label=rng.integers(0, 3, len(pairs)), pseudo=rng.integers(0, 3, len(pairs))
    )
    codes = gap_figure(pairs, class_names=["0", "1", "2"])
    scatter = next(t for t in codes.data if t.customdata is not None)
    assert scatter.text is None and "class %{customdata[4]}" in scatter.hovertemplate
    assert np.asarray(scatter.customdata).dtype == np.int32
    names = ["class-0", "class-1", "class-2"]
    named = gap_figure(pairs, class_names=names)
    scatter = next(t for t in named.data if t.customdata is not None)
    part = pairs[pairs["space"] == "badge"]
    first = part.iloc[0]
    assert "%{text}" in scatter.hovertemplate
    assert scatter.text[0] == f"class class-{first.label}, predicted class-{first.pseudo}"


def test_gap_figure_optional_coreset_panel_and_input_errors() -> None:
    pairs = synthetic_pairs()
    fig = gap_figure(pairs, figure5_panels(include_coreset=True))
    assert sum(t.customdata is not None for t in fig.data) == 4
    assert gap_figure(pairs, log_y=True).layout.yaxis.type == "log"
    assert "CORESET" in fig.layout.annotations[3].text
    with pytest.raises(ForgeLensError, match="gamma"):
        gap_figure(pairs.drop(columns="gamma"))
    with pytest.raises(ForgeLensError, match="panel.x"):
        gap_figure(pairs, [GapPanel("badge", "loss")])
    empty = gap_figure(pairs.iloc[:0])
    assert "No pairs" in empty.layout.annotations[0].text


def synthetic_points(n: int = 60, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "idx": np.arange(n),
            "x": rng.normal(size=n),
            "y": rng.normal(size=n),
            "label": rng.integers(0, 3, n),
            "correct": rng.random(n) > 0.3,
            "znorm": rng.uniform(1, 4, n),
        }
    )


def _picks(idx: list[int]) -> pd.DataFrame:
    return pd.DataFrame({"idx": idx, "order": np.arange(len(idx))})


@pytest.mark.parametrize("colour_by", ["class", "correctness", "gamma", "pick order"])
def test_selection_map_carries_picks_as_customdata(colour_by: str) -> None:
    points = synthetic_points()
    selections = {"badge": _picks([3, 1, 4, 15]), "forge": _picks([9, 2, 6, 5])}
    fig = selection_map_figure(points, selections, colour_by=colour_by, class_names=["a", "b", "c"])
    assert [a.text.split("</b>")[0] for a in fig.layout.annotations] == ["<b>badge", "<b>forge"]
    picked = [t for t in fig.data if t.customdata is not None]
    by_axis: dict[str, set[int]] = {}
    for trace in picked:
        by_axis.setdefault(trace.xaxis, set()).update(int(row[0]) for row in trace.customdata)
    assert by_axis == {"x": {3, 1, 4, 15}, "x2": {9, 2, 6, 5}}
    rings = [t for t in fig.data if t.name == "picks (black ring)"]
    assert [t.showlegend for t in rings] == [True, False]  # one legend entry for every panel
    np.testing.assert_allclose(
        sorted(rings[0].x), sorted(points.set_index("idx").loc[[3, 1, 4, 15], "x"])
    )
    background = [t for t in fig.data if t.customdata is None and t.name != rings[0].name]
    for axis in ("x", "x2"):  # the whole pool is drawn under each panel
        assert sum(len(t.x) for t in background if t.xaxis == axis) == len(points)
    if colour_by in ("gamma", "pick order"):
        assert fig.layout.coloraxis.colorscale is not None
    if colour_by == "pick order":
        assert fig.layout.coloraxis.cmax == 4
        trace = next(t for t in picked if t.xaxis == "x")
        np.testing.assert_array_equal(trace.marker.color, [1, 2, 3, 4])
    if colour_by == "class":
        assert {t.name for t in picked} <= {"0: a", "1: b", "2: c"}


@pytest.mark.parametrize("colour_by", ["class", "correctness", "domain"])
def test_selection_map_draws_each_pool_point_once_in_its_category_colour(colour_by: str) -> None:
    """Under every panel, the pool is one faint trace per category: each point must be drawn
    exactly once there, in its category's colour (float32 coordinates, as sent)."""
    from dashboard.figures.style import class_color

    points = synthetic_points(90).assign(domain=["sketch", "art", "cartoon"] * 30)
    fig = selection_map_figure(points, {"a": _picks([1, 2]), "b": _picks([3])}, colour_by=colour_by)
    if colour_by == "class":
        colour = [class_color(label) for label in points["label"]]
    elif colour_by == "correctness":
        colour = ["#1f77b4" if ok else "#d62728" for ok in points["correct"]]
    else:  # domains in name order
        order = sorted(set(points["domain"]))
        colour = [class_color(order.index(d)) for d in points["domain"]]
    expected = sorted(zip(points["x"].astype(np.float32), colour, strict=True))
    for axis in ("x", "x2"):
        drawn = [
            (x, t.marker.color)
            for t in fig.data
            if t.xaxis == axis and t.hoverinfo == "skip" and t.marker.size == 4
            for x in t.x
        ]
        assert sorted(drawn) == expected


def test_selection_map_colours_each_target_domain_and_escapes_its_name() -> None:
    points = synthetic_points().assign(domain=["sketch", "<b>art</b>", "cartoon"] * 20)
    picks = [3, 1, 4, 15, 9]
    fig = selection_map_figure(points, {"forge": _picks(picks)}, colour_by="domain")
    picked = {
        t.name: {int(row[0]) for row in t.customdata} for t in fig.data if t.customdata is not None
    }
    domain = points.set_index("idx")["domain"]
    expected = {}
    for i in picks:
        name = domain[i].replace("<", "&lt;").replace(">", "&gt;")  # file text never as HTML
        expected.setdefault(name, set()).add(i)
    assert picked == expected
    background = [t for t in fig.data if t.customdata is None and t.name != "picks (black ring)"]
    assert sum(len(t.x) for t in background) == len(points)
    with pytest.raises(ForgeLensError, match="domain"):
        selection_map_figure(synthetic_points(), {"forge": _picks(picks)}, colour_by="domain")


def test_selection_map_errors_and_grid() -> None:
    with pytest.raises(ForgeLensError, match="colour_by"):
        selection_map_figure(synthetic_points(), {"a": _picks([1])}, colour_by="loss")
    with pytest.raises(ForgeLensError, match="znorm"):
        selection_map_figure(synthetic_points().drop(columns="znorm"), {"a": _picks([1])})
    assert "Nothing" in selection_map_figure(synthetic_points(), {}).layout.annotations[0].text
    assert [grid_columns(n) for n in (1, 2, 3, 4, 5, 9)] == [1, 2, 3, 2, 3, 3]


def synthetic_summary() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "method": ["random", "random", "forge", "forge"],
            "budget": [0.05, 0.1, 0.05, 0.1],
            "mean": [0.70, 0.75, 0.72, 0.74],
            "std": [0.01, 0.02, 0.0, np.nan],
            "n_seeds": [3, 3, 3, 1],
            "diff_to_random": [0.0, 0.0, 0.02, -0.01],
        }
    )


def test_accuracy_figure_one_series_per_budget_in_percent() -> None:
    fig = accuracy_figure(synthetic_summary(), before=0.6)
    assert [t.name for t in fig.data] == ["budget 5%", "budget 10%"]
    assert list(fig.data[1].x) == ["random", "forge"]
    np.testing.assert_allclose(fig.data[1].y, [75, 74])
    np.testing.assert_allclose(fig.data[1].error_y.array, [2, 0])  # NaN std drawn as 0
    assert fig.layout.xaxis.title.text == "selector"
    assert "accuracy" in fig.layout.yaxis.title.text
    assert fig.layout.shapes[0].y0 == pytest.approx(60)  # source model before adaptation
    assert not accuracy_figure(synthetic_summary()).layout.shapes
    with pytest.raises(ForgeLensError, match="std"):
        accuracy_figure(synthetic_summary().drop(columns="std"))


def test_decomposition_figure_bars_in_split_order() -> None:
    decomp = pd.DataFrame(
        {
            "method": ["forge"] * 4,
            "budget": 0.05,
            "split": ["test", "val", "selected_train", "unselected_train"],
            "mean": [0.7, 0.71, 0.99, 0.72],
            "std": [0.01] * 4,
        }
    )
    fig = decomposition_figure(decomp)
    assert list(fig.data[0].x) == ["selected train", "unselected train", "validation", "test"]
    np.testing.assert_allclose(fig.data[0].y, [99, 72, 71, 70])


def test_compare_figures() -> None:
    matrix = pd.DataFrame([[1.0, 0.25], [0.25, 1.0]], index=["a", "b"], columns=["a", "b"])
    heat = jaccard_figure(matrix)
    np.testing.assert_allclose(heat.data[0].z, matrix.to_numpy())
    assert heat.data[0].zmax == 1.0
    histogram = pd.DataFrame(
        {
            "method": ["pool", "pool", "a", "a"],
            "label": [0, 1, 0, 1],
            "fraction": [0.4, 0.6, 0.1, 0.9],
        }
    )
    bars = class_histogram_figure(histogram, ["cat", "dog"])
    assert [t.name for t in bars.data] == ["a", "pool"]
    assert list(bars.data[0].x) == ["cat", "dog"]
    np.testing.assert_allclose(bars.data[1].y, [40, 60])
    coverage = pd.DataFrame(
        {"method": ["a", "a", "b"], "label": [0, 1, 0], "coverage": [0.5, 1.0, 0.25]}
    )
    cov = coverage_figure(coverage, ["cat", "dog"])
    np.testing.assert_allclose(cov.data[0].z, [[0.5, 1.0], [0.25, np.nan]])
    assert list(cov.data[0].x) == ["cat", "dog"]


def _teaching_inputs(n: int = 30, k_max: int = 6):
    rng = np.random.default_rng(0)
    planes, walks = {}, {}
    for space in ("badge", "forge"):
        planes[space] = pd.DataFrame(
            {
                "idx": np.arange(n),
                "u": rng.normal(size=n),
                "v": rng.normal(size=n),
                "znorm": rng.uniform(1, 3, n),
                "high": np.arange(n) >= 20,
            }
        )
        walks[space] = pd.DataFrame(
            {
                "step": np.arange(1, k_max + 1),
                "idx": rng.choice(n, k_max, replace=False),
                "radius": np.linspace(2, 0.5, k_max),
                "high": rng.random(k_max) > 0.5,
            }
        )
    return planes, walks


def test_teaching_figure_numbers_picks_and_draws_coverage_circles() -> None:
    planes, walks = _teaching_inputs()
    k = 4
    fig = teaching_figure(planes, walks, k)
    circles = [s for s in fig.layout.shapes if s.type == "circle"]
    assert len(circles) == 2 * k
    radius = walks["badge"]["radius"].iloc[k - 1]
    first = next(s for s in circles if s.xref == "x")
    assert first.x1 - first.x0 == pytest.approx(2 * radius)
    picks = [t for t in fig.data if t.name == "picks (newest numbered)"]
    assert [list(t.text) for t in picks] == [["1", "2", "3", "4"]] * 2
    # the legend shows what the markers are: one entry per pool symbol, drawn with that symbol
    pool = {
        t.name: t.marker.symbol for t in fig.data if t.showlegend and "variability sample" in t.name
    }
    assert pool == {
        "low-variability sample (circle)": "circle",
        "high-variability sample (diamond)": "diamond",
    }
    nxt = [t for t in fig.data if t.name and t.name.startswith("next pick")]
    chosen = planes["forge"].set_index("idx").loc[walks["forge"]["idx"].iloc[k]]
    assert nxt[1].x[0] == pytest.approx(chosen["u"])
    highs = int(walks["forge"]["high"].iloc[:k].sum())
    assert f"{highs} high-variability" in fig.layout.annotations[1].text
    assert fig.layout.yaxis.scaleanchor == "x"  # circles stay round
    last = teaching_figure(planes, walks, 6)
    assert not [t for t in last.data if t.name and t.name.startswith("next pick")]
    labels = next(t for t in last.data if t.name == "picks (newest numbered)").text
    assert [t for t in labels if t] == [str(s) for s in range(max(1, 6 - 7), 7)]
    with pytest.raises(ForgeLensError, match="k="):
        teaching_figure(planes, walks, 7)


def test_high_picks_figure_counts_cumulatively() -> None:
    _, walks = _teaching_inputs()
    fig = high_picks_figure(walks, 3)
    np.testing.assert_array_equal(fig.data[0].y, walks["badge"]["high"].cumsum())
    assert [t.name for t in fig.data] == ["BADGE", "FORGE"]


def test_figures_do_not_mislead() -> None:
    """Bars of a percentage start at 0; an axis of equal values is not stretched around them;
    an empty section is a sentence, not a frame."""
    from dashboard.figures.style import empty_figure, empty_message, flat_range
    from dashboard.figures.theory import holds_figure

    theory = pd.DataFrame(
        {
            "method": ["random", "forge"],
            "bound_holds_fraction": [0.99, 0.98],
            "first_order_holds_fraction": [0.91, 0.95],
        }
    )
    assert holds_figure(theory).layout.yaxis.range[0] == 0
    equal = pd.DataFrame(
        {"method": ["random", "forge"], "budget": [0.1, 0.1], "mean": [0.42, 0.42], "std": 0.0}
    )
    assert list(accuracy_figure(equal).layout.yaxis.range) == [0.0, 100.5]
    assert accuracy_figure(equal.assign(mean=[0.42, 0.45])).layout.yaxis.range is None
    assert flat_range([3.0, 3.0]) == [0.0, 6.0] and flat_range([-2.0]) == [-4.0, 0.0]
    assert flat_range([0.0, 0.0, np.nan]) == [-1.0, 1.0] and flat_range([1.0, 2.0]) is None
    assert empty_message(empty_figure("No pairs yet.")) == "No pairs yet."
    assert empty_message(accuracy_figure(equal)) is None
