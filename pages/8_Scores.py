"""Scores: the stragglers beside the classic difficulty scores of the same run (forgetting,
cartography, AUM, EL2N, GraNd): the data map, how well each predicts the stragglers, how they agree."""
import streamlit as st

from dashboard.navigation import through_app

through_app()  # first: a page opened by its URL on a fresh server runs through app.py's navigation

from dashboard import analysis_ui as ui
from dashboard import cached, scores_ui, selection
from engine.figures.scores import (auroc_figure, comparison_table, data_map_figure, noise_table, overlap_figure,
                                      spearman_figure)
from engine.analysis.score_comparison import spearman_frame

store, job = ui.run_page("Scores", "Stragglers and classic difficulty scores")
result, data, _ = cached.run_data(store, job)
table, comparison, meta = cached.scores(store, job)
if table is None:
    scores_ui.no_scores(store, job)
    st.stop()
st.caption(scores_ui.describe(meta))
for note in meta["notes"]:
    st.warning(note)

st.subheader("Data map")
picked = selection.chart(data_map_figure(table), key="datamap")
selection.show(picked, data, key="datamap")

st.subheader(f"Which score finds the {comparison['n_stragglers']} consensus stragglers?")
c1, c2 = st.columns(2)
with c1:
    ui.chart(auroc_figure(comparison), key="auroc")
with c2:
    ui.chart(overlap_figure(comparison), key="overlap")
ui.table(comparison_table(comparison), f"scores-vs-stragglers-job{job['id']}", key="comparison")

noisy = meta.get("label_noise")
if noisy:  # a run with --label-noise: the flipped labels are known, so each score is a detector
    st.subheader(f"Which score finds the {noisy['n_flipped']} flipped labels?")
    st.caption(f"AUROC for the flipped training labels, and the share of them among each score's top "
               f"k = {noisy['k']} points (precision = recall at this k; chance {noisy['chance_precision']:.2f}).")
    ui.chart(auroc_figure(noisy, title=f"Finding the {noisy['n_flipped']} flipped labels"), key="noise-auroc")
    ui.table(noise_table(noisy), f"scores-vs-flipped-job{job['id']}", key="noise")

st.subheader("How the scores agree")
ui.chart(spearman_figure(comparison), key="spearman")
ui.table(spearman_frame(comparison).reset_index(names="score"), f"scores-spearman-job{job['id']}", key="spearman")

st.subheader("Download")
scores_ui.downloads(table, meta, job["id"])
