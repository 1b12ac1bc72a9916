"""Streamlit pieces shared by the analysis pages (Stragglers, Map, Pruning,
Stability & scaling, Your data): the run picker bound to ?job=, query-param
defaults, an experiment job's launch button and live progress (polling only while
it runs), charts with the modebar download, tables with a CSV download.

The decisions (which job matches, what a config is) are pure functions at the
top; the rest draws.
"""
from __future__ import annotations

import json

import numpy as np

import streamlit as st

from . import notes
from . import store_access as sa
from .downloads import frame_csv
from .style import MODEBAR

POLL_S = 1.0


# --- pure -------------------------------------------------------------------------------------

def _same(value, other) -> bool:
    return json.dumps(value, sort_keys=True, default=str) == json.dumps(other, sort_keys=True, default=str)


def covers(job_config: dict, config: dict) -> bool:
    """The job was run with every setting of `config` (the device aside; options the
    job system filled in with their defaults do not matter)."""
    return all(k in job_config and _same(job_config[k], v) for k, v in config.items() if k != "device")


def matching_job(jobs: list[dict], config: dict, statuses=("done", "running", "queued")) -> dict | None:
    """The newest job whose config covers `config` and whose status is one of
    `statuses`, in that order of preference (done first, then active ones)."""
    same = [j for j in jobs if covers(j.get("config") or {}, config) and j.get("status") in statuses]
    for status in statuses:
        for j in sorted(same, key=lambda j: -int(j["id"])):
            if j["status"] == status:
                return j
    return None


def experiment_config(run_job: dict, **options) -> dict:
    """An experiment's flat config: the run's RunConfig fields plus its own options
    (None options left out, so the experiment's defaults apply)."""
    from engine.store import run_config
    base = run_config(run_job["config"]).to_dict()
    return {**base, **{k: v for k, v in options.items() if v is not None}}


def job_result(store, job_id) -> dict | None:
    """The result dict an experiment job returned (stored as the artifact "result")."""
    return store.get_artifact(int(job_id), "result")


# --- query params -------------------------------------------------------------------------------

def qp(name: str, default=None, cast=str):
    """A query param cast to a type, the default when absent or unreadable."""
    value = st.query_params.get(name)
    if value is None:
        return default
    try:
        return cast(value)
    except (TypeError, ValueError):
        return default


def qp_list(name: str, default: list, cast=int) -> list:
    values = st.query_params.get_all(name)
    if not values:
        return default
    out = []
    for v in values:
        for part in str(v).split(","):
            try:
                out.append(cast(part))
            except (TypeError, ValueError):
                pass
    return out or default


def set_qp(**values) -> None:
    """Write settings into the URL (lists comma-joined, None removes the key)."""
    for k, v in values.items():
        if v is None:
            st.query_params.pop(k, None)
            continue
        text = ",".join(str(x) for x in v) if isinstance(v, (list, tuple)) else str(v)
        if st.query_params.get(k) != text:
            st.query_params[k] = text


# --- widgets ------------------------------------------------------------------------------------

def pick_run(store, label: str = "Run") -> dict | None:
    """A finished run job picked from the store, ?job= as default and kept in the URL.
    Says what to do when there is none and returns None."""
    runs = sa.finished_runs(store)
    if not runs:
        st.info("No finished run in the store yet: start one on the **Run** page (or a preset on the home "
                "page), then come back.")
        return None
    ids = [int(j["id"]) for j in runs]
    wanted = qp("job", ids[0], int)
    if wanted not in ids:
        if qp("job") is not None:
            st.warning(f"Job {st.query_params.get('job')} is not a finished run in this store; showing the newest.")
        wanted = ids[0]
    labels = {int(j["id"]): sa.job_label(j) for j in runs}
    job_id = st.selectbox(label, ids, index=ids.index(wanted), format_func=labels.get, key="pick-job")
    set_qp(job=job_id)
    return next(j for j in runs if int(j["id"]) == job_id)


def run_page(name: str, title: str):
    """The top of every analysis page: its tab title, heading and teaching note, then
    the run to analyse. Returns (store, job); ends the script when there is no run."""
    st.set_page_config(page_title=f"{name} · Stragglers", layout="wide")
    st.title(title)
    notes.show(name)
    store = sa.open_store()
    job = pick_run(store)
    if job is None:
        st.stop()
    return store, job


def chart(fig, key: str) -> None:
    st.plotly_chart(fig, config=MODEBAR, key=key)


def table(df, name: str, key: str, **kw) -> None:
    """A table and its CSV download."""
    st.dataframe(df, hide_index=True, key=f"table-{key}", **kw)
    st.download_button("Table as CSV", frame_csv(df), file_name=f"{name}.csv", mime="text/csv",
                       key=f"csv-{key}", on_click="ignore")


