"""Figures of the dynamics (Fig. 1 of the paper) as pure functions of DataFrames.

Input everywhere: a metrics frame as `Store.metrics_frame(job_id)` returns it,
columns seed, epoch, loss, train_error, test_error, r_plus, r_minus, distance,
one row per (seed, epoch) recorded so far. What is drawn is downsampled (at most
MAX_POINTS epochs per trace, per-seed lines only up to PER_SEED_MAX seeds);
what is stored never is.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from engine.geometry.curves import METRICS
from engine.geometry.inversion import STATES, inversion

from .style import INVERSION_BAND, METRIC_STYLE, OKABE_ITO, alpha, layout

MAX_POINTS = 400
PER_SEED_MAX = 20
EPOCH_LABEL = "epoch t"
ERROR_LABEL = "training error ε"


# --- data -----------------------------------------------------------------------------

def wide(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    """epoch x seed table of one column (NaN where a seed has no value). A scatter
    into a preallocated array: ~100x faster than pivot_table, which matters at 1 Hz."""
    if frame.empty:
        return pd.DataFrame()
    seeds, si = np.unique(frame["seed"].to_numpy(), return_inverse=True)
    epochs, ei = np.unique(frame["epoch"].to_numpy(), return_inverse=True)
    out = np.full((len(epochs), len(seeds)), np.nan)
    out[ei, si] = frame[column].to_numpy(dtype=float)
    return pd.DataFrame(out, index=pd.Index(epochs, name="epoch"), columns=pd.Index(seeds, name="seed"))


def mean_std(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    """Per epoch: mean and std over seeds (population std), and how many seeds."""
    w = wide(frame, column)
    if w.empty:
        return pd.DataFrame(columns=["mean", "std", "n"])
    out = pd.DataFrame({"mean": w.mean(axis=1), "std": w.std(axis=1, ddof=0), "n": w.notna().sum(axis=1)})
    return out[out["n"] > 0]


def pick_epochs(epochs, max_points: int = MAX_POINTS, log: bool = False) -> np.ndarray:
    """At most max_points of the given (sorted) epochs, evenly spread on a linear or
    log axis, always keeping the first and the last."""
    epochs = np.asarray(epochs)
    if len(epochs) <= max_points:
        return epochs
    if log:
        pos = np.unique(np.geomspace(1, len(epochs), max_points).round().astype(int) - 1)
        if len(pos) < max_points:  # the log grid repeats at the start: fill linearly
            rest = np.setdiff1d(np.arange(len(epochs)), pos)
            extra = rest[np.linspace(0, len(rest) - 1, max_points - len(pos)).round().astype(int)]
            pos = np.union1d(pos, extra)
    else:
        pos = np.unique(np.linspace(0, len(epochs) - 1, max_points).round().astype(int))
    return epochs[pos]


def inversion_stats(frame: pd.DataFrame) -> dict | None:
    """The verdict of what was recorded so far, seed by seed (engine.geometry.inversion
    on the partial curves): the states and their counts, the mean t* per metric over
    the seeds whose inversion is present (None where no such curve turned), the
    fraction of seeds present, phi per present seed. None before the first epoch (a
    seed with fewer epochs than engine.geometry.inversion.MIN_EPOCHS is undetermined, or
    diverged: a run that blew up at epoch 1 is judged too)."""
    if frame.empty:
        return None
    curves = {m: wide(frame, m) for m in METRICS}
    err, loss = wide(frame, "train_error"), wide(frame, "loss")
    epochs = err.index.to_numpy()
    invs = []
    for seed in err.columns:
        e = err[seed].to_numpy()
        if not np.isfinite(e).any():
            continue
        invs.append(inversion({m: curves[m][seed].to_numpy() for m in METRICS}, e, loss[seed].to_numpy()))
    if not invs:
        return None
    present = [i for i in invs if i.present]
    t_star = {m: _mean_or_none([epochs[i.t_star[m]] for i in present if i.t_star[m] is not None]) for m in METRICS}
    known = [t for t in t_star.values() if t is not None]
    return {"t_star": t_star, "present_fraction": len(present) / len(invs), "phi": [i.phi for i in present],
            "states": {s: sum(i.state == s for i in invs) for s in STATES},
            "more_epochs": max([i.more_epochs for i in invs if i.more_epochs is not None], default=None),
            "band": (min(known), max(known)) if known else None, "seeds": len(invs)}


def band_of(stats: dict | None, min_fraction: float = 0.5) -> tuple[float, float] | None:
    """The grey band [min, max of the mean t* of R+, R-, D over the seeds with an
    inversion] once at least `min_fraction` of the seeds show one; None before."""
    if stats is None or stats["band"] is None or stats["present_fraction"] < min_fraction:
        return None
    return stats["band"]


def inverted_fraction(summary: dict) -> float:
    """Fraction of a finished run's seeds with an inversion: from the per-seed states
    (summary["inversion"]["state"], "present" | "absent" | "undetermined" | "diverged")
    when the summary has them, else from the per-seed "present" flags."""
    inv = summary.get("inversion") or {}
    states = inv.get("state")
    flags = [s == "present" for s in states] if isinstance(states, list) else list(inv.get("present") or [])
    return float(np.mean(flags)) if flags else 0.0


def has_inversion(summary: dict, min_fraction: float = 0.5) -> bool:
    """Whether a finished run shows the inversion (in at least `min_fraction` of its
    seeds, as the live band): only then are its t* and its band drawn."""
    return inverted_fraction(summary) >= min_fraction


def summary_band(summary: dict) -> tuple[float, float] | None:
    """The grey band of a finished run from its summary (store.summary / report.summary):
    over the seeds with an inversion, None if there is none."""
    known = [t for t in mean_t_star(summary).values() if t is not None]
    return (min(known), max(known)) if known else None


def mean_t_star(summary: dict) -> dict:
    """metric -> mean t* over the seeds whose inversion is present (None: no such curve turned)."""
    inv = summary["inversion"]
    present = inv.get("present", [True] * len(summary["seeds"]))
    return {m: _mean_or_none([t for t, p in zip(inv["t_star"][m], present) if p and t is not None]) for m in METRICS}


def state_text(states: dict) -> str:
    """'present 18, undetermined 2' (the states that occur, in engine.geometry's order)."""
    return ", ".join(f"{s} {states[s]}" for s in STATES if states.get(s)) or "no seeds"


def _mean_or_none(values) -> float | None:
    return float(np.mean(values)) if len(values) else None


# --- traces ---------------------------------------------------------------------------------

def _mean_traces(stats: pd.DataFrame, epochs, colour: str, name: str, group: str, show_band: bool = True,
                 showlegend: bool = True) -> list[go.Scatter]:
    s = stats.loc[stats.index.intersection(epochs)]
    x = s.index.to_numpy()
    traces = []
    if show_band and len(s) > 1:
        lo, hi = s["mean"] - 2 * s["std"], s["mean"] + 2 * s["std"]
        traces.append(go.Scatter(
            x=np.concatenate([x, x[::-1]]), y=np.concatenate([hi.to_numpy(), lo.to_numpy()[::-1]]),
            fill="toself", fillcolor=alpha(colour, 0.18), line=dict(width=0), hoverinfo="skip",
            name=f"{name} ± 2σ", legendgroup=group, showlegend=False, meta="band"))
    traces.append(go.Scatter(x=x, y=s["mean"].to_numpy(), mode="lines", line=dict(color=colour, width=2.5),
                             name=name, legendgroup=group, showlegend=showlegend, meta="mean"))
    return traces


def _seed_traces(frame: pd.DataFrame, column: str, epochs, colour: str, group: str) -> list[go.Scatter]:
    """All the seeds of one metric as ONE trace, lines separated by gaps (NaN):
    a figure with 3 traces instead of 3 R draws and validates far faster."""
    w = wide(frame, column)
    if w.empty or w.shape[1] > PER_SEED_MAX:
        return []
    w = w.loc[w.index.intersection(epochs)]
    n, R = w.shape
    x = np.tile(np.append(w.index.to_numpy(dtype=float), np.nan), R)
    y = np.concatenate([np.append(w[s].to_numpy(), np.nan) for s in w.columns])
    return [go.Scatter(x=x, y=y, mode="lines", line=dict(color=colour, width=0.6), opacity=0.35, hoverinfo="skip",
                       showlegend=False, legendgroup=group, name=f"{R} seeds", meta="seed", connectgaps=False)]


def _drawn_epochs(frame: pd.DataFrame, log_x: bool, max_points: int) -> np.ndarray:
    epochs = np.sort(frame["epoch"].unique())
    if log_x:
        epochs = epochs[epochs > 0]  # epoch 0 (the initialisation) has no place on a log axis
    return pick_epochs(epochs, max_points, log=log_x)


# --- figures --------------------------------------------------------------------------------

def dynamics_figure(frame: pd.DataFrame, band: tuple[float, float] | None = None, log_x: bool = True,
                    per_seed: bool = True, max_points: int = MAX_POINTS, title: str | None = None,
                    height: int = 560) -> go.Figure:
    """Fig. 1b for one run: R+, R-, D and the train/test error vs epoch, mean over
    seeds with a 2-sigma band, thin per-seed lines (<= PER_SEED_MAX seeds), and the
    grey inversion band between the earliest and the latest mean t*."""
    fig = make_subplots(rows=2, cols=2, shared_xaxes=True, horizontal_spacing=0.08, vertical_spacing=0.1,
                        subplot_titles=[METRIC_STYLE[m][1] for m in METRICS] + ["ε_tr, ε_test"])
    epochs = _drawn_epochs(frame, log_x, max_points) if not frame.empty else np.array([])
    cells = [(1, 1), (1, 2), (2, 1), (2, 2)]
    for (row, col), metric in zip(cells, METRICS):
        colour, symbol = METRIC_STYLE[metric]
        if per_seed:
            for tr in _seed_traces(frame, metric, epochs, colour, metric):
                fig.add_trace(tr, row=row, col=col)
        for tr in _mean_traces(mean_std(frame, metric), epochs, colour, symbol, metric):
            fig.add_trace(tr, row=row, col=col)
        fig.update_yaxes(title_text=symbol, row=row, col=col)
    for metric in ("train_error", "test_error"):
        colour, symbol = METRIC_STYLE[metric]
        for tr in _mean_traces(mean_std(frame, metric), epochs, colour, symbol, metric):
            fig.add_trace(tr, row=2, col=2)
    fig.update_yaxes(title_text="ε", row=2, col=2)
    for row, col in cells:
        fig.update_xaxes(type="log" if log_x else "linear", row=row, col=col)
    for col in (1, 2):
        fig.update_xaxes(title_text=EPOCH_LABEL, row=2, col=col)
    if band is not None:
        add_band(fig, band, log_x)
    layout(fig, title=title, height=height)
    fig.update_layout(uirevision="dynamics")  # zoom survives live updates
    return fig


def add_band(fig: go.Figure, band: tuple[float, float], log_x: bool = False, label: str = "t*") -> None:
    """The grey inversion band on every panel (at least one epoch wide, so it shows)."""
    lo, hi = band
    if hi - lo < 1:
        lo, hi = lo - 0.5, hi + 0.5
    if log_x:
        lo = max(lo, 0.5)
    _vrect(fig, lo, hi, label, log_x)


def _vrect(fig: go.Figure, lo: float, hi: float, label: str = "", log_x: bool = False, colour: str | None = None,
           label_y: float = 1.0) -> None:
    """A band on every x axis of the figure (grey, or a run's colour when several are
    overlaid), as plain layout shapes (add_vrect with row="all" walks the whole
    subplot grid and is slow enough to matter at 1 Hz)."""
    axes = sorted(k for k in fig.layout.to_plotly_json() if k.startswith("xaxis")) or ["xaxis"]
    shapes, notes = list(fig.layout.shapes), list(fig.layout.annotations)
    fill = alpha(colour, 0.18) if colour else INVERSION_BAND
    for k, ax in enumerate(axes):
        ref = "x" + ax[5:]
        yref = "y" + ax[5:] + " domain"
        shapes.append(dict(type="rect", xref=ref, yref=yref, x0=lo, x1=hi, y0=0, y1=1, fillcolor=fill,
                           line_width=0, layer="below", name="inversion band"))
        if label and (k == 0 or colour):
            # shapes take data coordinates on a log axis, annotations its log10
            x = min(lo, hi)
            notes.append(dict(x=math.log10(x) if log_x else x, y=label_y, xref=ref, yref=yref, text=label,
                              showarrow=False, xanchor="left", yanchor="top", name="band label",
                              font=dict(color=colour or "grey", size=11)))
    fig.update_layout(shapes=shapes, annotations=notes)


def overlay_figure(frames: dict, summaries: dict, x_mode: str = "epoch", max_points: int = MAX_POINTS,
                   height: int = 420) -> go.Figure:
    """Several finished runs on one figure (Fig. 1b/3a): the mean R+, R-, D of each job
    (one colour per job), its t* markers and its band (grey for one run, the run's colour
    and its number when several are overlaid; none for a run without an inversion).
    x_mode "epoch" (log axis) or "error": x = the mean training error at each epoch (ε
    coordinates, growing to the right as on every page: training goes right to left)."""
    fig = make_subplots(rows=1, cols=3, horizontal_spacing=0.07,
                        subplot_titles=[METRIC_STYLE[m][1] for m in METRICS])
    for k, (label, frame) in enumerate(frames.items()):
        colour = OKABE_ITO[k % len(OKABE_ITO)]
        summ = summaries.get(label)
        err = mean_std(frame, "train_error")["mean"]
        for col, metric in enumerate(METRICS, start=1):
            stats = mean_std(frame, metric)
            if x_mode == "error":
                x_all = err.reindex(stats.index).to_numpy()
                keep = np.isfinite(x_all) & (x_all > 0)
                idx = pick_epochs(np.flatnonzero(keep), max_points)
                x, y = x_all[idx], stats["mean"].to_numpy()[idx]
            else:
                epochs = pick_epochs(stats.index[stats.index > 0].to_numpy(), max_points, log=True)
                x, y = epochs, stats.loc[epochs, "mean"].to_numpy()
            fig.add_trace(go.Scatter(x=x, y=y, mode="lines", line=dict(color=colour, width=2), name=label,
                                     legendgroup=label, showlegend=col == 1, meta="mean"), row=1, col=col)
            t = mean_t_star(summ)[metric] if summ is not None and has_inversion(summ) else None
            if t is not None:  # a marker only where that curve turned, in a run with an inversion
                te = int(round(t))
                ty = stats["mean"].get(te, np.nan)
                tx = err.get(te, np.nan) if x_mode == "error" else t
                marker = dict(color=colour, size=11, symbol="star", line=dict(color="black", width=1))
                hover = f"t*({METRIC_STYLE[metric][1]}) = {t:.1f}<extra>{label}</extra>"
                fig.add_trace(go.Scatter(x=[tx], y=[ty], mode="markers", marker=marker, name=f"t* {label}",
                                         legendgroup=label, showlegend=False, meta="t_star", hovertemplate=hover),
                              row=1, col=col)
            fig.update_yaxes(title_text=METRIC_STYLE[metric][1], row=1, col=col)
        band = summary_band(summ) if summ is not None and has_inversion(summ) else None
        if band is not None:
            lo, hi = band
            # each run's band in its colour, labelled with its job number when runs are overlaid
            tag = dict(label=label.split(" · ")[0], colour=colour, label_y=1 - 0.08 * k) if len(frames) > 1 else {}
            if x_mode == "error":
                # epochs -> mean training error; later epochs have lower error
                e_lo, e_hi = err.get(int(math.floor(lo)), np.nan), err.get(int(math.ceil(hi)), np.nan)
                if np.isfinite(e_lo) and np.isfinite(e_hi) and e_lo > 0 and e_hi > 0:
                    _vrect(fig, e_hi, e_lo, log_x=True, **tag)
            else:
                lo, hi = (lo - 0.5, hi + 0.5) if hi - lo < 1 else (lo, hi)
                _vrect(fig, max(lo, 0.5), hi, log_x=True, **tag)
    for col in (1, 2, 3):
        if x_mode == "error":
            fig.update_xaxes(type="log", title_text=ERROR_LABEL, row=1, col=col)  # ε grows to the right, as on
            # every page (Pruning, Stability): training goes from right to left here
        else:
            fig.update_xaxes(type="log", title_text=EPOCH_LABEL, row=1, col=col)
    return layout(fig, height=height)


def overlay_caption(summaries: dict, x_mode: str = "epoch") -> str:
    """What overlay_figure drew, in words: which runs have no inversion, hence no t*
    and no band, and how to read the ε axis."""
    several = len(summaries) > 1
    text = ("Mean over seeds; ★ the mean t* of each metric; band: from the earliest to the latest mean t*"
            + (", in each run's colour, labelled with its number." if several else " (grey)."))
    none = [f"{label.split(' · ')[0]} ({inverted_fraction(s):.0%} of its seeds)" for label, s in summaries.items()
            if not has_inversion(s)]
    if none:
        text += (f" No inversion in {', '.join(none)}: fewer than half of the seeds show one, so no t* and no band "
                 "are drawn for " + ("them." if len(none) > 1 else "it."))
    if x_mode == "error":
        text += " x: the mean training error ε at each epoch, growing to the right (training goes right to left)."
    return text


def initial_final(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per seed and moment (epoch 0, last epoch): R+, R-, D (Fig. 1a)."""
    if frame.empty:
        return pd.DataFrame(columns=["seed", "moment", "epoch", *METRICS])
    last = int(frame["epoch"].max())
    sub = frame[frame["epoch"].isin([0, last])][["seed", "epoch", *METRICS]].copy()
    sub["moment"] = np.where(sub["epoch"] == 0, "initial (t = 0)", f"final (t = {last})")
    return sub.sort_values(["epoch", "seed"]).reset_index(drop=True)


def initial_final_figure(frames: dict, height: int = 380) -> go.Figure:
    """Fig. 1a: R+ vs R- (one point per seed; open = epoch 0, filled = last epoch)
    and the histogram of D at the same two moments, one colour per job."""
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.12,
                        subplot_titles=["R₊ vs R₋ (one point per seed)", "D: epoch 0 vs last"])
    for k, (label, frame) in enumerate(frames.items()):
        colour = OKABE_ITO[k % len(OKABE_ITO)]
        d = initial_final(frame)
        lo, hi = (float(d["distance"].min()), float(d["distance"].max())) if len(d) else (0.0, 1.0)
        bins = dict(start=lo, end=hi + 1e-9, size=max(hi - lo, 1e-6) / 30)  # the same bins for both moments
        for moment, g in d.groupby("epoch", sort=True):
            name = g["moment"].iloc[0]
            initial = moment == 0
            fig.add_trace(go.Scatter(
                x=g["r_plus"], y=g["r_minus"], mode="markers", name=f"{label}: {name}",
                legendgroup=f"{label}{moment}",
                marker=dict(color="white" if initial else colour, size=8, symbol="circle",
                            line=dict(color=colour, width=1.5)), meta="scatter"), row=1, col=1)
            fig.add_trace(go.Histogram(
                x=g["distance"], name=f"{label}: {name}", legendgroup=f"{label}{moment}", showlegend=False,
                marker=dict(color=colour, pattern=dict(shape="/" if initial else "")), opacity=0.45 if initial else 0.8,
                xbins=bins, meta="hist"), row=1, col=2)
    fig.update_xaxes(title_text="R₊", row=1, col=1)
    fig.update_yaxes(title_text="R₋", row=1, col=1)
    fig.update_xaxes(title_text="D", row=1, col=2)
    fig.update_yaxes(title_text="seeds", row=1, col=2)
    fig.update_layout(barmode="overlay")
    return layout(fig, height=height)


# --- tables ---------------------------------------------------------------------------------

def phi_table(summaries: dict) -> pd.DataFrame:
    """One row per job: the seeds' states, phi (mean, std over the seeds with an
    inversion, and how many), mean t* per metric over them, stragglers per seed,
    consensus stragglers, final errors. "undetermined" (None) where no seed has one."""
    rows = []
    for label, s in summaries.items():
        inv, st_ = s["inversion"], s["stragglers"]
        t = mean_t_star(s)
        counts = [c for c in st_["count"] if c is not None]
        states = inv.get("states") or {"present": sum(inv["present"])}
        rows.append({
            "job": label,
            "inversion": state_text(states),
            "φ mean": inv["phi"]["mean"], "φ std": inv["phi"]["std"],
            "φ over": f"{sum(inv['present'])}/{len(inv['present'])} seeds",
            "t*(R₊)": t["r_plus"], "t*(R₋)": t["r_minus"], "t*(D)": t["distance"],
            "stragglers per seed": float(np.mean(counts)) if counts else None,
            "consensus stragglers": st_["consensus_count"],
            "final ε_tr": float(np.nanmean(np.asarray(s["final"]["train_error"], dtype=float))),
            "final ε_test": float(np.nanmean(np.asarray(s["final"]["test_error"], dtype=float))),
            "epochs": s["epochs_done"], "P": s["n_train"], "seeds": len(s["seeds"]),
        })
    return pd.DataFrame(rows)


def phi_per_seed(summaries: dict) -> pd.DataFrame:
    """One row per job and seed: its state, phi and t* of each metric (None where that
    curve did not turn), whether the inversion is present, its stragglers."""
    rows = []
    for label, s in summaries.items():
        inv = s["inversion"]
        states = inv.get("state") or ["present" if p else "absent" for p in inv["present"]]
        for r, seed in enumerate(s["seeds"]):
            rows.append({"job": label, "seed": seed, "state": states[r], "φ": inv["phi"]["per_seed"][r],
                         **{f"t*({METRIC_STYLE[m][1]})": inv["t_star"][m][r] for m in METRICS},
                         "inversion": bool(inv["present"][r]), "stragglers": s["stragglers"]["count"][r]})
    return pd.DataFrame(rows)
