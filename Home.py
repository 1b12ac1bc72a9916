"""Entry point: the navigation (Home + every page under pages/, in file order) and the
home page: what this is, one figure, presets, the job list, device, datasets, a
guided path for a lecture."""
import re
from pathlib import Path

import streamlit as st

from dashboard import cached, live, machine, notes, run_form
from dashboard import jobs_view as jv


def home():
    st.title("Stragglers: inversion dynamics of class manifolds")
    st.markdown(notes.INTRO)
    notes.show("Home")
    store = cached.open_store()
    live.home_figure(store)

    st.subheader("Start a run")
    cols = st.columns(2) + st.columns(2)
    for col, (name, (label, _, why)) in zip(cols, run_form.PRESETS.items()):
        if col.button(label, key=f"preset-{name}", width="stretch"):
            run_form.launch_preset(name, store)
        col.caption(why)
    st.page_link(run_form.RUN_PAGE, label="… or set every option yourself on the Run page", icon=":material/tune:")

    st.subheader("Jobs")
    live.live_jobs_table(store, lambda jobs: jv.show_jobs(jobs, store))

    left, right = st.columns(2)
    with left:
        st.subheader("A guided path for a lecture")
        notes.show_path()
    with right:
        st.subheader("Machine")
        st.write(f"Device for `device=auto`: **{machine.device_info()}**")
    st.subheader("Datasets")
    st.dataframe(machine.datasets_table(machine.datasets_status()), hide_index=True, key="datasets")
    st.caption("Fetch a missing one with `python -m engine data fetch NAME` (or put its files under `data/`).")


def _order(path: Path):
    m = re.match(r"(\d+)", path.name)
    return (int(m.group(1)) if m else 10**6, path.name)


st.set_page_config(page_title="Stragglers", layout="wide")
pages_dir = Path(__file__).parent / "pages"
st.navigation([st.Page(home, title="Home", icon=":material/home:", default=True)]
              + [st.Page(f"pages/{p.name}") for p in sorted(pages_dir.glob("*.py"), key=_order)]).run()
