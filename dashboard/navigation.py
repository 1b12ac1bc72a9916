"""The dashboard's navigation is app.py's st.navigation: Home first, then every page
under pages/ in file order. On a freshly started server Streamlit runs its first
session the old way (a `pages/` folder beside the entry: its "MPA v1" listing, whose
first label is the entry file's name, "app") until some run calls st.navigation. A
page opened first by its URL (/Run) would stay in that listing for the whole session,
without Home; `through_app()`, every page's first line, sends such a run back through
app.py instead. The old listing itself is never drawn (.streamlit/config.toml:
client.showSidebarNavigation = false hides it; app.py's navigation is at the top)."""
from __future__ import annotations

from pathlib import Path

import streamlit as st

HOME = "Home"
ENTRY = Path(__file__).resolve().parent.parent / "app.py"


def old_listing(pages) -> bool:
    """Whether this run's pages are Streamlit's listing of pages/ (the entry file is one
    of them by its path), not app.py's navigation (Home is a function there)."""
    return any(p.get("script_path") and Path(p["script_path"]).resolve() == ENTRY for p in pages)


def through_app() -> None:
    """Rerun through app.py when this page runs under the old listing: app.py's
    navigation (Home first) then opens this same page."""
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.runtime.scriptrunner import get_script_run_ctx
    ctx = get_script_run_ctx()
    if ctx is None or not old_listing(ctx.pages_manager.get_pages().values()):
        return
    PagesManager.uses_pages_directory = False  # what st.navigation sets: later runs run app.py
    st.rerun()
