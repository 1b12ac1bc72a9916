"""The data-selection benchmark's figure: test error against the kept fraction f,
one line per score and direction (solid: drop the hardest, dashed: drop the
easiest), the random control as a shaded band (mean ± 2σ over its seeds); every
line ends at f = 1 on the one full run."""
from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from engine.figures.scores import label
from engine.figures.style import OKABE_ITO, alpha, layout


def selection_frame(curves: list[dict]) -> pd.DataFrame:
    """One row per selector, direction and f; the full run copied to every line's f = 1."""
    df = pd.DataFrame(curves)
    full = df[df["selector"] == "all"]
    rest = df[df["selector"] != "all"]
    lines = rest[["selector", "direction"]].drop_duplicates()
    ends = [full.assign(selector=s, direction=d) for s, d in lines.itertuples(index=False)] if len(full) else []
    return pd.concat([rest, *ends], ignore_index=True).sort_values(["selector", "direction", "kept_fraction"])


def selection_figure(curves: list[dict], height: int = 420) -> go.Figure:
    df = selection_frame(curves)
    fig = go.Figure()
    rand = df[df["selector"] == "random"]
    if len(rand):
        lo, hi = rand["test_error_mean"] - 2 * rand["test_error_std"], rand["test_error_mean"] + 2 * rand["test_error_std"]
        fig.add_trace(go.Scatter(x=list(rand["kept_fraction"]) + list(rand["kept_fraction"])[::-1],
                                 y=list(hi) + list(lo)[::-1], fill="toself", line=dict(width=0), meta="random-band",
                                 fillcolor=alpha("#777777", 0.25), name="random subset (± 2σ)", hoverinfo="skip"))
        fig.add_trace(go.Scatter(x=rand["kept_fraction"], y=rand["test_error_mean"], mode="lines+markers",
                                 line=dict(color="#777777"), name="random subset", meta="random"))
    selectors = [s for s in dict.fromkeys(df["selector"]) if s != "random"]
    for k, s in enumerate(selectors):
        for d, dash in (("drop-hard", "solid"), ("drop-easy", "dash")):
            g = df[(df["selector"] == s) & (df["direction"] == d)]
            if len(g):
                fig.add_trace(go.Scatter(x=g["kept_fraction"], y=g["test_error_mean"], mode="lines+markers",
                                         line=dict(color=OKABE_ITO[k % len(OKABE_ITO)], dash=dash), meta=f"{s}|{d}",
                                         name=f"{label(s)}, {d}",
                                         error_y=dict(type="data", array=2 * g["test_error_std"], visible=True,
                                                      thickness=1)))
    layout(fig, x="kept fraction f", y="test error after retraining", height=height)
    fig.update_xaxes(autorange="reversed")  # from the whole set (left) to the smallest subset (right)
    return fig


def selection_table(curves: list[dict]) -> pd.DataFrame:
    df = pd.DataFrame(curves)
    return pd.DataFrame({"score": [label(s) if s not in ("all", "random") else s for s in df["selector"]],
                         "direction": df["direction"], "kept fraction": df["kept_fraction"], "kept": df["n_kept"],
                         "test error": df["test_error_mean"], "± 2σ": 2 * df["test_error_std"],
                         "seeds": df["seeds"], "inversion in": [(s or {}).get("present", 0) for s in df["states"]]})
