"""Pruning: retrain without the stragglers vs without as many random points (Fig. 2a-c)."""
import streamlit as st

from dashboard.navigation import through_app

through_app()  # first: a page opened by its URL on a fresh server runs through app.py's navigation

from dashboard import analysis_ui as ui
from dashboard import cached, executor_ui
from engine.figures.analysis import (phi_band, present_phi, prune_figure, prune_table, sweep_frame,
                                        sweep_geometry_figure,
                                        sweep_test_figure)

SIGMAS = [0.0, 0.5, 0.75, 1.0, 1.2, 1.5]
store, job = ui.run_page("Pruning", "Pruning the stragglers")
executor, _ = executor_ui.choose()  # where a launched experiment trains (sidebar)
epochs = int(job["config"]["epochs"])
band = phi_band(present_phi(cached.summary(store, job)))

st.header("Fig. 2a — dynamics after pruning")
retrain = st.number_input("retrain epochs", 1, 100000, ui.qp("retrain", epochs, int, lo=1, hi=100000), key="retrain")
prune = ui.experiment(store, "prune", ui.experiment_config(job, retrain_epochs=int(retrain)),
                      key="prune", executor=executor, button="Retrain without the stragglers",
                      what="From each seed's own initialisation: retrain without S(t*), without S(t) at an epoch "
                           "before and one after t*, and without random sets of the same sizes.")
if prune is not None:
    res = cached.job_result(store, prune)
    table = prune_table(res["variants"])
    names = list(res["variants"])
    shown = st.multiselect("variants", names, default=ui.qp_subset("variants", names, str),
                           format_func=dict(zip(table["key"], table["variant"])).get, key="variants")
    ui.set_qp(variants=None if shown == names else shown)
    ui.chart(prune_figure(cached.artifact(store, prune, "curves", []), shown), key="prune")
    ui.table(table.drop(columns="key"), f"prune-job{job['id']}", key="prune")

st.header("Fig. 2b–c — asymptotic geometry and test error vs ε")
c1, c2 = st.columns(2)
n_grid = c1.number_input("ε grid points", 2, 40, ui.qp("grid", 8, int, lo=2, hi=40), key="grid")
sigmas = c2.multiselect("input noise σ on the test set", SIGMAS, default=ui.qp_subset("sigmas", SIGMAS, float),
                        key="sigmas")
sigmas = sigmas or [0.0]
ui.set_qp(retrain=None if retrain == epochs else retrain, grid=None if n_grid == 8 else n_grid,
          sigmas=None if sigmas == SIGMAS else sigmas)
sweep = ui.experiment(store, "sweep", ui.experiment_config(job, n_grid=int(n_grid), sigmas=sorted(sigmas),
                                                           retrain_epochs=int(retrain)),
                      key="sweep", executor=executor, button="Sweep ε",
                      what="For each ε on the grid, retrain without S(t(ε)) and without a random set of the same "
                           "size, to convergence; test error on clean and noisy test sets.")
if sweep is not None:
    res = cached.job_result(store, sweep)
    ui.chart(sweep_geometry_figure(res["points"], band), key="sweep-geometry")
    ui.chart(sweep_test_figure(res["points"], res["sigmas"], cached.artifact(store, sweep, "sweep"), band),
             key="sweep-test")
    st.caption("Lines: S(t(ε)) removed; shaded: random removal of as many points (mean ± std over seeds); "
               "grey: the training error at the inversion, φ ± std.")
    ui.table(sweep_frame(res["points"]), f"sweep-job{job['id']}", key="sweep")
