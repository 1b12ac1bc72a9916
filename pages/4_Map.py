"""Map: where the stragglers sit in a t-SNE map of the inputs or of the hidden layer (SI Fig. 4)."""
import pandas as pd
import streamlit as st

from dashboard.navigation import through_app

through_app()  # first: a page opened by its URL on a fresh server runs through app.py's navigation

from dashboard import analysis_ui as ui
from dashboard import cached, selection
from engine.figures.analysis import distance_figure, map_figure

SPACES = {"inputs": "the inputs (pixels)", "hidden": "the hidden layer at an epoch"}
store, job = ui.run_page("Map", "Map of the stragglers")
(t_mean, _), _ = cached.run_summary(store, job)
run_result, data, _ = cached.run_data(store, job)
last = run_result.epochs_done
t_star = int(round(t_mean)) if t_mean is not None else last // 2  # no inversion: the middle of the run
c1, c2 = st.columns([1, 2])
space = ui.choice(c1, "t-SNE of", list(SPACES), "space", widget="radio", format_func=SPACES.get)
epoch = None
if space == "hidden":
    epoch = c2.slider("epoch (hidden layer of the first seed)", 0, last, ui.qp("epoch", t_star, int, lo=0, hi=last),
                      key="epoch")
    c2.caption(f"Mean t* of this run: {t_star}. Compare an epoch before it with one after." if t_mean is not None
               else "No seed of this run shows an inversion: t* is undetermined.")
with st.expander("t-SNE settings"):
    t1, t2, t3 = st.columns(3)
    perplexity = t1.number_input("perplexity", 2.0, 200.0, ui.qp("perplexity", 30.0, float, lo=2.0, hi=200.0),
                                 key="perplexity")
    n_iter = t2.number_input("iterations", 50, 5000, ui.qp("iter", 500, int, lo=50, hi=5000), step=50, key="iter")
    early = t3.number_input("early-exaggeration iterations", 0, 1000, ui.qp("early", 250, int, lo=0, hi=1000), step=50,
                            key="early")
ui.set_qp(space=space, epoch=epoch, perplexity=None if perplexity == 30.0 else perplexity,
          iter=None if n_iter == 500 else n_iter, early=None if early == 250 else early)
config = ui.experiment_config(job, hidden_epoch=epoch, perplexity=float(perplexity), n_iter=int(n_iter),
                              early_iter=int(early))
embed = ui.experiment(store, "embed", config, key="embed", button="Compute the t-SNE map",
                      what="t-SNE (openTSNE, after PCA to 50 dimensions) of the training set; the job retrains the "
                           "run's seeds to find the consensus stragglers. The input map is cached per data block.",
                      hints={"map_cached": cached.input_map_cached(store, job, config)})
if embed is None:
    st.stop()
result = cached.job_result(store, embed)
rows = pd.DataFrame(cached.artifact(store, embed, "embedding", []))
test = result["hidden"] if space == "hidden" else result["inputs"]
picked = selection.chart(map_figure(rows, space), key="map")
st.caption(f"Consensus stragglers (in ≥ ½ of the seeds): {int(rows['straggler'].sum())} of {len(rows)}, outlined, "
           "larger with their consensus frequency. Hover a point for its index and class.")
selection.show(picked, data, key="map")
ui.chart(distance_figure(rows, test, space), key="distances")
st.caption("The test is done in " + (test.get("space") or space) + ", not on the map: t-SNE keeps neighbours, "
           "not distances.")
stats = pd.DataFrame([{"space": test.get("space", space), "stragglers": test.get("n_stragglers"),
                       "Mann–Whitney U": test.get("U"),
                       "p (stragglers farther)": test.get("p"), "P(straggler farther)": test.get("effect"),
                       "median distance, stragglers": test.get("median_stragglers"),
                       "median distance, rest": test.get("median_rest")}])
# p the way the figure's title writes it (7.4e-12), not as a fixed-point 0.000000000007
ui.table(stats, f"map-test-job{job['id']}-{space}", key="test",
         column_config={"p (stragglers farther)": st.column_config.NumberColumn(format="%.2g"),
                        "P(straggler farther)": st.column_config.NumberColumn(format="%.3f"),
                        "Mann–Whitney U": st.column_config.NumberColumn(format="%.0f")})
with st.expander("The map's coordinates"):
    ui.table(rows, f"map-job{job['id']}", key="rows")
