"""One look for every figure: the Okabe-Ito palette (colour-blind safe) and the
paper's symbols on the axes."""
from __future__ import annotations

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


def layout(fig, title: str | None = None, x: str | None = None, y: str | None = None, height: int = 360):
    fig.update_layout(title=title, height=height, margin=dict(l=50, r=20, t=40 if title else 10, b=40),
                      template="plotly_white", legend=dict(orientation="h", y=-0.2), colorway=OKABE_ITO)
    if x:
        fig.update_xaxes(title_text=x)
    if y:
        fig.update_yaxes(title_text=y)
    return fig
