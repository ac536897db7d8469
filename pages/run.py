"""Run: launch a sweep in the background, follow its progress, browse finished runs."""

import importlib

import streamlit as st

from core.base.device import DEVICE_CHOICES
from core.base.hparams import ADAPTATION_MODES
from core.selection import available as selectors
from core.selection import is_spec
from core.selection.registry import discover_entry_points
from dashboard import access, clock, health, jobs, loaders, run_views, scenario_form, widgets
from dashboard.text import escape_markdown

BUDGET_CHOICES = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3)
SEED_CHOICES = tuple(range(10))

selection = widgets.current_selection()
root = selection.root
widgets.page_header(
    "Run a sweep",
    "Every (selector, budget, seed) is one run: select once, fine-tune, record losses and gaps. "
    "The sweep runs in a separate process (`python -m core run`), so it keeps going when you "
    "switch pages or reload; finished runs are reused, never recomputed.",
)
defaults = jobs.default_request()
operator = access.operator_gate()
# your own data (a folder or text files, saved in the store): reads server paths, so operators only
saved = scenario_form.render(root) if operator else None
names = scenario_form.scenario_names(root)
left, right = st.columns(2)
scenario = left.selectbox(
    "Scenario",
    names,
    index=names.index(saved if saved in names else defaults["scenario"]),
    help="Source → target data shift (python -m core list).",
)
modes = list(ADAPTATION_MODES)
right.caption(
    f"Default adaptation of {escape_markdown(scenario)}: "
    f"**{loaders.default_adaptation(root, scenario)}**. Runs of "
    "each mode are kept apart; the sidebar shows one mode at a time."
)
# plain widgets, not a form: the expected duration below follows every choice before Launch
left, middle, right = st.columns(3)
adaptation = left.selectbox(
    "Adaptation",
    modes,
    index=modes.index(loaders.default_adaptation(root, scenario)),
    key=f"run_adaptation::{scenario}",
    format_func=widgets.ADAPTATION_TITLES.get,
    help="full: fine-tune the whole model (the paper's setting; slow on a pretrained "
    "backbone). head: train only the last linear layer on cached backbone features.",
)
cuda = loaders.cuda_available()
device = middle.selectbox(
    "Device",
    DEVICE_CHOICES,
    help="auto uses CUDA when present. "
    + ("CUDA is available here." if cuda else "No CUDA device here: auto means CPU."),
)
importlib.invalidate_caches()  # a package installed since the server started is importable
discover_entry_points(force=True)  # and its forgelens.selectors entry points listed (~10 ms)
methods = st.multiselect(
    "Selectors",
    selectors(),
    default=defaults["methods"],
    accept_new_options=True,
    help="Built-ins and installed plugins; or type package.module:ClassName of your own "
    "Selector subclass (importable by the server) and press Enter.",
)
unknown = [m for m in methods if m not in selectors() and not is_spec(m)]
left, right = st.columns(2)
budgets = left.multiselect(
    "Budgets (fraction of the target pool)",
    BUDGET_CHOICES,
    default=[b for b in defaults["budgets"] if b in BUDGET_CHOICES],
    format_func=lambda b: f"{100 * b:g}%",
)
seeds = right.multiselect("Seeds", SEED_CHOICES, default=defaults["seeds"])
umap = st.checkbox(
    "Precompute the UMAP views after the sweep",
    value=True,
    help="Otherwise the Selections page computes them on first use.",
)
ray_address = (
    st.text_input(
        "Ray cluster address (optional)",
        placeholder="auto or ray://head:10001",
        help="Empty: run here. Otherwise each run is a task on that Ray cluster; the run store "
        "must be on storage every node sees (README, On a cluster).",
    ).strip()
    or None
)
if unknown:
    st.warning(  # typed text, shown as text
        escape_markdown(
            f"Not a selector: {', '.join(repr(m) for m in unknown)}. Choose a listed one, or "
            "type package.module:ClassName."
        )
    )
elif methods and budgets and seeds:
    planned = clock.plan(
        root,
        selection.all_runs,
        {
            "scenario": scenario,
            "methods": methods,
            "budgets": budgets,
            "seeds": seeds,
            "adaptation": adaptation,
        },
    )
    st.caption(f":material/timer: Expected duration: {escape_markdown(clock.describe(planned))}.")
submitted = st.button(
    "Launch",
    type="primary",
    icon=":material/play_arrow:",
    disabled=not operator or bool(unknown),
)
health.memory_caption(scenario, adaptation)
if submitted and operator:
    if not methods or not budgets or not seeds:
        st.warning("Choose at least one selector, one budget and one seed.")
    elif device == "cuda" and not cuda:
        st.warning("device=cuda was chosen but CUDA is not available here; choose auto or cpu.")
    else:
        health.submit_sweep(
            root,
            scenario,
            methods,
            sorted(budgets),
            sorted(seeds),
            device=device,
            umap=umap,
            adaptation=adaptation,
            ray_address=ray_address,
        )

run_views.pick_section(root)

st.subheader("Background sweeps")
widgets.jobs_panel(root)
health.damaged_section(root)

run_views.finished_runs(root, selection.all_runs)
