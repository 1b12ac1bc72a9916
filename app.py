"""The entry point, `streamlit run app.py`: the navigation (Home, then every page under
pages/ in file order, at the top of the page) and the home page: what this is, one
figure, presets, the job list, device, datasets, a guided path for a lecture. The
figure, which may have to train the demo, is drawn last into its place, and the
presets' estimates wait for the machine's measurement in the background, so the rest
of the page shows, and its buttons answer, at once."""
import re
from pathlib import Path

import streamlit as st

from dashboard.navigation import HOME


def home():
    # imported here, after the navigation has been sent: the first run's imports take a second
    from dashboard import cached, live, machine, notes, run_form
    from dashboard import jobs_view as jv

    st.title("Stragglers: inversion dynamics of class manifolds")
    st.markdown(notes.INTRO)
    notes.show("Home")
    store = cached.open_store()
    jv.warm(store)  # torch imported in a worker before the click: the first job starts at once
    figure = st.container()

    st.subheader("Start a run")
    cols = st.columns(2) + st.columns(2)
    estimates = {}
    for col, (name, (label, _, why)) in zip(cols, run_form.PRESETS.items()):
        if col.button(label, key=f"preset-{name}", width="stretch"):
            run_form.launch_preset(name, store)
        col.caption(why)
        estimates[name] = col.empty()
    # measured in the background the first time: the buttons answer at once
    live.preset_estimates(store, estimates, lambda: run_form.preset_estimates(store))
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
    rows = machine.datasets_status()
    st.dataframe(machine.datasets_table(rows), hide_index=True, key="datasets", width="stretch",
                 column_config={"how to fetch": st.column_config.TextColumn("how to fetch", width="medium")})
    missing = machine.fetch_notes(rows)
    if missing:
        with st.expander(f"How to get the {len(missing)} missing dataset{'s' if len(missing) > 1 else ''}"):
            st.markdown("\n".join(missing))

    with figure:
        live.home_figure(store)


def _order(path: Path):
    m = re.match(r"(\d+)", path.name)
    return (int(m.group(1)) if m else 10**6, path.name)


st.set_page_config(page_title="Stragglers", layout="wide")
pages_dir = Path(__file__).parent / "pages"
# Home is a function of this file, the pages are pages/*.py in file order (their titles
# from the file names). dashboard.navigation says why a page opened first by its URL
# on a fresh server still gets this navigation.
st.navigation([st.Page(home, title=HOME, default=True)]
              + [st.Page(f"pages/{p.name}") for p in sorted(pages_dir.glob("*.py"), key=_order)],
              position="top").run()
