"""Shared by the analysis pages' AppTests: open a page on a store, read its figures'
data and the bytes behind its download buttons."""
from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402

from dashboard.figures_analysis import decode  # noqa: E402


def page(name: str, params: dict | None = None, timeout: float = 180) -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages" / name), default_timeout=timeout)
    at.query_params.update({k: str(v) for k, v in (params or {}).items()})
    return at.run()


def figures(at: AppTest) -> list[dict]:
    """The plotly figure specs of the page, in page order."""
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def traces(fig: dict, meta=None) -> list[dict]:
    return [t for t in fig["data"] if meta is None or t.get("meta") == meta]


def values(trace: dict, attr: str):
    return decode(trace.get(attr))


class Downloads:
    """Records what every st.download_button hands to the media storage, by file name."""

    def __init__(self, monkeypatch):
        self.files: dict[str, bytes] = {}
        real = MemoryMediaFileStorage.load_and_get_id

        def spy(storage, path_or_data, mimetype, kind, filename=None):
            if filename is not None and isinstance(path_or_data, bytes):
                self.files[filename] = path_or_data
            return real(storage, path_or_data, mimetype, kind, filename)

        monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", spy)


def select_points(at: AppTest, key: str, points: list[dict]) -> AppTest:
    """Rerun the page as the browser does after a box/lasso selection on the chart with
    this key: the chart's widget state is the selection event's JSON. `points` are
    plotly event points ({"curve_number", "point_index", "customdata", ...})."""
    from streamlit.proto.WidgetStates_pb2 import WidgetStates
    chart = next(c for c in at.get("plotly_chart") if getattr(c, "key", None) == key)
    states = WidgetStates()
    states.CopyFrom(at._tree.get_widget_states())
    state = states.widgets.add()
    state.id = chart.proto.id
    state.string_value = json.dumps({"selection": {"points": points,
                                                   "point_indices": [p["point_index"] for p in points],
                                                   "box": [{"x": [0, 1], "y": [0, 1]}], "lasso": []}})
    return at._run(states)
