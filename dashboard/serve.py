"""Serve the dashboard: ``python -m dashboard.serve [streamlit run options]`` (``make run``).

``streamlit run dashboard/app.py`` with one difference: the heavy modules the pages need (pandas,
pyarrow, plotly, scipy.stats, the report builders, the figures) are imported before the server
starts listening, not during the first visit. On a 2-core laptop that moves about
0.7 s (1.7 s of imports) from the first page view to the server's start-up, before the URL is
printed; ``dashboard.warmup`` then finds them loaded. torch too (the teaching view's k-center is
the real selector): 2 s more at start-up, instead of on that page's first visit. Unlike a
background import (``dashboard.warmup`` never does torch), nobody can click meanwhile.

It also puts ``dashboard.hosts.HostCheck`` in front of every HTTP and websocket request, so a
page on another domain that resolves to this machine (DNS rebinding) is refused.
"""

from __future__ import annotations

import sys
from pathlib import Path

APP = Path(__file__).resolve().with_name("app.py")
PRELOAD = (
    "pandas",
    "pyarrow.parquet",
    "core.storage.store",
    "core.analysis.toy",
)  # + warmup.MODULES; toy: torch
# not the dashboard's cached loaders: a st.cache_* made before the server runs has no runtime


def preload() -> None:
    """Import the heavy modules the first visit would (``PRELOAD`` and ``warmup.MODULES``) and
    build one figure of every trace type (``warmup.warm_figures``)."""
    from dashboard import warmup

    for name, error in warmup.import_modules(PRELOAD + warmup.MODULES).items():
        print(f"forgelens: could not preload {name}: {error}", file=sys.stderr)
    try:
        warmup.warm_figures()
    except Exception as error:  # noqa: BLE001 - reported; the pages draw their own figures
        print(f"forgelens: could not warm plotly: {error}", file=sys.stderr)


def install_host_check() -> None:
    """Put the Host check first in Streamlit's middleware stack (``dashboard.hosts``).

    Streamlit's own ``server.allowedHosts`` covers websockets only and accepts any Host when
    empty; this covers every request. A Streamlit without the hook is an error, never a server
    that silently runs without the check."""
    from starlette.middleware import Middleware
    from streamlit import config
    from streamlit.web.server.starlette import starlette_app

    from dashboard import hosts

    original = getattr(starlette_app, "create_streamlit_middleware", None)
    if getattr(original, "host_check", False):
        return  # installed already
    if original is None:
        raise RuntimeError(
            "forgelens: this Streamlit has no create_streamlit_middleware; cannot install the "
            "Host check (dashboard/hosts.py), so the server is not started"
        )
    configured = hosts.configured_hosts()  # a bad entry stops the start, naming it

    def make_rule():
        address = str(config.get_option("server.address") or "")
        extra = [str(h) for h in config.get_option("server.allowedHosts") or []]
        return hosts.host_rule(address, [*configured, *extra])

    def create() -> list:
        return [Middleware(hosts.HostCheck, make_rule=make_rule), *original()]

    create.host_check = True  # type: ignore[attr-defined]
    starlette_app.create_streamlit_middleware = create


def main(argv: list[str] | None = None) -> None:
    preload()
    install_host_check()
    from streamlit.web import cli

    sys.argv = ["streamlit", "run", str(APP), *(sys.argv[1:] if argv is None else argv)]
    cli.main()


if __name__ == "__main__":
    main()
