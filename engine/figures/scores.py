"""Figures of the Scores page as pure functions of the scores table
(engine.analysis.score_table.frame) and its comparison (engine.analysis.score_comparison.compare).

Every trace carries `meta` so tests find it without reading legends; the data map's
points carry [index, class, straggler frequency] as customdata, which is also what a
box or lasso selection hands back (dashboard.selection).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from engine.training.scores import HARDER

from .style import OKABE_ITO, layout

LABELS = {"straggler_frequency": "straggler frequency", "forgetting_events": "forgetting events",
          "first_correct_epoch": "first-correct epoch", "presentations_to_learn": "presentations to learn",
          "confidence": "confidence", "variability": "variability",
          "correctness": "correctness", "aum": "AUM", "el2n": "EL2N", "grand": "GraNd"}
FREQUENCY_SCALE = "Viridis"  # perceptually uniform, readable with colour-vision deficiencies


def label(name: str) -> str:
    return LABELS.get(name, name)


def data_map_figure(table: pd.DataFrame, height: int = 540) -> go.Figure:
    """Dataset cartography (Swayamdipta et al. 2020): variability x confidence of every
    training point, coloured by straggler frequency; the most frequent stragglers drawn
    last (on top). Box and lasso select points."""
    rows = table.sort_values("straggler_frequency", kind="stable")
    known = bool(np.isfinite(rows["straggler_frequency"].to_numpy(dtype=float)).any())
    hover = ("#%{customdata[0]} · class %{customdata[1]} · straggler in %{customdata[2]:.0%} of the seeds with "
             "an inversion<br>" if known else "#%{customdata[0]} · class %{customdata[1]} · no seed shows an "
             "inversion<br>") + "confidence %{y:.3f} · variability %{x:.3f}<extra></extra>"
    # no seed with an inversion: the frequency is undetermined (NaN), drawn in one grey, not as 0
    marker = (dict(color=rows["straggler_frequency"], colorscale=FREQUENCY_SCALE, cmin=0, cmax=1,
                   colorbar=dict(title="straggler<br>frequency", tickformat=".0%")) if known
              else dict(color="grey"))
    fig = go.Figure(go.Scattergl(
        x=rows["variability"], y=rows["confidence"], mode="markers", meta="points", name="training points",
        customdata=rows[["index", "class", "straggler_frequency"]].to_numpy(), hovertemplate=hover,
        marker=dict(**marker, size=5, opacity=0.8)))
    for text, x, y in (("easy to learn", 0.02, 0.98), ("ambiguous", 0.5, 0.5), ("hard to learn", 0.02, 0.02)):
        fig.add_annotation(x=x, y=y, xref="paper", yref="paper", text=text, showarrow=False,
                           font=dict(color="grey"), xanchor="left" if x < 0.5 else "center")
    layout(fig, title="Data map: every training point, by its trajectory", x="variability (std of p(true label))",
           y="confidence (mean p(true label))", height=height)
    fig.update_layout(dragmode="lasso")
    return fig


def comparison_table(comparison: dict) -> pd.DataFrame:
    """One row per score: its AUROC for the consensus stragglers with the null's 95 %
    interval, and the overlap of its top-|S| with S against chance."""
    rows = [{"score": label(r["score"]), "harder = ": r["harder"], "points": r["points"], "AUROC": r["auroc"],
             "null 95% low": r["null_low"], "null 95% high": r["null_high"],
             "top-|S| ∩ S": r["top_overlap"], "fraction of |S|": r["top_overlap_fraction"],
             "chance ∩": r["chance_overlap"]} for r in comparison["scores"]]
    return pd.DataFrame(rows)


def _num(v) -> float:
    return float("nan") if v is None else float(v)


def auroc_figure(comparison: dict, height: int = 360, title: str | None = None) -> go.Figure:
    """AUROC of each score (oriented so that larger = harder) with the null's 95 %
    interval around 0.5: a bar outside it predicts the stragglers better than chance.
    Bars lie down: eight score names read in full beside them, not cut under them."""
    rows = comparison["scores"]
    names = [label(r["score"]) for r in rows]
    auc = np.array([_num(r["auroc"]) for r in rows])
    low, high = np.array([_num(r["null_low"]) for r in rows]), np.array([_num(r["null_high"]) for r in rows])
    fig = go.Figure(go.Bar(y=names, x=auc, orientation="h", meta="auroc", name="AUROC", marker_color=OKABE_ITO[0],
                           text=[f"{a:.2f}" for a in auc], textposition="outside"))
    fig.add_trace(go.Scatter(y=names, x=np.full(len(rows), 0.5), mode="markers", meta="null",
                             name="no better than chance (95 %)", marker=dict(color="grey", symbol="line-ns-open",
                                                                            size=14),
                             error_x=dict(type="data", array=high - 0.5, arrayminus=0.5 - low, color="grey")))
    layout(fig, title=title or f"Predicting the {comparison['n_stragglers']} consensus stragglers", x="AUROC",
           height=height)
    fig.update_xaxes(range=[0, 1.12])
    fig.update_yaxes(autorange="reversed", automargin=True)  # the first score on top, as in the table
    return fig


def overlap_figure(comparison: dict, height: int = 360) -> go.Figure:
    """|top-|S| of each score ∩ S| / |S|, beside what a random |S| points would share."""
    rows, m = comparison["scores"], comparison["n_stragglers"]
    names = [label(r["score"]) for r in rows]
    frac = [_num(r["top_overlap_fraction"]) for r in rows]
    chance = [_num(r["chance_overlap"]) / m if m else float("nan") for r in rows]
    fig = go.Figure(go.Bar(y=names, x=frac, orientation="h", meta="overlap", name="top-|S| ∩ S",
                           marker_color=OKABE_ITO[2], text=[f"{f:.0%}" for f in frac], textposition="outside"))
    fig.add_trace(go.Scatter(y=names, x=chance, mode="markers", meta="chance", name="random |S| points",
                             marker=dict(color="grey", symbol="line-ns-open", size=14, line=dict(width=2))))
    layout(fig, title=f"Each score's {m} hardest points that are stragglers", x="fraction of |S|", height=height)
    fig.update_xaxes(range=[0, 1.15], tickformat=".0%")
    fig.update_yaxes(autorange="reversed", automargin=True)
    return fig


def spearman_figure(comparison: dict, height: int = 460) -> go.Figure:
    """Spearman's rho between every pair of scores (raw values, not oriented)."""
    names = comparison["spearman"]["names"]
    rho = np.array(comparison["spearman"]["matrix"], dtype=float)
    labels = [label(n) for n in names]
    fig = go.Figure(go.Heatmap(z=rho, x=labels, y=labels, zmin=-1, zmax=1, colorscale="RdBu", meta="spearman",
                               text=np.vectorize(lambda v: "" if not np.isfinite(v) else f"{v:.2f}")(rho),
                               texttemplate="%{text}", hovertemplate="%{y} vs %{x}: ρ = %{z:.3f}<extra></extra>",
                               colorbar=dict(title="ρ")))
    layout(fig, title="Spearman correlation between the scores", height=height)
    fig.update_yaxes(autorange="reversed")
    return fig


def hardness_label(name: str) -> str:
    """The sort option of a score, hardest first ('confidence (lowest first)')."""
    return f"{label(name)} ({'highest' if HARDER[name] > 0 else 'lowest'} first)"


def noise_table(detection: dict) -> pd.DataFrame:
    """Each score against the flipped labels: AUROC, its null interval, precision at k."""
    return pd.DataFrame([{"score": label(r["score"]), "AUROC": r["auroc"], "null 95 % low": r["null_low"],
                          "null 95 % high": r["null_high"], f"precision at k = {detection['k']}": r["precision_at_k"],
                          "points": r["points"]} for r in detection["scores"]])
