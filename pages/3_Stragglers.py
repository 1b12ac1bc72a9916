"""Stragglers: who the training points misclassified at t* are, how consistently, and downloads."""
import numpy as np
import streamlit as st

from dashboard.navigation import through_app

through_app()  # first: a page opened by its URL on a fresh server runs through app.py's navigation

from dashboard import analysis_ui as ui
from dashboard import cached, downloads, gallery, scores_ui
from engine.figures.analysis import class_counts_figure, sizes_figure

PER_PAGE = 48
store, job = ui.run_page("Stragglers", "Stragglers")
result, data, _ = cached.run_data(store, job)
(t_star, phi), sizes = cached.run_summary(store, job)

# --- which S(t): t*, another epoch, or a training error -------------------------------
c1, c2 = st.columns([1, 2])
mode = ui.choice(c1, "Define the stragglers as S(t) at", list(gallery.MODES), "def", widget="radio",
                format_func=gallery.MODES.get)
if mode == "epoch":
    value = c2.slider("epoch t", 0, result.epochs_done,
                      ui.qp("t", round(t_star) if t_star is not None else 0, int, lo=0, hi=result.epochs_done), key="t")
elif mode == "error":
    value = c2.slider("training error ε", 0.0, 0.5, ui.qp("eps", round(phi, 3) if phi is not None else 0.1, float,
                                                           lo=0.0, hi=0.5), step=0.001, format="%.3f", key="eps")
else:
    value = None
    c2.caption(gallery.t_star_caption(result))
definition = gallery.parse_definition(mode, value)
S, df = cached.stragglers(store, job, definition)
n = gallery.counts(S, rows=gallery.rows_of(result, definition))
m1, m2, m3 = st.columns(3)
m1.metric("|S| per seed (mean)", gallery.fmt_mean(n["mean"]))
m2.metric("in at least one seed", n["union"])
m3.metric("consensus (≥ ½ of the seeds)", n["consensus"])
marker = value if mode == "epoch" else (t_star if mode == "t*" else None)
ui.chart(sizes_figure(sizes[sizes["epoch"] > 0].rename(columns={"epoch": "x"}), marker=marker), key="sizes")

# --- filters, sorting, the gallery -------------------------------------------------------
f1, f2, f3, f4 = st.columns(4)
present = sorted(int(c) for c in np.unique(data.classes_train))
classes = f1.multiselect("classes", present, default=ui.qp_subset("cls", present), key="cls")
min_freq = f2.slider("consensus frequency ≥", 0.0, 1.0, ui.qp("min", 0.0, float, lo=0.0, hi=1.0), step=0.05,
                     key="min")
seed = ui.choice(f3, "seed", ["all"] + [int(s) for s in result.seeds], "seed")
scores = cached.scores(store, job)[0]  # None for a run made before the difficulty scores
score_sorts = scores_ui.sorts(scores)
sort = ui.choice(f4, "sort by", list(gallery.SORTS) + list(score_sorts), "sort")
ui.set_qp(**{"def": mode, "t": value if mode == "epoch" else None, "eps": value if mode == "error" else None,
             "cls": classes if classes != present else None, "min": min_freq or None,
             "seed": None if seed == "all" else seed, "sort": None if sort == "consensus" else sort})
row = None if seed == "all" else int(np.flatnonzero(result.seeds == seed)[0])
shown = gallery.filter_table(scores_ui.with_scores(df, scores), S, classes, min_freq, row)
shown, by_score = scores_ui.score_filter(*st.columns([1, 3]), shown, scores)
shown = scores_ui.sort_by(shown, *score_sorts[sort]) if sort in score_sorts else gallery.sort_table(shown, sort)
by_score = score_sorts[sort][0] if sort in score_sorts else by_score
st.subheader(f"{len(shown)} stragglers")
if not classes:
    st.info("No class is selected: pick at least one in **classes** above.")
elif not len(shown):
    st.info(gallery.empty_hint(mode, t_star, min_freq, seed))
st.caption(f"{gallery.describe_definition(definition)}; caption: index · class · label→prediction · consensus.")
x_train, vmax = cached.raw_images(data.name)
names = gallery.label_names(result.config)
pages = max(1, -(-len(shown) // PER_PAGE))
page = st.pagination(pages, default=ui.qp("page", 1, int, lo=1, hi=pages), key="page") if pages > 1 else 1
ui.set_qp(page=None if page == 1 else page)
part = shown.iloc[gallery.page_slice(len(shown), page, PER_PAGE)]
if len(part):
    captions = [gallery.caption(r, names) + scores_ui.caption_extra(r, by_score) for r in part.to_dict("records")]
    st.image([gallery.thumbnail(x_train[i], vmax) for i in part["index"]], caption=captions, width=96)
    st.markdown("**Random non-stragglers of the same classes** (straggler in no seed)")
    others = gallery.non_stragglers(S.mean(axis=0), data.classes_train, part["class"], min(16, len(part)),
                                    seed=int(job["id"]))
    st.image([gallery.thumbnail(x_train[data.index_train[p]], vmax) for p in others],
             caption=[f"#{int(data.index_train[p])} · class {int(data.classes_train[p])}" for p in others], width=96)

# --- per class, downloads ---------------------------------------------------------------------
st.subheader("Per class")
cc = gallery.class_counts(shown, data.classes_train)
if len(shown):
    ui.chart(class_counts_figure(cc), key="per-class")
ui.table(cc, f"stragglers-per-class-job{job['id']}", key="per-class")
st.subheader("Download")
files = downloads.bundle(gallery.records(shown), cached.run_manifest(store, job),
                         {**definition, "classes": classes, "min_consensus": min_freq, "seed": seed, "sort": sort},
                         data.name, f"stragglers-job{job['id']}")
n_consensus = len(downloads.consensus_rows(gallery.records(shown)))
labels = [f"CSV · {len(shown)} stragglers", f"JSON · {len(shown)} stragglers",
          f"NPY · {n_consensus} consensus indices", "Manifest"]
helps = [f"every straggler shown, with its consensus (as the CLI's stragglers.csv)",
         "the same rows and how the set was defined",
         f"the indices of the {n_consensus} consensus stragglers shown (in ≥ ½ of the seeds), ascending: "
         "with no filter, exactly the CLI's stragglers.npy",
         "config, hash, seeds, dataset checksums and versions"]
for col, label, text, (fname, (blob, mime)) in zip(st.columns(len(files)), labels, helps, files.items()):
    col.download_button(label, blob, file_name=fname, mime=mime, key=f"dl-{label.split(' ')[0]}",
                        on_click="ignore", help=f"{fname}: {text}", disabled=not len(shown), width="stretch")
