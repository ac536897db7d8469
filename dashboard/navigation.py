"""The page list of the app (one place): file, title, icon, URL and section of each page."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import streamlit as st

PAGES_DIR = Path(__file__).resolve().parent.parent / "pages"


@dataclass(frozen=True)
class PageSpec:
    file: str
    title: str
    icon: str
    url_path: str
    section: str
    default: bool = False

    @property
    def path(self) -> str:
        return str(PAGES_DIR / self.file)


PAGES = (
    PageSpec("home.py", "Home", ":material/home:", "home", "ForgeLens", default=True),
    PageSpec("run.py", "Run", ":material/play_arrow:", "run", "ForgeLens"),
    PageSpec("gap.py", "Loss-reduction gap", ":material/scatter_plot:", "gap", "Analyse runs"),
    PageSpec("projection.py", "Selections in UMAP", ":material/bubble_chart:", "umap",
             "Analyse runs"),
    PageSpec("accuracy.py", "Accuracy", ":material/table_chart:", "accuracy", "Analyse runs"),
    PageSpec("compare.py", "Compare selectors", ":material/compare_arrows:", "compare",
             "Analyse runs"),
    PageSpec("teaching.py", "Teaching view", ":material/school:", "teaching", "Learn"),
)

RUN_FILTER_PAGES = ("gap", "umap", "accuracy", "compare")  # pages that use the sidebar's filters


def page_path(url_path: str) -> str:
    """Absolute script path of the page with this URL path (for ``st.page_link``)."""
    for spec in PAGES:
        if spec.url_path == url_path:
            return spec.path
    raise KeyError(url_path)


def build_navigation() -> dict[str, list[st.Page]]:
    """Sections -> st.Page objects, in display order."""
    sections: dict[str, list[st.Page]] = {}
    for spec in PAGES:
        page = st.Page(spec.path, title=spec.title, icon=spec.icon, url_path=spec.url_path,
                       default=spec.default)
        sections.setdefault(spec.section, []).append(page)
    return sections
