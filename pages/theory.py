"""Theory: the paper's Theorem 4 and Proposition 2 computed on the runs, term by term."""

import streamlit as st

from core.selection.spaces import SPACES
from dashboard import live_chart, loaders, urlstate, widgets
from dashboard.figures import theory as fig

selection = widgets.current_selection()
widgets.page_header(
    "Theory: does the bound hold, and what drives the gap?",
    "Theorem 4 bounds how much more a selected sample x gains from adaptation than its "
    "unselected neighbour x′: r(x) − r(x′) ≤ ‖∇ℓ(x) − ∇ℓ(x′)‖·‖Δθ‖ + 2·max(‖J(x)‖, ‖J(x′)‖)²·"
    "‖Δθ‖². The first term says similar gradients learn alike; the second grows with the "
    "tangent-feature norm ‖J‖ = ‖∇θ f‖ and with how far training moved the weights. Every "
    "number here also comes from `python -m core table --kind theory`.",
)
widgets.require_runs(selection, "theory")
adaptation = selection.adaptation or "full"
loss = str(selection.runs["adapt_loss"].iloc[0]) if "adapt_loss" in selection.runs else "ce"
st.markdown(
    f"**This setting: {adaptation} adaptation, {loss.upper()} loss.** "
    + fig.ASSUMPTIONS.get((adaptation, loss), "")
)

st.subheader("Gap against the two terms of the bound, one run")
left, middle, right, far = st.columns(4)
methods = selection.methods()
method = urlstate.choice(
    left.selectbox,
    "Selector",
    methods,
    key="theory_method",
    name="selector",
    default="forge" if "forge" in methods else methods[0],
)
budgets = selection.budgets(method)
budget = urlstate.choice(
    middle.selectbox,
    "Budget",
    budgets,
    key="theory_budget",
    name="budget",
    default=budgets[0],
    format_func=lambda b: f"{100 * b:g}%",
)
runs = selection.runs
if "source_seed" in runs and runs["source_seed"].nunique() > 1:
    # runs of several source models: a run is a (source seed, selection seed) pair
    pairs = sorted(set(zip(runs["source_seed"], runs["seed"], strict=True)))
    pairs_of_seeds = [f"{source} / {seed}" for source, seed in pairs]
    source_seed, seed = map(
        int,
        urlstate.choice(
            right.selectbox,
            "Source model / seed",
            pairs_of_seeds,
            key="theory_source_seed",
            name="run",
            default=pairs_of_seeds[0],
            help="Each source seed trained its own source model (core run --source-seeds).",
        ).split(" / "),
    )
    one_run = {"source_seed": source_seed, "seed": seed}
else:
    seeds = sorted(runs["seed"].unique())
    one_run = {
        "seed": urlstate.choice(
            right.selectbox, "Seed", seeds, key="theory_seed", name="seed", default=seeds[0]
        )
    }
space = urlstate.choice(
    far.radio,
    "Pairs of the space",
    SPACES,  # the one order of the spaces, everywhere
    key="theory_space",
    name="space",
    default="badge",
    horizontal=True,
    format_func=str.upper,
)
run_ids = selection.run_ids(method=method, budget=budget, **one_run)
if not run_ids:
    st.info("No run with this selector, budget and seed in the sidebar's selection.")
    st.stop()
pairs = loaders.run_table(selection.root, run_ids, "pairs")
if not fig.has_theorem_terms(pairs):
    st.info(
        "This run was recorded before the theorem's terms were stored. Run the sweep "
        "again (e.g. `python -m core run --adaptation head --loss mse`) to see this page."
    )
    st.stop()
live_chart.plotly_chart(fig.bound_figure(pairs[pairs["space"] == space]), key="theory_bound")
st.caption(
    "Each point is one unselected sample x′ with its nearest selected x. Left: a point "
    "above the dashed line is a pair whose gap the first-order (gradient) term alone "
    "does not cover. Right: the second-order term is usually orders of magnitude larger "
    "than any gap, which is why the whole bound almost never fails, and also why it says "
    "little about which pairs have large gaps."
)

# every run's theorem table: after the first chart is on its way, so that on a first visit
# the browser draws that chart while the server computes this (~0.5 s for 48 runs, cold)
every_run = tuple(selection.runs["run_id"])
theory = loaders.theory_table(
    selection.root, every_run, loaders.tangent_stamp(selection.root, every_run)
)
st.subheader("How often the bound holds, per selector")
part = theory[(theory["space"] == space) & ((theory["budget"] - budget).abs() < 1e-9)]
part = part.assign(method=part["method_label"])  # a selector's parameters make it another row
live_chart.plotly_chart(fig.holds_figure(part), key="theory_holds")
st.caption(
    f"Share of pairs (in {space.upper()} space, budget {100 * budget:g}%) where the "
    "whole bound and its first-order term alone hold; bars are the mean over the runs "
    "(seeds and source models), whiskers the lowest and highest run."
)

st.subheader("Is ‖z‖ a good stand-in for the tangent-feature norm?")
samples = loaders.samples_table(
    selection.root, run_ids, loaders.tangent_stamp(selection.root, run_ids)
)
live_chart.plotly_chart(fig.proxy_figure(samples), key="theory_proxy")
st.caption(
    "FORGE rescales by ‖z‖, the last layer's share of ‖∇θ f(x)‖. Here the full norm over "
    "every layer, computed exactly per sample: if the two rank samples alike (Spearman "
    "near 1), the cheap proxy picks the same high-variability samples."
)

st.subheader("Proposition 2: what the expected loss reduction is made of")
live_chart.plotly_chart(fig.proposition2_figure(part), key="theory_proposition2")
st.caption(
    "The mean loss reduction on new target data (diamond) is at least (1) the loss "
    "reduction on the picks, each weighted by 1 + the number of samples it is nearest "
    "to, minus (2) the largest gap times (N − |s|)/N (the factor the proof gives; the "
    "paper prints 1/n), plus (3) the generalisation gap (test minus pool). A selector "
    "does well when (1) is large and (2) is small."
)
numbers = widgets.lazy_expander(
    "The numbers (as `python -m core table --kind theory`)", key="theory_numbers_open"
)
if numbers.open:  # the data grid loads only when asked for
    numbers.dataframe(
        theory.drop(columns=["experiment", "experiment_label", "setting"]),
        hide_index=True,
        width="stretch",
    )
