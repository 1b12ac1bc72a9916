"""Inversion: finished runs overlaid, t* and the grey band, the φ table, Fig. 1a."""
import streamlit as st

from dashboard.navigation import through_app

through_app()  # first: a page opened by its URL on a fresh server runs through app.py's navigation

from dashboard import analysis_ui as ui
from dashboard import cached, notes
from engine.figures import dynamics as fd
from dashboard import jobs_view as jv
from engine.figures.style import MODEBAR

st.set_page_config(page_title="Inversion · Stragglers", layout="wide")
st.title("Inversion")
notes.show("Inversion")
store = cached.open_store()
runs = {j["id"]: j for j in jv.finished_runs(store)}
if not runs:
    st.info("No finished run yet: start one on the home page or the Run page.")
    st.stop()

chosen, x_mode = ui.inversion_controls(runs, ui.default_job_id(store, list(runs.values())))
frames = {jv.job_label(runs[i]): cached.frame(store, runs[i]) for i in chosen}
summaries = {jv.job_label(runs[i]): cached.summary(store, runs[i]) for i in chosen}
for label, s in summaries.items():
    if ui.no_inversion_text(s):
        st.info(f"{label}: " + ui.no_inversion_text(s), icon=":material/info:")

st.plotly_chart(fd.overlay_figure(frames, summaries, x_mode=x_mode), config=MODEBAR, key="overlay")
st.caption(fd.overlay_caption(summaries, x_mode))

st.subheader("φ: the training error at the inversion")
# the job's label says its P, seeds and epochs: the CSV keeps them, the page shows the rest in full
ui.table(fd.phi_table(summaries), "phi", key="phi", label="Download phi.csv", hide=("epochs", "P", "seeds"))
with st.expander("Per seed"):
    ui.table(fd.phi_per_seed(summaries), "phi_per_seed", key="phi-seed", label="Download phi_per_seed.csv")

st.subheader("Initial vs final geometry (Fig. 1a)")
st.plotly_chart(fd.initial_final_figure(frames), config=MODEBAR, key="initial-final")
