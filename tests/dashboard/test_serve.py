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
    monkeypatch.setattr(serve, "install_host_check", lambda: seen.append(["host check"]))
    monkeypatch.setattr(cli, "main", lambda: seen.append(list(sys.argv)))
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    serve.main(["--server.port", "8765"])
    assert seen == [
        ["preloaded"],
        ["host check"],
        ["streamlit", "run", str(serve.APP), "--server.port", "8765"],
    ]
    assert serve.APP == REPO / "dashboard" / "app.py"


def test_a_module_that_fails_to_import_does_not_stop_the_server(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(serve, "PRELOAD", ("forgelens_no_such_module",))
    monkeypatch.setattr(warmup, "MODULES", ())
    serve.preload()
    assert "could not preload forgelens_no_such_module" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("address", "header", "allowed"),
    [
        ("127.0.0.1", "127.0.0.1:8501", True),
        ("127.0.0.1", "localhost:8501", True),
        ("127.0.0.1", "LOCALHOST.", True),
        ("127.0.0.1", "[::1]:8501", True),
        ("127.0.0.1", "127.0.0.2", True),  # loopback
        ("127.0.0.1", "evil.example", False),
        ("127.0.0.1", "evil.example:8501", False),
        ("127.0.0.1", "localhost.evil.example", False),
        ("127.0.0.1", "10.0.0.5:8501", False),  # not this server's address
        ("127.0.0.1", "127.0.0.1@evil.example", False),
        ("127.0.0.1", "127.0.0.1:99999", False),
        ("127.0.0.1", "", False),
        ("127.0.0.1", None, False),
        ("10.0.0.5", "10.0.0.5:8501", True),  # the bound address
        ("0.0.0.0", "192.168.1.20:8501", True),  # served to a network: any IP address
        ("0.0.0.0", "evil.example", False),  # but never a name it was not given
        ("0.0.0.0", "app.lab.org", True),  # configured
        ("0.0.0.0", "x.dash.lab.org:8501", True),  # *.dash.lab.org
        ("0.0.0.0", "dash.lab.org", False),
    ],
)
def test_only_this_machines_hosts_and_configured_names_are_allowed(
    address: str, header: str | None, allowed: bool
) -> None:
    from dashboard import hosts

    rule = hosts.host_rule(address, ["app.lab.org", "*.dash.lab.org"])
    assert rule(header) is allowed


def test_the_machines_own_name_is_allowed_when_serving_a_network() -> None:
    import socket

    from dashboard import hosts

    assert hosts.host_rule("0.0.0.0", [])(f"{socket.gethostname()}:8501")
    assert not hosts.host_rule("0.0.0.0", [])("evil.example")


def test_configured_hosts_are_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    from core.base.validation import ForgeLensError
    from dashboard import hosts

    monkeypatch.setenv(hosts.ALLOWED_HOSTS_ENV, " App.Lab.org., *.lab.org 10.0.0.7,[::1]")
    assert hosts.configured_hosts() == ["app.lab.org", "*.lab.org", "10.0.0.7", "::1"]
    assert hosts.host_rule("127.0.0.1", ["*"])("evil.example")  # the operator's choice
    monkeypatch.setenv(hosts.ALLOWED_HOSTS_ENV, "ok.org,bad/host")
    with pytest.raises(ForgeLensError, match="FORGELENS_ALLOWED_HOSTS lists 'bad/host'"):
        hosts.configured_hosts()
