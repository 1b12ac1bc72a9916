"""Inversion: finished runs overlaid, t* and the grey band, the φ table, Fig. 1a."""
import streamlit as st

from dashboard import figures_dynamics as fd
from dashboard import live, notes
from dashboard import store_access as sa
from dashboard.style import MODEBAR

st.set_page_config(page_title="Inversion · Stragglers", layout="wide")
st.title("Inversion")
notes.show("Inversion")
store = sa.open_store()
runs = {j["id"]: j for j in sa.finished_runs(store)}
if not runs:
    st.info("No finished run yet: start one on the home page or the Run page.")
    st.stop()

chosen, x_mode = live.inversion_controls(runs)
frames = {sa.job_label(runs[i]): sa.frame(store, i) for i in chosen}
summaries = {sa.job_label(runs[i]): store.summary(i) for i in chosen}

st.plotly_chart(fd.overlay_figure(frames, summaries, x_mode=x_mode), config=MODEBAR, key="overlay")
st.caption("Mean over seeds; ★ the mean t* of each metric; grey: from the earliest to the latest mean t*."
           + (" x: the mean training error ε at each epoch, falling to the right as training goes on."
              if x_mode == "error" else ""))

st.subheader("φ: the training error at the inversion")
live.table_with_csv(fd.phi_table(summaries), "phi.csv", key="phi")
with st.expander("Per seed"):
    live.table_with_csv(fd.phi_per_seed(summaries), "phi_per_seed.csv", key="phi-seed")

st.subheader("Initial vs final geometry (Fig. 1a)")
st.plotly_chart(fd.initial_final_figure(frames), config=MODEBAR, key="initial-final")