def experiment(store, kind: str, config: dict, what: str, key: str, button: str = "Launch") -> dict | None:
    """The job of `kind` with exactly this config: returns it when done. Otherwise a
    launch button (nothing matching yet) or live progress polled every POLL_S while it
    runs (the page reruns once it ends); a failed one shows its error and can be relaunched."""
    jobs = sa.list_jobs(store, kind)
    job = matching_job(jobs, config)
    if job is not None and job["status"] == "done":
        return job
    if job is None:
        failed = matching_job(jobs, config, statuses=("failed", "interrupted", "cancelled"))
        if failed is not None:
            st.error(f"The last {kind} job with these settings (#{failed['id']}) {failed['status']}"
                     + (f": {failed['error']}" if failed.get("error") else "."))
        st.caption(what)
        if st.button(button, key=f"launch-{key}", type="primary"):
            from engine import jobs as jobs_mod
            try:
                jobs_mod.submit(kind, config, store=store)  # a failed one is rerun under its id
                sa.refresh(store)
            except Exception as e:  # a bad option, a missing dataset: a message, not a traceback
                st.error(f"Could not start the {kind} job: {e}")
                return None
            st.rerun()
        return None
    job_id = int(job["id"])

    @st.fragment(run_every=POLL_S)
    def live():
        now = sa.get_job(store, job_id)
        if now is None or not sa.is_active(now):
            st.rerun()
        from .live import status_line
        st.progress(sa.progress(now), text=f"{kind} job #{job_id}: {status_line(now)}")
        if st.button("Cancel", key=f"cancel-{key}"):
            sa.cancel(job_id, store)
            st.rerun()

    live()
    return None


# --- cached loads -------------------------------------------------------------------------------

@st.cache_resource(max_entries=4, show_spinner="Reading the run from the store…")
def _run_data(path: str, job_id: int, finished) -> tuple:
    from engine.stragglers import learned_epoch
    from engine.store import Store
    store = Store(path)
    result = store.result(job_id)
    data = store.dataset(job_id)
    return result, data, learned_epoch(result)


def run_data(store, job: dict) -> tuple:
    """(RunResult, Dataset, learned epoch per point) of a finished run, cached per job."""
    return _run_data(str(store.path), int(job["id"]), job.get("finished"))


@st.cache_resource(max_entries=4, show_spinner="Loading the images…")
def raw_images(dataset: str) -> tuple:
    """(x_train of the dataset's training split, its maximum pixel value)."""
    from engine.sources import load_raw
    raw = load_raw(dataset)
    return raw.x_train, float(np.max(raw.x_train)) if raw.x_train.size else 255.0


@st.cache_data(max_entries=8, show_spinner=False)
def _manifest(path: str, job_id: int, finished) -> dict:
    from engine.report import manifest
    result, data, _ = _run_data(path, job_id, finished)
    return manifest(result, data, how=f"dashboard (Stragglers page), store {path}, job {job_id}")


def run_manifest(store, job: dict) -> dict:
    return _manifest(str(store.path), int(job["id"]), job.get("finished"))


def choice(container, label: str, options: list, param: str, default=None, widget: str = "selectbox", **kw):
    """A selectbox/radio whose default comes from ?param= (matched as text), else `default`."""
    texts = [str(o) for o in options]
    wanted = st.query_params.get(param)
    index = texts.index(wanted) if wanted in texts else (options.index(default) if default in options else 0)
    return getattr(container, widget)(label, options, index=index, key=param, **kw)


@st.cache_data(max_entries=16, show_spinner=False)
def _stragglers(path: str, job_id: int, finished, definition_json: str) -> tuple:
    from . import gallery
    result, data, learned = _run_data(path, job_id, finished)
    definition = json.loads(definition_json)
    S = gallery.sets(result, definition)
    df = gallery.table(result, data, definition, S=None if definition["mode"] == "t*" else S, learned=learned)
    return S, df


def stragglers(store, job: dict, definition: dict) -> tuple:
    """(S per seed (R, P), straggler table) of a run under a definition, cached."""
    return _stragglers(str(store.path), int(job["id"]), job.get("finished"), json.dumps(definition, sort_keys=True))


@st.cache_data(max_entries=8, show_spinner=False)
def _run_summary(path: str, job_id: int, finished) -> tuple:
    from . import gallery
    result, _, _ = _run_data(path, job_id, finished)
    return gallery.inversion_means(result), gallery.sizes_by_epoch(result)


def run_summary(store, job: dict) -> tuple:
    """((mean t*, mean φ), |S(t)| per epoch) of a run, cached."""
    return _run_summary(str(store.path), int(job["id"]), job.get("finished"))
