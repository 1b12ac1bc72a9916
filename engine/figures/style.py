"""One look for every figure: the Okabe-Ito palette (colour-blind safe), the
paper's symbols on the axes, log axes labelled with readable numbers, and room
above subplot titles for plotly's toolbar."""
from __future__ import annotations

import math

import numpy as np

OKABE_ITO = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000"]

# metric -> (colour, axis label in the paper's symbols)
METRIC_STYLE = {
    "r_plus": ("#0072B2", "R₊"),
    "r_minus": ("#D55E00", "R₋"),
    "distance": ("#009E73", "D"),
    "train_error": ("#CC79A7", "ε_tr"),
    "test_error": ("#E69F00", "ε_test"),
    "loss": ("#000000", "loss"),
}
INVERSION_BAND = "rgba(128,128,128,0.25)"   # the grey band of Fig. 1b
MODEBAR = {"toImageButtonOptions": {"format": "svg"}, "displaylogo": False}  # PNG/SVG download


def alpha(hex_colour: str, a: float) -> str:
    """'#0072B2', 0.2 -> 'rgba(0,114,178,0.2)': a palette colour made translucent (bands)."""
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{a})"


TOOLBAR_PX = 30  # plotly's toolbar, drawn over the top of the figure: titles go below it
LEGEND_GAP_PX = 62  # tick labels and an axis title under the plot


def layout(fig, title: str | None = None, x: str | None = None, y: str | None = None, height: int = 360):
    """The common look, applied last: margins that keep the title and the subplot
    titles clear of the toolbar, readable log-axis ticks."""
    subplot_titles = any(a.yref == "paper" and a.yanchor == "bottom" for a in fig.layout.annotations)
    # the toolbar sits in the top margin, never over the data; a title and subplot titles below it
    top = TOOLBAR_PX + 10 + (30 if subplot_titles else 0) + (30 if title else 0)
    plot_px = max(height - top - 40, 100)
    fig.update_layout(title=dict(text=title, y=1 - TOOLBAR_PX / height, yanchor="top") if title else None,
                      height=height, margin=dict(l=50, r=20, t=top, b=40), template="plotly_white",
                      # the legend below the tick labels and the axis title, whatever the figure's height
                      legend=dict(orientation="h", y=-LEGEND_GAP_PX / plot_px, yanchor="top"), colorway=OKABE_ITO)
    if x:
        fig.update_xaxes(title_text=x)
    if y:
        fig.update_yaxes(title_text=y)
    readable_log_ticks(fig)
    return fig


def log_ticks(lo: float, hi: float) -> list[float]:
    """Tick values for a log axis from lo to hi: the decades when it spans three or
    more, else 1-2-5 steps; each labelled in full ('0.02', not a bare '2')."""
    if not (lo > 0 and hi >= lo and math.isfinite(hi)):
        return []
    a, b = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
    steps = (1,) if b - a > 3 else (1, 2, 5)
    ticks = [m * 10.0 ** e for e in range(a, b + 1) for m in steps]
    inside = [t for t in ticks if lo * (1 - 1e-9) <= t <= hi * (1 + 1e-9)]
    if len(inside) < 2:  # less than a decade: one tick below and one above as well
        below = [t for t in ticks if t < lo][-1:]
        above = [t for t in ticks if t > hi][:1]
        inside = below + inside + above
    return inside


def tick_text(v: float) -> str:
    """0.02 -> '0.02', 1000 -> '1000', 1e-05 -> '1e-5': the number as people write it."""
    text = f"{v:g}"
    return text.replace("e-0", "e-").replace("e+0", "e+")


def readable_log_ticks(fig) -> None:
    """Every log axis gets tick values and labels from the data drawn on it (plotly's
    own labels a log axis '1 2 5 10 2 5 100' and '5 2 0.1 5 2')."""
    axes = {k: v for k, v in fig.layout.to_plotly_json().items() if k[:5] in ("xaxis", "yaxis")}
    for name, ax in axes.items():
        if ax.get("type") != "log" or ax.get("tickvals") is not None:
            continue
        letter, suffix = name[0], name[5:]
        values = []
        for t in fig.data:
            if (getattr(t, f"{letter}axis", None) or letter) != letter + suffix:
                continue
            v = getattr(t, letter, None)
            if v is None:
                continue
            try:
                arr = np.asarray(v, dtype=float).ravel()
            except (TypeError, ValueError):
                continue
            values.append(arr[np.isfinite(arr) & (arr > 0)])
        data = np.concatenate(values) if values else np.array([])
        ticks = log_ticks(float(data.min()), float(data.max())) if data.size else []
        if ticks:
            fig.update_layout({name: dict(tickvals=ticks, ticktext=[tick_text(t) for t in ticks])})
