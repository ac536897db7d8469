"""ForgeLens dashboard entry: `python -m dashboard.serve` (``make run``; `python -m streamlit run
dashboard/app.py` serves the same app, its first visit doing the imports).

A router (st.navigation over the scripts in pages/) with a shared sidebar that picks the
scenario, selectors and seeds of the runs every analysis page shows (drawn only on those
pages). The run store is ``$FORGELENS_RUNS`` or ``runs/`` (``core.storage.store.default_root``).
"""

import sys
from pathlib import Path

REPO_ROOT = str(Path(__file__).resolve().parent.parent)
if REPO_ROOT not in sys.path:  # importable however the app is launched
    sys.path.insert(0, REPO_ROOT)

import streamlit as st  # noqa: E402

from dashboard import health, loaders, session, warmup, widgets  # noqa: E402
from dashboard.icon import page_icon  # noqa: E402
from dashboard.navigation import RUN_FILTER_PAGES, build_navigation  # noqa: E402

st.set_page_config(page_title="ForgeLens", page_icon=page_icon(), layout="wide")
page = st.navigation(build_navigation())
root = loaders.store_root()
with health.page_errors():  # an error escaping a page becomes a short message
    st.session_state[session.SELECTION] = widgets.sidebar(
        root, filters=page.url_path in RUN_FILTER_PAGES
    )
    health.sidebar_notice(root)
    widgets.live_updates(root)
    page.run()
    warmup.start()  # the analysis pages' imports, in the background, once per server
