"""Store reads cached across Streamlit reruns: the store object itself, and what a
finished job recorded (metrics frame, summary, artifacts).

A finished job never changes, but a failed or interrupted one can be resubmitted
and rerun under the same id, which gives it a new status and `finished` stamp: so
the cache key is (store path, job id, status, finished), and a queued or running
job is read fresh every time (it is still being written). Only the key logic is
pure (`stamp`); the rest is Streamlit's cache around engine.jobs.store and views.

The analysis pages' heavier loads (a run's RunResult and Dataset, its straggler
table under a definition, its manifest, the raw images) are cached here too, under
the same key; a job that may still change has the key of its own row: while it
runs, `_key` gives its progress, so every new epoch is a new entry.
"""
from __future__ import annotations

import json

import numpy as np
import streamlit as st

from engine.jobs import views
from engine.jobs.store import FINISHED


def stamp(job: dict | None) -> tuple | None:
    """(status, finished) of a job whose records can no longer change; None while it
    may still change (queued, running, or no finish time recorded)."""
    if job is None or job.get("status") not in FINISHED or job.get("finished") is None:
        return None
    return job["status"], float(job["finished"])


@st.cache_resource(show_spinner=False)
def _store(path: str):
    from engine.jobs.store import Store
    return Store(path)


def open_store():
    """The store of $STRAGGLERS_RUNS (or <repo>/runs): one object per file and process,
    shared by every session (a Store opens one SQLite connection per thread)."""
    from engine.jobs.store import default_path
    return _store(str(default_path()))


# a long run's frame is large (seeds x epochs rows): fewer of them are kept
@st.cache_data(max_entries=8, show_spinner=False)
def _frame(path: str, job_id: int, stamp: tuple):
    return _store(path).metrics_frame(job_id)


@st.cache_data(max_entries=32, show_spinner=False)
def _summary(path: str, job_id: int, stamp: tuple):
    return views.summary(_store(path), job_id)


@st.cache_data(max_entries=64, show_spinner=False)
def _artifact(path: str, job_id: int, name: str, stamp: tuple):
    return _store(path).get_artifact(job_id, name)


def frame(store, job: dict):
    """The metrics frame of a job, cached once it has finished."""
    key = stamp(job)
    return store.metrics_frame(int(job["id"])) if key is None else _frame(str(store.path), int(job["id"]), key)


def summary(store, job: dict) -> dict:
    """engine.jobs.views.summary of a job, cached once it has finished."""
    key = stamp(job)
    return views.summary(store, int(job["id"])) if key is None else _summary(str(store.path), int(job["id"]), key)


def artifact(store, job: dict, name: str, default=None):
    """store.get_artifact of a job, cached once it has finished (a missing one is `default`)."""
    key = stamp(job)
    value = store.get_artifact(int(job["id"]), name) if key is None else \
        _artifact(str(store.path), int(job["id"]), name, key)
    return default if value is None else value


def job_result(store, job: dict) -> dict | None:
    """The result dict an experiment job returned (stored as the artifact "result")."""
    return artifact(store, job, "result")


def _key(job: dict) -> tuple:
    """stamp(job), or for a job still being written the progress it has reached."""
    return stamp(job) or ("active", job.get("status"), job.get("epoch"), job.get("started"))


@st.cache_resource(max_entries=4, show_spinner="Reading the run from the store…")
def _run_data(path: str, job_id: int, stamp: tuple) -> tuple:
    from engine.analysis.stragglers import learned_epoch
    store = _store(path)
    result = store.result(job_id)
    data = views.dataset(store, job_id)
    return result, data, learned_epoch(result)


def run_data(store, job: dict) -> tuple:
    """(RunResult, Dataset, learned epoch per point) of a finished run, cached per job."""
    return _run_data(str(store.path), int(job["id"]), _key(job))


