"""Figures of the analysis pages (stragglers, map, pruning; stability and scaling are in
stability) as pure functions of the experiments' result dicts and artifacts.

Every trace carries `meta` (what it is: "stragglers", "random", "fit", ...) so
tests and pages can find it without relying on the legend text.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from engine.geometry.curves import METRICS

from .dynamics import MAX_POINTS, pick_epochs
from .style import INVERSION_BAND, METRIC_STYLE, OKABE_ITO, alpha, layout

# Ten classes need ten colours: Paul Tol's "muted" scheme, designed to stay
# distinguishable with colour-vision deficiencies (Okabe-Ito has only eight).
CLASS_COLOURS = ["#332288", "#88CCEE", "#44AA99", "#117733", "#999933",
                 "#DDCC77", "#CC6677", "#882255", "#AA4499", "#6F6F6F"]
EPS_LABEL = "training error ε"
FIT_COLOUR, DATA_COLOUR = OKABE_ITO[1], OKABE_ITO[0]


def _num(v) -> float:
    return float("nan") if v is None else float(v)


def fmt_num(v, spec: str = ".1f", missing: str = "n/a") -> str:
    """A number that may be None or NaN as text. The jobs' JSON stores NaN as None, so
    a result's numbers cannot go into an f-string format as they are; and a real 0.0
    must stay 0.0 (an `or` fallback would turn it into the placeholder)."""
    x = _num(v)
    return format(x, spec) if math.isfinite(x) else missing


def _thin(g: pd.DataFrame, column: str = "epoch", max_points: int = MAX_POINTS) -> pd.DataFrame:
    """At most max_points rows of `g`, sorted by `column` and spread evenly on a log
    axis (first and last kept), as the dynamics figures do: a retraining can run for
    100000 epochs. Only what is drawn is thinned; the stored curves stay whole."""
    g = g.sort_values(column, kind="stable")
    return g.iloc[pick_epochs(np.arange(len(g)), max_points, log=True)]


def _eps_band(fig, band, rows_cols=None, label: bool = True) -> None:
    """The inversion ε band (φ mean ± std of the base run) on log-ε axes."""
    if band is None:
        return
    lo, hi = (max(float(b), 1e-6) for b in band)
    if hi <= lo:
        lo, hi = lo / 1.1, hi * 1.1
    kw = dict(x0=lo, x1=hi, fillcolor=INVERSION_BAND, line_width=0, layer="below")
    if rows_cols:
        for r, c in rows_cols:
            fig.add_vrect(row=r, col=c, **kw)
    else:
        fig.add_vrect(**kw)
    if label:
        fig.add_annotation(x=math.log10(math.sqrt(lo * hi)), y=1, xref="x", yref="paper", text="φ (t*)",
                           showarrow=False, yanchor="bottom", font=dict(color="grey"))


def present_phi(summary: dict) -> list:
    """φ of the seeds whose inversion is present (report.summary)."""
    inv = summary["inversion"]
    return [p for p, ok in zip(inv["phi"]["per_seed"], inv.get("present", [])) if ok and p is not None]


def phi_band(phi) -> tuple[float, float] | None:
    """[mean - std, mean + std] of φ per seed (None without finite values)."""
    phi = np.asarray([p for p in (phi or []) if p is not None], dtype=float)
    phi = phi[np.isfinite(phi)]
    if not len(phi):
        return None
    m, s = float(phi.mean()), float(phi.std())
    return max(m - s, 1e-6), m + s


# --- stragglers -------------------------------------------------------------------------------

def class_counts_figure(cc: pd.DataFrame, height: int = 300) -> go.Figure:
    """Stragglers per original class, as a fraction of the class (count in the hover)."""
    fig = go.Figure(go.Bar(x=cc["class"].astype(str), y=cc["fraction"], customdata=cc[["stragglers", "points"]],
                           marker_color=[CLASS_COLOURS[int(c) % 10] for c in cc["class"]], meta="class_counts",
                           hovertemplate="class %{x}: %{customdata[0]} of %{customdata[1]} (%{y:.1%})<extra></extra>"))
    fig.update_yaxes(tickformat=".0%", rangemode="nonnegative")  # a fraction: never a negative axis
    return layout(fig, x="class", y="stragglers / class size", height=height)


def sizes_figure(per_epoch: pd.DataFrame, marker: float | None = None, x_label: str = "epoch t",
                 height: int = 280) -> go.Figure:
    """|S(t)| (mean over seeds) and the consensus count against t, the chosen t marked
    (at most MAX_POINTS epochs drawn, spread on the log axis)."""
    per_epoch = _thin(per_epoch, "x")
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=per_epoch["x"], y=per_epoch["mean"], name="|S(t)| mean over seeds", meta="mean",
                             line=dict(color=OKABE_ITO[0])))
    fig.add_trace(go.Scatter(x=per_epoch["x"], y=per_epoch["consensus"], name="consensus (≥ ½ seeds)",
                             meta="consensus", line=dict(color=OKABE_ITO[1], dash="dash")))
    if marker is not None:
        fig.add_vline(x=marker, line=dict(color="grey", dash="dot"))
    fig.update_xaxes(type="log")
    fig.update_yaxes(type="log")
    return layout(fig, x=x_label, y="points", height=height)


# --- map ------------------------------------------------------------------------------------

def map_figure(rows: pd.DataFrame, space: str = "inputs", height: int = 560) -> go.Figure:
    """t-SNE map coloured by the 10 classes; the stragglers drawn on top, outlined
    in black, their size growing with the consensus frequency. Hover: index, class,
    consensus. `space` "hidden" uses the hidden_x/hidden_y columns."""
    xc, yc = ("hidden_x", "hidden_y") if space == "hidden" else ("x", "y")
    fig = go.Figure()
    hover = "#%{customdata[0]} · class %{customdata[1]} · consensus %{customdata[2]:.0%}<extra></extra>"
    rest = rows[~rows["straggler"].astype(bool)]
    for c in sorted(rows["class"].unique()):
        g = rest[rest["class"] == c]
        fig.add_trace(go.Scattergl(x=g[xc], y=g[yc], mode="markers", name=f"class {c}", legendgroup=str(c),
                                   marker=dict(color=CLASS_COLOURS[int(c) % 10], size=5, opacity=0.6),
                                   customdata=g[["index", "class", "consensus"]].to_numpy(), hovertemplate=hover,
                                   meta="class"))
    s = rows[rows["straggler"].astype(bool)]
    fig.add_trace(go.Scattergl(
        x=s[xc], y=s[yc], mode="markers", name=f"stragglers ({len(s)})", meta="stragglers",
        marker=dict(color=[CLASS_COLOURS[int(c) % 10] for c in s["class"]], size=5 + 9 * s["consensus"].to_numpy(),
                    line=dict(color="black", width=1.2), opacity=0.95),
        customdata=s[["index", "class", "consensus"]].to_numpy(), hovertemplate=hover))
    fig.update_xaxes(showticklabels=False)
    fig.update_yaxes(showticklabels=False, scaleanchor="x")
    title = "t-SNE of the inputs" if space == "inputs" else "t-SNE of the hidden layer"
    layout(fig, title=title, x="t-SNE 1", y="t-SNE 2", height=height)
    fig.update_layout(legend=dict(itemsizing="constant"))
    return fig


def distance_figure(rows: pd.DataFrame, test: dict, space: str = "inputs", height: int = 320) -> go.Figure:
    """Distance to the centre of the own class, measured in the input space or the
    hidden layer (the map only draws): stragglers vs the rest (probability
    densities) with the one-sided Mann-Whitney p-value."""
    col = "hidden_distance" if space == "hidden" else "distance"
    strag = rows["straggler"].astype(bool)
    fig = go.Figure()
    for name, sel, colour in (("rest", ~strag, OKABE_ITO[5]), ("stragglers", strag, OKABE_ITO[1])):
        fig.add_trace(go.Histogram(x=rows.loc[sel, col], name=f"{name} ({int(sel.sum())})", meta=name,
                                   histnorm="probability density", marker_color=colour, opacity=0.6, nbinsx=40))
    p = test.get("p")
    text = f"Mann–Whitney (stragglers farther): p = {p:.2g}" if p is not None and np.isfinite(p) else "p: n/a"
    fig.update_layout(barmode="overlay")
    where = test.get("space") or ("the hidden layer" if space == "hidden" else "the input space")
    return layout(fig, title=text, x=f"distance to the class centre in {where} (not on the map)", y="density",
                  height=height)


# --- pruning -----------------------------------------------------------------------------------

def _variant_style(name: str, order: list[str]) -> dict:
    """full: black; S(t*) and its control: blue; each S(t) and its control: its own colour;
    every random control dashed."""
    if name == "full":
        return dict(color="#000000", dash="solid")
    base = "stragglers" if name in ("stragglers", "random") else name.replace("random_", "s_")
    pairs = [n for n in order if not n.startswith("random") and n != "full"]
    k = pairs.index(base) if base in pairs else 0
    colour = [OKABE_ITO[0], OKABE_ITO[2], OKABE_ITO[3], OKABE_ITO[4], OKABE_ITO[5]][k % 5]
    return dict(color=colour, dash="dash" if name.startswith("random") else "solid")


def variant_label(name: str) -> str:
    if name == "full":
        return "full training set"
    if name == "stragglers":
        return "without S(t*)"
    if name == "random":
        return "random, |S(t*)| removed"
    if name.startswith("s_t"):
        return f"without S(t={name[3:]})"
    if name.startswith("random_t"):
        return f"random, |S(t={name[8:]})| removed"
    return name


def prune_figure(curves: list[dict], variants: list[str] | None = None, height: int = 520) -> go.Figure:
    """Fig. 2a: R+, R-, D and the test error against epochs after retraining without
    S(t*) / S(t) (solid) and without random sets of the same size (dashed). `variants`
    None draws all of them, [] none; each curve is thinned to at most MAX_POINTS epochs
    spread on the log axis."""
    df = pd.DataFrame(curves)
    order = list(dict.fromkeys(df["variant"])) if len(df) else []
    variants = order if variants is None else [v for v in variants if v in order]
    panels = list(METRICS) + ["test_error"]
    fig = make_subplots(rows=2, cols=2, shared_xaxes=True, horizontal_spacing=0.09, vertical_spacing=0.1,
                        subplot_titles=[METRIC_STYLE[m][1] for m in panels])
    for k, m in enumerate(panels):
        r, c = divmod(k, 2)
        for v in variants:
            g = _thin(df[(df["variant"] == v) & (df["epoch"] > 0)].dropna(subset=[m]))
            st = _variant_style(v, order)
            fig.add_trace(go.Scatter(x=g["epoch"], y=g[m], mode="lines", name=variant_label(v), legendgroup=v,
                                     showlegend=k == 0, meta=v, line=dict(color=st["color"], dash=st["dash"],
                                                                          width=2)), row=r + 1, col=c + 1)
        fig.update_yaxes(title_text=METRIC_STYLE[m][1], row=r + 1, col=c + 1)
        fig.update_xaxes(type="log", row=r + 1, col=c + 1)
    for c in (1, 2):
        fig.update_xaxes(title_text="epoch t", row=2, col=c)
    return layout(fig, height=height)


def prune_table(variants: dict) -> pd.DataFrame:
    """One row per variant: removed points, seeds with an inversion and every seed's
    state (undetermined: still moving at the horizon), epochs trained, final errors."""
    from .dynamics import state_text
    rows = []
    for name, v in variants.items():
        pres = v.get("inversion_present", [])
        rows.append({"variant": variant_label(name), "key": name,
                     "removed (mean)": float(np.mean(v.get("n_removed", [0]))),
                     "inversion in": f"{sum(bool(p) for p in pres)}/{len(pres)} seeds",
                     "seeds": state_text(v["states"]) if v.get("states") else "",
                     "epochs": v.get("epochs"),
                     "inversion fraction": float(np.mean(pres)) if pres else float("nan"),
                     "final ε_tr": float(np.nanmean(np.asarray(v.get("final_train_error", [np.nan]), float))),
                     "final ε_test": float(np.nanmean(np.asarray(v.get("final_test_error", [np.nan]), float)))})
    return pd.DataFrame(rows)


def sweep_frame(points: list[dict]) -> pd.DataFrame:
    """One row per (ε, removal): the seed means (and std) the figures draw."""
    rows = []
    for p in points:
        for kind in ("stragglers", "random"):
            v = p[kind]
            row = {"epsilon": p["epsilon"], "removed": kind, "n_removed": v["n_removed"]}
            for m in list(METRICS) + ["train_error", "test_error"]:
                row[m], row[m + "_std"] = _num(v.get(m)), _num(v.get(m + "_std"))
            for s, e in v.get("noisy_test_error", {}).items():
                row[f"test_error_sigma_{s}"] = _num(e)
            rows.append(row)
    return pd.DataFrame(rows)


def _band_trace(x, lo, hi, colour, name, meta, legendgroup=None, showlegend=True):
    x = np.asarray(x, float)
    y = np.concatenate([np.asarray(hi, float), np.asarray(lo, float)[::-1]])
    return go.Scatter(x=np.concatenate([x, x[::-1]]), y=y, mode="lines", fill="toself", fillcolor=alpha(colour, 0.2),
                      line=dict(width=0), hoverinfo="skip", name=name, meta=meta, legendgroup=legendgroup,
                      showlegend=showlegend)


def sweep_geometry_figure(points: list[dict], band=None, height: int = 340) -> go.Figure:
    """Fig. 2b: asymptotic R+, R-, D after removing S(t(ε)) (line) vs a random set of
    the same size (shaded mean ± std), against ε; the inversion ε band in grey."""
    df = sweep_frame(points)
    fig = make_subplots(rows=1, cols=3, horizontal_spacing=0.08, subplot_titles=[METRIC_STYLE[m][1] for m in METRICS])
    for col, m in enumerate(METRICS, start=1):
        colour = METRIC_STYLE[m][0]
        r = df[df["removed"] == "random"].sort_values("epsilon")
        s = df[df["removed"] == "stragglers"].sort_values("epsilon")
        fig.add_trace(_band_trace(r["epsilon"], r[m] - r[m + "_std"], r[m] + r[m + "_std"], "#7F7F7F",
                                  "random removal (mean ± std)", "random", "random", col == 1), row=1, col=col)
        fig.add_trace(go.Scatter(x=s["epsilon"], y=s[m], mode="lines+markers", line=dict(color=colour, width=2),
                                 name=f"without S(t(ε)): {METRIC_STYLE[m][1]}", meta="stragglers"), row=1, col=col)
        fig.update_xaxes(type="log", title_text=EPS_LABEL, row=1, col=col)
        fig.update_yaxes(title_text=f"final {METRIC_STYLE[m][1]}", row=1, col=col)
    _eps_band(fig, band, [(1, c) for c in (1, 2, 3)], label=False)
    return layout(fig, height=height)


def sweep_test_figure(points: list[dict], sigmas: list, rows: list[dict] | None = None, band=None,
                      height: int = 380) -> go.Figure:
    """Fig. 2c: test error after removing S(t(ε)) against ε, one curve per input noise σ
    (line: stragglers removed; shaded: the random control, mean ± std over seeds from
    the per-seed rows when given, else its mean alone)."""
    df = sweep_frame(points)
    per_seed = pd.DataFrame(rows or [])
    fig = go.Figure()
    for k, sigma in enumerate(sigmas):
        key = f"test_error_sigma_{float(sigma)}"
        colour = OKABE_ITO[k % len(OKABE_ITO)]
        s = df[df["removed"] == "stragglers"].sort_values("epsilon")
        r = df[df["removed"] == "random"].sort_values("epsilon")
        if key not in df:
            continue
        if not per_seed.empty and key in per_seed:
            g = per_seed[per_seed["removed"] == "random"].groupby("epsilon")[key]
            stats = pd.DataFrame({"mean": g.mean(), "std": g.std(ddof=0)}).reindex(r["epsilon"].to_numpy())
            lo, hi = stats["mean"] - stats["std"], stats["mean"] + stats["std"]
        else:
            lo = hi = r[key]
        fig.add_trace(_band_trace(r["epsilon"], lo, hi, colour, "random removal (shaded, dotted)" if k == 0 else
                                  f"σ={sigma:g} random", f"random σ={sigma:g}", f"s{k}", k == 0))
        fig.add_trace(go.Scatter(x=r["epsilon"], y=r[key], mode="lines", line=dict(color=colour, dash="dot", width=1),
                                 name=f"σ={sigma:g} random", meta=f"random σ={sigma:g}", legendgroup=f"s{k}",
                                 showlegend=False))
        fig.add_trace(go.Scatter(x=s["epsilon"], y=s[key], mode="lines+markers", line=dict(color=colour, width=2),
                                 name=f"σ = {sigma:g}", meta=f"stragglers σ={sigma:g}", legendgroup=f"s{k}"))
    fig.update_xaxes(type="log")
    _eps_band(fig, band)
    return layout(fig, x=EPS_LABEL + " (at which S(t(ε)) is removed)", y="final ε_test", height=height)
