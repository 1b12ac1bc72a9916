"""Figures of the Stability and scaling page (Fig. 2d, Fig. 3b/e) as pure functions of the
stability and scaling jobs' result dicts and artifacts; every trace carries `meta`."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .analysis import DATA_COLOUR, EPS_LABEL, FIT_COLOUR, _num, fmt_num
from .style import OKABE_ITO, alpha, layout


def z_figure(points: list[dict], best: dict | None = None, at_phi: dict | None = None,
             height: int = 360) -> go.Figure:
    """Fig. 2d: z-score of the overlap of S(t(ε)) across seeds vs ε, its maximum marked
    and z at ε = mean φ (the inversion) marked; below, the mean overlap ⟨M⟩ against the
    hypergeometric null ⟨M̂⟩."""
    df = pd.DataFrame(points).sort_values("epsilon")
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08, row_heights=[0.6, 0.4])
    fig.add_trace(go.Scatter(x=df["epsilon"], y=df["z"].map(_num), mode="lines+markers", name="z",
                             line=dict(color=OKABE_ITO[0], width=2), meta="z"), row=1, col=1)
    if best is not None and best.get("z") is not None:
        fig.add_trace(go.Scatter(x=[best["epsilon"]], y=[best["z"]], mode="markers+text", name="max z", meta="best",
                                 marker=dict(symbol="star", size=15, color=OKABE_ITO[1],
                                             line=dict(color="black", width=1)),
                                 text=[f"ε={best['epsilon']:.3g}"], textposition="bottom center"), row=1, col=1)
    if at_phi and at_phi.get("epsilon") is not None and math.isfinite(_num(at_phi.get("z"))):
        fig.add_trace(go.Scatter(x=[at_phi["epsilon"]], y=[at_phi["z"]], mode="markers", name="ε = mean φ (t*)",
                                 meta="phi", marker=dict(symbol="diamond", size=12, color="grey",
                                                         line=dict(color="black", width=1))), row=1, col=1)
    fig.add_trace(go.Scatter(x=df["epsilon"], y=df["overlap_mean"].map(_num), mode="lines+markers", name="⟨M⟩ overlap",
                             line=dict(color=OKABE_ITO[2]), meta="overlap"), row=2, col=1)
    fig.add_trace(go.Scatter(x=df["epsilon"], y=df["null_mean"].map(_num), mode="lines", name="⟨M̂⟩ null",
                             line=dict(color="grey", dash="dash"), meta="null"), row=2, col=1)
    fig.update_xaxes(type="log", row=1, col=1)
    fig.update_xaxes(type="log", title_text=EPS_LABEL, row=2, col=1)
    fig.update_yaxes(title_text="z", row=1, col=1)
    fig.update_yaxes(title_text="overlap M", row=2, col=1)
    return layout(fig, height=height + 120)


def stability_caption(result: dict, seeds: int) -> str:
    """The caption under Fig. 2d: the maximum z and z at t*. z needs a spread of the
    overlap over seed pairs, so with fewer than 3 seeds (at most one pair) it is
    undefined (stored as None) and is said to be, not formatted."""
    best, at = result.get("best") or {}, result.get("t_star") or {}
    why = "fewer than 3 seeds" if seeds < 3 else "no spread of the overlap across pairs of seeds"
    if math.isfinite(_num(best.get("z"))):
        head = (f"Maximum z = {fmt_num(best['z'])} at ε = {fmt_num(best.get('epsilon'), '.3g')} "
                f"(epoch ≈ {fmt_num(best.get('epoch'), '.0f')})")
    else:
        head = f"z undefined ({why}) at every ε"
    z_star = f"z = {fmt_num(at['z'])}" if math.isfinite(_num(at.get("z"))) else f"z undefined ({why})"
    phi = result.get("phi") or {}
    if phi.get("epsilon") is None:
        at_phi = "ε = mean φ: undetermined (no seed with an inversion)"
    else:
        z_phi = f"z = {fmt_num(phi['z'])}" if math.isfinite(_num(phi.get("z"))) else f"z undefined ({why})"
        at_phi = (f"at ε = mean φ = {fmt_num(phi['epsilon'], '.3g')}: {z_phi} (the grid's next ε is "
                  f"×{fmt_num(phi.get('resolution'), '.3f')} away; the maximum lies at "
                  f"{fmt_num(phi.get('best_within'), '.2f')} φ)")
    return f"{head}; {at_phi}; at each seed's own t*: {z_star}."


def matrix_from_rows(rows: list[dict]) -> tuple[np.ndarray, list[int]]:
    """The overlap_matrix_* artifact ({seed, seed_<s>: M}) back to (M, seeds)."""
    seeds = [int(r["seed"]) for r in rows]
    return np.array([[int(r[f"seed_{s}"]) for s in seeds] for r in rows]), seeds


def overlap_figure(M, seeds, title: str = "", height: int = 380) -> go.Figure:
    """The seed × seed overlap |S_i ∩ S_j| (the diagonal is |S_i|)."""
    M = np.asarray(M)
    labels = [str(s) for s in seeds]
    fig = go.Figure(go.Heatmap(z=M, x=labels, y=labels, colorscale="Cividis", meta="overlap",
                               colorbar=dict(title="|S_i ∩ S_j|"),
                               hovertemplate="seeds %{y} and %{x}: %{z} shared<extra></extra>"))
    fig.update_xaxes(constrain="domain")
    fig.update_yaxes(autorange="reversed", scaleanchor="x", constrain="domain")
    return layout(fig, title=title or None, x="seed j", y="seed i", height=height)


def phi_figure(result: dict, height: int = 380) -> go.Figure:
    """Fig. 3b: φ (mean ± sd over the seeds with an inversion) against P with the
    SEM-weighted fit of Eq. 12, φ(P) = φ∞ [1 − (P/P0)^(−γ)], and φ∞ ± 2σ (the
    paper's boxes; σ = max(bootstrap, fit standard error))."""
    from engine.experiments.scaling import phi_law
    pts = pd.DataFrame(result.get("points", []))
    fig = go.Figure()
    pts = pts.astype({c: float for c in ("phi_mean", "phi_std") if c in pts})  # None: no seed with an inversion
    fig.add_trace(go.Scatter(x=pts["n_train"], y=pts["phi_mean"], mode="markers", meta="data",
                             name="φ, mean ± 1σ (sd over the seeds with an inversion)",
                             error_y=dict(type="data", array=pts["phi_std"]), marker=dict(color=DATA_COLOUR, size=9)))
    phi_inf, P0, gamma = (_num(result.get(k)) for k in ("phi_inf", "P0", "gamma"))
    err = 2 * _num(result.get("phi_inf_err"))  # the paper's boxes are 2 sigma
    if all(np.isfinite([phi_inf, P0, gamma])):
        P = np.geomspace(max(P0 * 1.01, pts["n_train"].min() / 2), pts["n_train"].max() * 4, 200)
        fig.add_trace(go.Scatter(x=P, y=phi_law(P, phi_inf, P0, gamma), mode="lines", name="Eq. 12 fit", meta="fit",
                                 line=dict(color=FIT_COLOUR, width=2)))
        if np.isfinite(err):
            fig.add_hrect(y0=phi_inf - err, y1=phi_inf + err, fillcolor=alpha(FIT_COLOUR, 0.15), line_width=0)
        fig.add_hline(y=phi_inf, line=dict(color=FIT_COLOUR, dash="dash"),
                      annotation_text=f"φ∞ = {phi_inf:.4f}" + (f" ± {err:.4f} (2σ)" if np.isfinite(err) else ""),
                      annotation_position="bottom right")
    # a fit that ran to its bound (φ∞ far above the data) must not flatten the data
    top = float(np.nanmax(pts["phi_mean"] + pts["phi_std"])) if len(pts) else 1.0
    if np.isfinite(phi_inf) and phi_inf <= 3 * top:
        top = max(top, phi_inf + (err if np.isfinite(err) else 0.0))
    fig.update_yaxes(range=[0, 1.2 * top if top > 0 else 1.0])
    fig.update_xaxes(type="log")
    return layout(fig, x="training-set size P", y="φ", height=height)


def grid_figure(grid: list[dict], height: int = 340) -> go.Figure:
    """Fig. 3e: φ∞ on the depth × width grid (text: φ∞ ± 2σ, the paper's boxes)."""
    g = pd.DataFrame(grid)
    depths, widths = sorted(g["depth"].unique()), sorted(g["width"].unique())
    z = np.full((len(depths), len(widths)), np.nan)
    text = np.full(z.shape, "", dtype=object)
    for r in g.itertuples(index=False):
        i, j = depths.index(r.depth), widths.index(r.width)
        z[i, j] = _num(r.phi_inf)
        err = 2 * _num(r.phi_inf_err)  # 2 sigma, as the paper's boxes
        text[i, j] = f"{z[i, j]:.3f}" + (f"±{err:.3f}" if np.isfinite(err) else "") if np.isfinite(z[i, j]) else "n/a"
    fig = go.Figure(go.Heatmap(z=z, x=[str(w) for w in widths], y=[str(d) for d in depths], text=text,
                               texttemplate="%{text}", colorscale="Cividis", colorbar=dict(title="φ∞"), meta="grid"))
    return layout(fig, x="width H", y="depth L", height=height)


def phi_caption(result: dict) -> str:
    """The fitted numbers of Eq. 12 in words, with a warning when the fit is not to be trusted."""
    phi_inf, err, P0, gamma = (_num(result.get(k)) for k in ("phi_inf", "phi_inf_err", "P0", "gamma"))
    if not np.isfinite(phi_inf):
        return "Eq. 12 could not be fitted to these sizes: try more sizes P, spread over a wider range."
    text = (f"φ∞ = {phi_inf:.4f} ± {err:.4f} (1σ; ± {2 * err:.4f} at 2σ, the paper's boxes), P0 = {P0:.3g}, "
            f"γ = {gamma:.3g}. σ is the larger of the bootstrap over seeds and the fit's standard error.")
    top = max((_num(p.get("phi_mean")) for p in result.get("points", [])), default=float("nan"))
    if phi_inf >= 0.999 or (np.isfinite(top) and phi_inf > 3 * top):
        text += " The fit ran to its bound (φ∞ far above the measured φ): these sizes do not constrain it yet."
    return text
