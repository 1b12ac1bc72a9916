"""Data selection: keep a fraction of the training set chosen by the stragglers or by
a difficulty score (dropping the hardest or the easiest), or at random, retrain on
other seeds and compare the test errors (engine.experiments.selection)."""

import numpy as np
import pandas as pd
import streamlit as st

from dashboard.navigation import through_app

through_app()  # first: a page opened by its URL on a fresh server runs through app.py's navigation

from dashboard import analysis_ui as ui
from dashboard import cached, executor_ui
from engine.experiments.selection import OPTIONS, SELECTORS
from engine.figures.scores import label
from engine.figures.selection import selection_figure, selection_table

FRACTIONS = [0.3, 0.5, 0.7, 0.8, 0.9, 1.0]
store, job = ui.run_page("Data selection", "Which points to keep?")
executor, _ = executor_ui.choose()
c1, c2 = st.columns(2)
fractions = c1.multiselect("kept fractions f", FRACTIONS, default=ui.qp_subset("f", FRACTIONS, float) if
                           st.query_params.get("f") else OPTIONS["fractions"], key="f")
selectors = c2.multiselect("scores that choose", list(SELECTORS), format_func=label,
                           default=ui.qp_subset("sel", list(SELECTORS), str) if st.query_params.get("sel")
                           else OPTIONS["selectors"], key="sel")
ui.set_qp(f=fractions, sel=selectors)
if not fractions or not selectors:
    st.warning("Choose at least one kept fraction and one score.")
    st.stop()
done = ui.experiment(store, "select", ui.experiment_config(job, fractions=sorted(fractions), selectors=selectors),
                     key="select", executor=executor, button="Retrain on each selection",
                     what="The scores come from this run's options on its seeds; every retrain uses the next seeds "
                          "(no leakage). Each kept fraction is one batched ensemble; a random subset is the control.")
if done is not None:
    res = cached.job_result(store, done)
    for note in res.get("notes", []):
        st.warning(note)
    st.caption(f"Scores from seeds {res['scoring_seeds'][0]}–{res['scoring_seeds'][-1]}; retrains on seeds "
               f"{res['retrain_seeds'][0]}–{res['retrain_seeds'][-1]}. Lowest test error: "
               + "; ".join(f"f = {f}: {label(b['selector']) if b['selector'] not in ('all', 'random') else b['selector']}"
                           f" {b['direction']} ({b['test_error_mean']:.4f})" for f, b in res["best"].items()))
    ui.chart(selection_figure(res["curves"]), key="selection")
    ui.table(selection_table(res["curves"]), f"selection-job{done['id']}", key="selection")
    st.subheader("Download a selection")
    rows = res["curves"]
    names = [f"{r['selector']} · {r['direction']} · f = {r['kept_fraction']}" for r in rows]
    pick = st.selectbox("selection", range(len(rows)), format_func=names.__getitem__, key="pick-selection")
    kept, index = cached.artifact(store, done, "kept"), cached.artifact(store, done, "index")
    if kept is not None and index is not None:
        mask = kept[rows[pick]["kept_row"], 0]  # the random control: the set of its first seed
        frame = pd.DataFrame({"index": np.asarray(index)[mask]})
        st.download_button(f"kept indices ({int(mask.sum())} points, CSV)", frame.to_csv(index=False).encode(),
                           file_name=f"kept-job{done['id']}-{rows[pick]['selector']}-{rows[pick]['direction']}-"
                                     f"{rows[pick]['kept_fraction']}.csv", mime="text/csv", key="dl-kept",
                           on_click="ignore")
