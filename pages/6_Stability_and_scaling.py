"""Stability & scaling: the same stragglers across seeds (Fig. 2d), φ against P and the architecture (Fig. 3b, 3e)."""
import pandas as pd
import streamlit as st

from dashboard.navigation import through_app

through_app()  # first: a page opened by its URL on a fresh server runs through app.py's navigation

from dashboard import analysis_ui as ui
from dashboard import cached, executor_ui
from engine.figures.analysis import fmt_num
from engine.figures.stability import (grid_figure, matrix_from_rows, overlap_figure, phi_caption, phi_figure,
                                         stability_caption, z_figure)

store, job = ui.run_page("Stability & scaling", "Stability and scaling")
executor, _ = executor_ui.choose()  # where a launched experiment trains (sidebar)
P = int(job["config"]["n_train"])

st.header("Fig. 2d — are S(t(ε)) the same points across seeds?")
n_grid = st.number_input("ε grid points", 2, 60, ui.qp("grid", 16, int, lo=2, hi=60), key="grid")
stab = ui.experiment(store, "stability", ui.experiment_config(job, n_grid=int(n_grid)), key="stability",
                     executor=executor,
                     button="Measure the stability",
                     what="z-score (Eq. 11) of the overlap of S(t(ε)) between pairs of seeds against the "
                          "hypergeometric overlap of random sets of the same sizes, on an ε grid.")
if stab is not None:
    res = cached.job_result(store, stab)
    ui.chart(z_figure(res["points"], res["best"], res.get("phi")), key="z")
    st.caption(stability_caption(res, int(job["config"]["seeds"])))
    at = ui.choice(st, "overlap matrix at", ["max z", "t*"], "matrix", widget="radio", horizontal=True)
    name = "overlap_matrix_best" if at == "max z" else "overlap_matrix_t_star"
    M, seeds = matrix_from_rows(cached.artifact(store, stab, name, []))
    where = f"ε = {fmt_num(res['best'].get('epsilon'), '.3g')}" if at == "max z" else "t*"
    ui.chart(overlap_figure(M, seeds, title=f"|S_i ∩ S_j| at {where}"), key="overlap")
    ui.table(pd.DataFrame(res["points"]), f"stability-job{job['id']}", key="stability")

st.header("Fig. 3b, 3e — φ against the training-set size P")
c1, c2, c3 = st.columns(3)
default_sizes = ui.scaling_sizes(P, cached.dataset_size(job["config"]["dataset"], P))
sizes = c1.text_input("sizes P (comma-separated, at least 3)", ",".join(map(str, ui.qp_list("sizes", default_sizes))),
                      key="sizes")
depths = c2.text_input("depths L for the φ∞ grid (optional)", ",".join(map(str, ui.qp_list("depths", []))),
                       key="depths")
widths = c3.text_input("widths H for the φ∞ grid (optional)", ",".join(map(str, ui.qp_list("widths", []))),
                       key="widths")
try:
    n_trains, ds, ws = (sorted({int(v) for v in t.split(",") if v.strip()}) for t in (sizes, depths, widths))
except ValueError:
    st.error("Sizes, depths and widths are integers separated by commas.")
    st.stop()
ui.set_qp(grid=None if n_grid == 16 else n_grid, matrix=None if stab is None or at == "max z" else at,
          sizes=None if n_trains == default_sizes else n_trains, depths=ds or None, widths=ws or None)
if len(n_trains) < 3:
    st.warning("Eq. 12 has three parameters: give at least three sizes P.")
    st.stop()
scal = ui.experiment(store, "scaling", ui.experiment_config(job, n_trains=n_trains, depths=ds or None,
                                                            widths=ws or None),
                     key="scaling", executor=executor, button="Measure φ(P)",
                     what="Trains the run's seeds at each size P (and each depth × width), fits Eq. 12 "
                          "φ(P) = φ∞ [1 − (P/P0)^(−γ)] with a bootstrap error on φ∞.")
if scal is not None:
    res = cached.job_result(store, scal)
    ui.chart(phi_figure(res), key="phi")
    st.caption(phi_caption(res))
    ui.table(pd.DataFrame(res["points"]), f"phi-job{job['id']}", key="phi")
    if len(res.get("grid", [])) > 1:
        ui.chart(grid_figure(res["grid"]), key="grid-fig")
        ui.table(pd.DataFrame(res["grid"]), f"phi-inf-grid-job{job['id']}", key="grid")
