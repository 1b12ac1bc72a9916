"""Points picked with the box or the lasso, read from the event Streamlit's frontend
really sends: with plotly.js 6+ every array in it (a point's customdata, its
point_index) may come in plotly's typed-array encoding, {"dtype", "bdata", "shape"}."""
import base64

import numpy as np
import plotly.graph_objects as go

from dashboard.selection import class_counts, picked_indices


def typed(values, dtype="f8"):
    a = np.asarray(values, dtype=dtype)
    out = {"dtype": dtype, "bdata": base64.b64encode(a.tobytes()).decode()}
    if a.ndim > 1:
        out["shape"] = ", ".join(map(str, a.shape))
    return out


def event(points):
    return {"selection": {"points": points, "box": [], "lasso": [], "point_indices": []}}


def test_typed_array_customdata_of_a_box_selection_gives_the_indices():
    """The payload that raised TypeError (int() of a dict) in the browser: one row of a
    (n, 2) customdata per point, [index in the training split, score]."""
    rows = [[4123, 0.25], [17, 0.5], [4123, 0.25], [59999, 1.0]]
    points = [{"curve_number": 0, "point_index": i, "point_number": i, "x": 0.1, "y": 0.2,
               "customdata": typed(r)} for i, r in enumerate(rows)]
    assert picked_indices(event(points)) == [4123, 17, 59999]  # selection order, each once


def test_the_event_chromium_sends_a_typed_array_row_as_an_object_of_indices():
    """Captured from a box selection on the Scores page in headless Chromium."""
    points = [{"curve_number": 0, "point_number": i, "point_index": i, "x": 0.07, "y": 0.97,
               "customdata": {"0": idx, "1": i, "2": 0}, "marker_color": 0}
              for i, idx in enumerate([812, 3, 812, 40])]
    assert picked_indices(event(points)) == [812, 3, 40]


def test_integer_typed_arrays_plain_lists_and_numbers_all_read_the_same():
    points = [{"customdata": typed([7], "i4")}, {"customdata": [8, 0.3]}, {"customdata": 9},
              {"customdata": typed([[10, 1]], "u2")}]
    assert picked_indices(event(points)) == [7, 8, 9, 10]


def test_a_point_without_customdata_is_looked_up_in_the_figure_by_typed_point_index():
    n = 5000  # many points: a lasso over a whole class
    custom = np.stack([np.arange(n) * 3, np.linspace(0, 1, n)], 1)
    fig = go.Figure([go.Scattergl(x=np.arange(n), y=np.arange(n), customdata=custom)])
    picked = np.arange(0, n, 7)
    points = [{"curve_number": typed([0], "i1"), "point_index": typed([int(i)], "i4")} for i in picked]
    assert picked_indices(event(points), fig) == [int(i) * 3 for i in picked]


def test_nothing_selected_or_an_empty_event_is_no_points():
    assert picked_indices(None) == [] and picked_indices({}) == [] and picked_indices(event([])) == []
    assert picked_indices(event([{"customdata": typed([np.nan])}])) == []


def test_class_counts_of_the_selection():
    index_train = np.array([10, 11, 12, 13])
    classes = np.array([3, 3, 5, 5])
    c = class_counts([10, 12, 13], index_train, classes)
    assert c["selected"].tolist() == [1, 2] and c["points"].tolist() == [2, 2]
