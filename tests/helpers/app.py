"""Drive the Streamlit app with AppTest and read what it shows."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from core.storage.store import RUNS_ENV
from dashboard import live_chart
from dashboard.navigation import PageSpec

APP = str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py")
TIMEOUT = 120


def open_app(
    root: Path, monkeypatch: pytest.MonkeyPatch, page: str | PageSpec | None = None
) -> AppTest:
    """The app on the store ``root``, switched to ``page`` (a pages/ file stem or a PageSpec)."""
    monkeypatch.setenv(RUNS_ENV, str(root))
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    assert not at.exception, [e.value for e in at.exception]
    if page:
        file = page.file if isinstance(page, PageSpec) else f"{page}.py"
        at.switch_page(f"../pages/{file}").run()
        assert not at.exception, [e.value for e in at.exception]
    return at


def chart_specs(at: AppTest) -> list[str]:
    """The plotly JSON of every chart on the page: ``dashboard.live_chart`` components (what
    the pages draw) and any plain ``st.plotly_chart`` (its fallback)."""
    live = [
        json.loads(c.proto.json)["figure"]
        for c in at.get("bidi_component")
        if c.proto.component_name == live_chart.NAME
    ]
    return live + [c.proto.spec for c in at.get("plotly_chart")]


def charts(at: AppTest) -> list[dict]:
    return [json.loads(spec) for spec in chart_specs(at)]


def decode(array: object) -> np.ndarray:
    """Plotly's JSON arrays: plain lists or base64 typed arrays."""
    if isinstance(array, dict):
        flat = np.frombuffer(base64.b64decode(array["bdata"]), dtype=array["dtype"])
        shape = array.get("shape")
        return flat.reshape([int(n) for n in str(shape).split(",")]) if shape else flat
    return np.asarray(array, dtype=float)


def texts(at: AppTest) -> str:
    parts = [
        e.value
        for kind in ("title", "markdown", "caption", "info", "success", "warning")
        for e in at.get(kind)
    ]
    return "\n".join(map(str, parts))
