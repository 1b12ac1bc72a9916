"""Streamlit side of the difficulty scores: the scores table, its comparison and its
sidecar read once per finished job (cached), the message and rerun button for a job
that ran before scores were recorded, and the score filter of the Stragglers page.
The pure parts live in engine.analysis.score_table, engine.analysis.score_comparison and
engine.figures.scores."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import streamlit as st

from . import analysis_ui as ui

from engine.figures.scores import hardness_label, label
from engine.training.scores import HARDER, SCORES

NONE = "none"


def no_scores(store, job: dict) -> None:
    """What to do about a run without scores: rerun it (same options, same id)."""
    st.info(f"Run #{job['id']} has no difficulty scores: it ran before they were recorded. Rerun it to get them "
            "(the same options; its epochs are recomputed).")
    if st.button("Rerun with scores", key="rerun-scores", type="primary"):
        from engine.jobs import queue
        queue.submit("run", job["config"], force=True, store=store)
        st.switch_page("pages/1_Run.py", query_params={"job": job["id"]})


def describe(meta: dict) -> str:
    """One line: which epochs and seeds the scores come from, how many seeds the
    straggler frequency is over, and how GraNd was computed."""
    seeds, k = meta["seeds"], meta["straggler_frequency_seeds"]
    frequency = f"straggler frequency over the {k} of {len(seeds)} seeds with an inversion" + (
        "" if k else " (undetermined: no seed shows one)")
    return (f"Means over {len(seeds)} seeds; {frequency}; trajectory scores over epochs 0 … {meta['epochs']}; "
            f"EL2N at epoch {meta['el2n_epoch']}; GraNd at epoch {meta['grand_epoch']}"
            f"{' (at initialisation)' if meta['grand_epoch'] == 0 else ''} by {meta['grand_method']}. Never-learned points "
            f"count T+1 forgetting events, first-correct epoch and presentations to learn (censored).")


def downloads(table: pd.DataFrame, meta: dict, job_id: int) -> None:
    c1, c2 = st.columns(2)
    c1.download_button("scores.csv", table.to_csv(index=False, lineterminator="\n", float_format="%.7g").encode(),
                       file_name=f"scores-job{job_id}.csv", mime="text/csv", key="dl-scores-csv", on_click="ignore",
                       help="one row per training point, as `python -m engine run --out` writes it")
    c2.download_button("scores.json", json.dumps(meta, indent=2).encode(), file_name=f"scores-job{job_id}.json",
                       mime="application/json", key="dl-scores-json", on_click="ignore",
                       help="formulas, the EL2N and GraNd epochs, seeds, versions, config hash and the comparison")


# --- the Stragglers page: sort and filter by any score -------------------------------------

def sorts(table) -> dict:
    """Sort option -> (column, ascending) for every score, hardest first."""
    if table is None:
        return {}
    return {hardness_label(n): (n, HARDER[n] < 0) for n in SCORES}


def with_scores(df: pd.DataFrame, table) -> pd.DataFrame:
    """The straggler table with every score column joined on the index."""
    if table is None:
        return df
    return df.merge(table[["index", *SCORES]], on="index", how="left")


def sort_by(df: pd.DataFrame, column: str, ascending: bool) -> pd.DataFrame:
    """Sorted by a score (NaN last), ties by index."""
    return df.sort_values([column, "index"], ascending=[ascending, True], kind="stable", na_position="last")


def filter_by(df: pd.DataFrame, column: str, lo: float, hi: float) -> pd.DataFrame:
    values = df[column].to_numpy(dtype=float)
    return df[(values >= lo - 1e-12) & (values <= hi + 1e-12)]


def score_filter(pick, bounds, df: pd.DataFrame, table) -> tuple[pd.DataFrame, str | None]:
    """A score (widget in `pick`) and a range (in `bounds`), kept in the URL as fscore,
    flo, fhi: (the rows inside it, the score's name or None)."""
    if table is None:
        return df, None
    name = ui.choice(pick, "filter by a difficulty score", [NONE, *SCORES], "fscore",
                     format_func=lambda n: label(n) if n != NONE else "no score filter")
    ui.set_qp(fscore=None if name == NONE else name)
    if name == NONE or not len(df):
        ui.set_qp(flo=None, fhi=None)
        return df, None
    values = df[name].to_numpy(dtype=float)
    values = values[np.isfinite(values)]
    lo_all, hi_all = (float(values.min()), float(values.max())) if len(values) else (0.0, 1.0)
    if hi_all <= lo_all:
        hi_all = lo_all + 1.0
    lo = ui.qp("flo", lo_all, float, lo=lo_all, hi=hi_all)
    hi = ui.qp("fhi", hi_all, float, lo=lo, hi=hi_all)
    lo, hi = bounds.slider(f"{label(name)} between", lo_all, hi_all, (lo, hi), key=f"frange-{name}")
    ui.set_qp(flo=None if lo == lo_all else lo, fhi=None if hi == hi_all else hi)
    return filter_by(df, name, lo, hi), name


def caption_extra(row, name: str | None) -> str:
    """' · confidence 0.412' for the score the gallery is sorted or filtered by."""
    if name is None or name not in row or not np.isfinite(row[name]):
        return ""
    return f" · {label(name)} {float(row[name]):.3g}"
