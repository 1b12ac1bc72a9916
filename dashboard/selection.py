"""Points picked on a scatter with the box or the lasso (st.plotly_chart with
on_select), shown as images with their class counts. The Scores page's data map and
the Map page's t-SNE share it: both put a point's index in the training split first
in its customdata.

`picked_indices` and `class_counts` are pure; `chart` and `show` draw.
"""
from __future__ import annotations

import base64

import numpy as np
import pandas as pd

PER_PAGE = 48


def decoded(value):
    """A value of a plotly event as numbers. plotly.py 6/7 sends a figure's arrays in
    plotly's typed-array encoding ({"dtype": "f8", "bdata": <base64>, "shape": "n, m"}),
    plotly.js then hands a point's row of them as a typed array, and Streamlit's
    frontend serialises that as an object {"0": v0, "1": v1, ...} (what Chromium sent
    here). No in-process test produces either; lists and plain numbers pass through."""
    if isinstance(value, dict) and value and all(str(k).isdigit() for k in value):
        return [value[k] for k in sorted(value, key=int)]
    if isinstance(value, dict) and "bdata" in value:
        array = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value.get("dtype", "f8")))
        shape = value.get("shape")
        if shape:
            dims = [int(s) for s in str(shape).split(",")] if isinstance(shape, str) else list(shape)
            array = array.reshape(dims)
        return array
    return value


def _first(data):
    """The first number of a point's customdata (its index in the training split)."""
    data = decoded(data)
    while isinstance(data, (list, tuple, np.ndarray)):
        if len(data) == 0:
            return None
        data = decoded(data[0])
    return data


def picked_indices(state, fig=None) -> list[int]:
    """Indices (in the training split) of the selected points, in selection order,
    each once. A point without customdata in the event is looked up in `fig` by its
    trace (curve_number) and position (point_index)."""
    selection = (state or {}).get("selection") or {}
    out = []
    for point in selection.get("points") or []:
        data = _first(point.get("customdata"))
        if data is None and fig is not None:
            trace = fig.data[int(_first(point.get("curve_number", 0)))]
            at = _first(point.get("point_index", point.get("point_number")))
            if at is not None and trace.customdata is not None:
                data = _first(decoded(trace.customdata)[int(at)])
        if data is None or not np.isfinite(float(data)):
            continue
        out.append(int(data))
    return list(dict.fromkeys(out))


def class_counts(indices, index_train: np.ndarray, classes_train: np.ndarray) -> pd.DataFrame:
    """Per original class: points selected, points of the class in the P-block, and the
    selected fraction of the class."""
    position = pd.Series(np.arange(len(index_train)), index=index_train)
    picked = classes_train[position.reindex(list(indices)).dropna().astype(int).to_numpy()]
    n = pd.Series(classes_train).value_counts().sort_index()
    s = pd.Series(picked, dtype="int64").value_counts().reindex(n.index, fill_value=0)
    return pd.DataFrame({"class": n.index.astype(int), "selected": s.to_numpy().astype(int),
                         "points": n.to_numpy().astype(int), "fraction of the class": s.to_numpy() / n.to_numpy()})


def chart(fig, key: str) -> list[int]:
    """The figure with box and lasso selection; returns the selected indices."""
    import streamlit as st

    from engine.figures.style import MODEBAR
    event = st.plotly_chart(fig, config=MODEBAR, key=key, on_select="rerun", selection_mode=("box", "lasso"))
    return picked_indices(event, fig)


def show(indices: list[int], data, key: str, what: str = "points") -> None:
    """The selected points as images (first PER_PAGE) with per-class counts; a hint
    when nothing is selected."""
    import streamlit as st

    from . import analysis_ui as ui
    from . import cached
    from .gallery import thumbnail
    if not indices:
        st.caption(f"Select {what} with the box or the lasso (toolbar above the chart) to see their images here.")
        return
    st.markdown(f"**{len(indices)} {what} selected**" + (f" (the first {PER_PAGE} shown)"
                                                         if len(indices) > PER_PAGE else ""))
    x_train, vmax = cached.raw_images(data.name)
    position = {int(i): p for p, i in enumerate(data.index_train)}
    shown = [i for i in indices if i in position][:PER_PAGE]
    st.image([thumbnail(x_train[i], vmax) for i in shown],
             caption=[f"#{i} · class {int(data.classes_train[position[i]])}" for i in shown], width=96)
    counts = class_counts(indices, data.index_train, data.classes_train)
    ui.table(counts, f"selection-{key}", key=f"selection-{key}", label="Class counts as CSV")