@st.cache_resource(max_entries=4, show_spinner="Loading the images…")
def _raw_images(dataset: str, version) -> tuple:
    from engine.data.sources import load_raw
    raw = load_raw(dataset)
    return raw.x_train, float(np.max(raw.x_train)) if raw.x_train.size else 255.0


def raw_images(dataset: str) -> tuple:
    """(x_train of the dataset's training split, its maximum pixel value), cached per
    dataset and version: an upload can be replaced under the same name, and is then
    read again (engine.data.upload.data_version: its size and mtime; None for built-ins)."""
    from engine.data.upload import data_version
    return _raw_images(dataset, data_version(dataset))


@st.cache_data(max_entries=8, show_spinner=False)
def _manifest(path: str, job_id: int, stamp: tuple) -> dict:
    from engine.analysis.report import manifest
    result, data, _ = _run_data(path, job_id, stamp)
    return manifest(result, data, how=f"dashboard (Stragglers page), store {path}, job {job_id}")


def run_manifest(store, job: dict) -> dict:
    return _manifest(str(store.path), int(job["id"]), _key(job))


@st.cache_data(max_entries=16, show_spinner=False)
def _stragglers(path: str, job_id: int, stamp: tuple, definition_json: str) -> tuple:
    from . import gallery
    result, data, learned = _run_data(path, job_id, stamp)
    definition = json.loads(definition_json)
    S = gallery.sets(result, definition)
    df = gallery.table(result, data, definition, S=None if definition["mode"] == "t*" else S, learned=learned)
    return S, df


def stragglers(store, job: dict, definition: dict) -> tuple:
    """(S per seed (R, P), straggler table) of a run under a definition, cached."""
    return _stragglers(str(store.path), int(job["id"]), _key(job), json.dumps(definition, sort_keys=True))


@st.cache_data(max_entries=8, show_spinner=False)
def _run_summary(path: str, job_id: int, stamp: tuple) -> tuple:
    from . import gallery
    result, _, _ = _run_data(path, job_id, stamp)
    return gallery.inversion_means(result), gallery.sizes_by_epoch(result)


def run_summary(store, job: dict) -> tuple:
    """((mean t*, mean φ), |S(t)| per epoch) of a run, cached."""
    return _run_summary(str(store.path), int(job["id"]), _key(job))


def input_map_cached(store, job: dict, config: dict) -> bool:
    """Whether the t-SNE map of this run's inputs with these settings is in the cache
    (then an embed job does not compute it: its estimate says so)."""
    from engine.experiments import JOB_OPTIONS
    from engine.experiments.context import split
    from engine.experiments.embedding import map_is_cached
    cfg, opts = split(config, JOB_OPTIONS["embed"])
    return map_is_cached(cfg, run_data(store, job)[1], opts)
@st.cache_data(max_entries=8, show_spinner="Reading the scores…")
def _scores(path: str, job_id: int, stamp: tuple):
    from engine.analysis.score_comparison import compare
    from engine.analysis.score_table import frame, sidecar
    stored = views.scores(_store(path), job_id)
    if stored is None:
        return None, None, None
    result, data, _ = _run_data(path, job_id, stamp)
    table = frame(result, data, stored)
    comparison = compare(table)
    from engine.analysis.noise_detection import detect
    meta = sidecar(result, stored, comparison)
    meta["label_noise"] = detect(table)  # as scores.json has it: which score finds the flipped labels
    return table, comparison, meta


def scores(store, job: dict) -> tuple:
    """(scores table, comparison, scores.json dict) of a run; Nones when the job has no
    stored scores (it ran before they were recorded)."""
    return _scores(str(store.path), int(job["id"]), _key(job))



@st.cache_data(max_entries=16, show_spinner=False, ttl=60)
def dataset_size(name: str, fallback: int) -> int:
    """Training points of a data set, from its files' headers (an upload gone: `fallback`)."""
    from engine.data.inventory import shape
    try:
        return int(shape(name).n_train)
    except Exception:  # not there, unreadable: the run's own P is all that is known
        return int(fallback)
