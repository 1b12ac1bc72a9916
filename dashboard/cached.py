"""Store reads cached across Streamlit reruns: the store object itself, and what a
finished job recorded (metrics frame, summary, artifacts).

A finished job never changes, but a failed or interrupted one can be resubmitted
and rerun under the same id, which gives it a new status and `finished` stamp: so
the cache key is (store path, job id, status, finished), and a queued or running
job is read fresh every time (it is still being written). Only the key logic is
pure (`stamp`); the rest is Streamlit's cache around store_access / engine.jobs.store.
"""
from __future__ import annotations

import streamlit as st

from . import store_access as sa
from engine.jobs import views


def stamp(job: dict | None) -> tuple | None:
    """(status, finished) of a job whose records can no longer change; None while it
    may still change (queued, running, or no finish time recorded)."""
    if job is None or job.get("status") not in sa.FINISHED or job.get("finished") is None:
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
    """The metrics frame of a job (sa.frame), cached once it has finished."""
    key = stamp(job)
    return sa.frame(store, job["id"]) if key is None else _frame(str(store.path), int(job["id"]), key)


def summary(store, job: dict) -> dict:
    """store.summary of a job, cached once it has finished."""
    key = stamp(job)
    return store.summary(int(job["id"])) if key is None else _summary(str(store.path), int(job["id"]), key)


def artifact(store, job: dict, name: str, default=None):
    """store.get_artifact of a job, cached once it has finished (a missing one is `default`)."""
    key = stamp(job)
    value = store.get_artifact(int(job["id"]), name) if key is None else \
        _artifact(str(store.path), int(job["id"]), name, key)
    return default if value is None else value


def job_result(store, job: dict) -> dict | None:
    """The result dict an experiment job returned (stored as the artifact "result")."""
    return artifact(store, job, "result")
