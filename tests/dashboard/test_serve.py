"""dashboard.serve (``make run``): imports the heavy modules first, then is ``streamlit run``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from dashboard import serve, warmup

REPO = Path(__file__).resolve().parents[2]


def test_preload_imports_the_heavy_modules_and_torch_but_not_streamlit() -> None:
    """Not streamlit: a st.cache_* made before the server runs has no runtime to live in."""
    code = (
        "import sys\nfrom dashboard import serve\nserve.preload()\n"
        "print(sorted(m for m in ('torch', 'streamlit', 'pandas', 'scipy.stats', "
        "'plotly.graph_objects', 'core.analysis.reports') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(
        sorted(["torch", "pandas", "scipy.stats", "plotly.graph_objects", "core.analysis.reports"])
    )
    assert set(warmup.MODULES) >= {"scipy.stats", "core.analysis.reports"}


def test_main_is_streamlit_run_of_the_app_with_the_given_options(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from streamlit.web import cli

    seen: list[list[str]] = []
    monkeypatch.setattr(serve, "preload", lambda: seen.append(["preloaded"]))
    monkeypatch.setattr(cli, "main", lambda: seen.append(list(sys.argv)))
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    serve.main(["--server.port", "8765"])
    assert seen == [["preloaded"], ["streamlit", "run", str(serve.APP), "--server.port", "8765"]]
    assert serve.APP == REPO / "dashboard" / "app.py"


def test_a_module_that_fails_to_import_does_not_stop_the_server(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(serve, "PRELOAD", ("forgelens_no_such_module",))
    monkeypatch.setattr(warmup, "MODULES", ())
    serve.preload()
    assert "could not preload forgelens_no_such_module" in capsys.readouterr().err
