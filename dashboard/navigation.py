"""The page list of the app (one place): file, title, icon, URL and section of each page.

The router, the home page's guide, the page tests, the browser test and the render benchmark
all read ``PAGES``: a page added here is in every one of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import streamlit as st

PAGES_DIR = Path(__file__).resolve().parent.parent / "pages"


@dataclass(frozen=True)
class PageSpec:
    """One page: ``guide`` is its line in the home page's guide (none: not listed there);
    ``needs_runs`` pages show a hint instead of content on an empty store; ``charts`` pages
    draw at least one plotly chart once they have data."""

    file: str
    title: str
    icon: str
    url_path: str
    section: str
    default: bool = False
    guide: str = ""
    needs_runs: bool = False
    charts: bool = False

    @property
    def path(self) -> str:
        return str(PAGES_DIR / self.file)


PAGES = (
    PageSpec("home.py", "Home", ":material/home:", "home", "ForgeLens", default=True),
    PageSpec("run.py", "Run", ":material/play_arrow:", "run", "ForgeLens"),
    PageSpec(
        "picks.py",
        "Picks",
        ":material/checklist:",
        "picks",
        "ForgeLens",
        guide="decide what to label: the picks of an unlabelled pool in order, their "
        "manifests, and what importing their labels changes",
    ),
    PageSpec(
        "gap.py",
        "Loss-reduction gap",
        ":material/scatter_plot:",
        "gap",
        "Analyse runs",
        guide="the paper's Figure 5: distance to the nearest pick vs the gap in loss "
        "reduction, in BADGE and FORGE space",
        needs_runs=True,
        charts=True,
    ),
    PageSpec(
        "projection.py",
        "Selections in UMAP",
        ":material/bubble_chart:",
        "umap",
        "Analyse runs",
        guide="where each selector spends its budget on a map of the pool",
        needs_runs=True,
        charts=True,
    ),
    PageSpec(
        "accuracy.py",
        "Accuracy",
        ":material/table_chart:",
        "accuracy",
        "Analyse runs",
        guide="selectors × budgets with mean ± std, and the Table 1 decomposition",
        needs_runs=True,
        charts=True,
    ),
    PageSpec(
        "compare.py",
        "Compare selectors",
        ":material/compare_arrows:",
        "compare",
        "Analyse runs",
        guide="overlap, class mix and per-class coverage of the picks",
        needs_runs=True,
        charts=True,
    ),
    PageSpec(
        "theory.py",
        "Theory",
        ":material/functions:",
        "theory",
        "Analyse runs",
        guide="Theorem 4's bound vs the observed gaps, term by term; the full-network "
        "tangent norm vs |z|; Proposition 2 per selector",
        needs_runs=True,
        charts=True,
    ),
    PageSpec(
        "teaching.py",
        "Teaching view",
        ":material/school:",
        "teaching",
        "Learn",
        guide="k-center greedy pick by pick on a 2-D toy pool (no runs needed)",
        charts=True,
    ),
)

# pages that use the sidebar's filters (setting, selectors, seeds)
RUN_FILTER_PAGES = ("gap", "umap", "accuracy", "compare", "theory")


def page_path(url_path: str) -> str:
    """Absolute script path of the page with this URL path (for ``st.page_link``)."""
    for spec in PAGES:
        if spec.url_path == url_path:
            return spec.path
    raise KeyError(url_path)


DEFAULT_PAGE_KEY = "start"  # the default page's internal url path (it is served at "/")


def _redirect(target: st.Page):
    """A page that opens ``target`` with the link's query parameters (the view kept)."""

    def redirect() -> None:
        st.switch_page(target, query_params=st.query_params.to_dict())

    return redirect


def build_navigation() -> dict[str, list[st.Page]]:
    """Sections -> st.Page objects, in display order. The default page (Home) is served at
    "/", and its own name (``/home``) opens it too, through a hidden redirect page."""
    sections: dict[str, list[st.Page]] = {}
    for spec in PAGES:
        page = st.Page(
            spec.path,
            title=spec.title,
            icon=spec.icon,
            url_path=DEFAULT_PAGE_KEY if spec.default else spec.url_path,
            default=spec.default,
        )
        sections.setdefault(spec.section, []).append(page)
        if spec.default:
            alias = st.Page(
                _redirect(page), title=spec.title, url_path=spec.url_path, visibility="hidden"
            )
            sections[spec.section].append(alias)
    return sections
