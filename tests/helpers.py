"""What the tests share: a real, small, finished job in a temporary store (for the
page tests and the browser test), opening a page with AppTest and reading what it
drew and what its download buttons hold.

    from helpers import seed_store
    store, job_id = seed_store(tmp_path)            # sets STRAGGLERS_RUNS=tmp_path

The job is written exactly as a worker writes it: jobs.submit queues it (with the
worker spawn suppressed), jobs.claim takes it in this process, engine.jobs.worker.execute
runs engine.run.run streaming every epoch into the store and stores the summary.

Defaults: digits (always there, no download), P = 512, 10 seeds, 60 epochs, CPU,
and eta = 1.0 instead of the paper's 0.2, so that the 60 epochs show a real
inversion (t* ~ 15) in every seed and hence real stragglers. Pass any RunConfig
field to change it. Each configuration is trained once per test session; later
calls get a copy of that store file (SQLite's backup), so every module still has a
store of its own.
"""
from __future__ import annotations

import atexit
import json
import os
import shutil
import sqlite3
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage

ROOT = Path(__file__).resolve().parent.parent

SMALL = dict(dataset="digits", n_train=512, seeds=10, epochs=60, device="cpu", lr=1.0)
# Overrides for edge cases, shared by several pages' tests through shared_store: two seeds
# (too few for a z-score) and more epochs than a figure draws (MAX_POINTS), still ~3 s.
TWO_SEEDS_LONG = dict(seeds=2, n_train=128, epochs=450)


@contextmanager
def _no_worker_spawn():
    """jobs.submit ends with refresh(), which would start a worker process that races
    this one for the job: suppressed while submitting."""
    from engine.jobs import queue as jobs
    real = jobs.refresh
    jobs.refresh = lambda *a, **k: 0
    try:
        yield
    finally:
        jobs.refresh = real


def run_job(store, kind: str, config: dict) -> int:
    """Queue a job and execute it here, synchronously, like a worker would."""
    from engine.jobs import queue as jobs
    from engine.jobs import worker
    with _no_worker_spawn():
        job_id = jobs.submit(kind, config, store=store)
    job = jobs.claim(store, cap=1, pid=os.getpid(), n_gpus=0)
    assert job is not None and job["id"] == job_id, f"could not claim job {job_id}: {job}"
    from engine.environment import torch_threads
    with torch_threads(1):  # a tiny problem
        worker.execute(store, job)
    final = store.get_job(job_id)
    assert final["status"] == "done", f"job {job_id} ended {final['status']}: {final.get('error')}"
    return job_id


def job_once(store, kind: str, config: dict) -> int:
    """run_job, or the finished job of that kind whose config has these values (a
    shared store outlives a test module; submitting the same job again would reuse it)."""
    for job in store.list_jobs(kind, status="done"):
        if all(job["config"].get(k) == v for k, v in config.items()):
            return int(job["id"])
    return run_job(store, kind, config)


_TEMPLATES: dict = {}  # overrides -> (store file trained once this session, job id)


def seed_store(tmp_path, **overrides):
    """(store, job_id): a Store in `tmp_path` (also exported as STRAGGLERS_RUNS, so the
    pages open the same one) holding one finished "run" job."""
    from engine.config import RunConfig
    from engine.jobs.store import Store
    tmp_path = Path(tmp_path)
    tmp_path.mkdir(parents=True, exist_ok=True)
    os.environ["STRAGGLERS_RUNS"] = str(tmp_path)
    config = RunConfig(**{**SMALL, **overrides}).validate()
    key = json.dumps(config.to_dict(), sort_keys=True)
    if config.dataset.startswith("user:"):  # an upload lives in one test's data folder: not shared
        store = Store(tmp_path / "store.sqlite")
        return store, run_job(store, "run", config.to_dict())
    if key not in _TEMPLATES:
        folder = tempfile.mkdtemp(prefix="stragglers-template-")
        atexit.register(shutil.rmtree, folder, True)
        template = Store(Path(folder) / "store.sqlite")
        _TEMPLATES[key] = (template.path, run_job(template, "run", config.to_dict()))
    path, job_id = _TEMPLATES[key]
    with sqlite3.connect(path) as src, sqlite3.connect(tmp_path / "store.sqlite") as dst:
        src.backup(dst)
    return Store(tmp_path / "store.sqlite"), job_id


# --- reading what a page drew ----------------------------------------------------------------

def figures(at) -> list[dict]:
    """The plotly figures an AppTest run drew, as dicts (the JSON sent to the browser), in page order."""
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def traces(fig: dict, meta=None) -> list[dict]:
    return [t for t in fig["data"] if meta is None or t.get("meta") == meta]


def values(trace: dict, key: str = "x"):
    """A trace's array as numpy: plotly >= 6 sends numpy arrays as typed arrays
    ({"dtype": "f8", "bdata": base64, "shape": "r, c"}), lists stay lists."""
    import base64

    import numpy as np
    v = trace.get(key)
    if isinstance(v, dict) and "bdata" in v:
        a = np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"]))
        shape = v.get("shape")
        if shape:
            a = a.reshape([int(s) for s in str(shape).strip("[]()").split(",")] if not isinstance(shape, (list, tuple))
                          else list(shape))
        return a
    return np.asarray(v if v is not None else [])


_SHARED: dict = {}


@contextmanager
def env_restored(name: str = "STRAGGLERS_RUNS"):
    """Put an environment variable back as it was (seed_store sets STRAGGLERS_RUNS)."""
    before = os.environ.get(name)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before


def shared_store(tmp_path_factory, monkeypatch, **overrides):
    """seed_store once per test session (and per set of overrides), for tests that only
    read it; STRAGGLERS_RUNS points at it for the calling test only (monkeypatch)."""
    key = tuple(sorted(overrides.items()))
    if key not in _SHARED:
        with env_restored():
            _SHARED[key] = seed_store(tmp_path_factory.mktemp("store"), **overrides)
    store, job_id = _SHARED[key]
    monkeypatch.setenv("STRAGGLERS_RUNS", str(store.path.parent))
    return store, job_id


def app_test(page: str, query: dict | None = None, timeout: float = 180):
    """AppTest of app.py or pages/<name>.py, run once with the given query params."""
    from streamlit.testing.v1 import AppTest
    at = AppTest.from_file(str(ROOT / page), default_timeout=timeout)
    for k, v in (query or {}).items():
        at.query_params[k] = str(v)
    return at.run()


def record_store_reads(monkeypatch, names=("result", "metrics_frame", "get_artifact")) -> list:
    """Patch engine.jobs.store.Store so every call of `names` is appended (by name) to the
    returned list: a page that reads a finished job from its cache leaves it empty."""
    from engine.jobs.store import Store
    reads = []
    for name in names:
        real = getattr(Store, name)
        monkeypatch.setattr(Store, name, lambda self, *a, _real=real, _name=name, **k:
                            reads.append(_name) or _real(self, *a, **k))
    return reads


def wait_until(predicate, timeout: float, what: str = "the condition", poll: float = 0.01):
    """predicate()'s first truthy value, polled every `poll` s; fails after `timeout` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


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


def select_points(at, key: str, points: list[dict]):
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
