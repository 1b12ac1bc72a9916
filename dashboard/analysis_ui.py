"""Streamlit pieces shared by the analysis pages (Stragglers, Map, Pruning,
Stability & scaling, Your data): the run picker bound to ?job=, query-param
defaults, an experiment job's launch button and live progress (polling only while
it runs), charts with the modebar download, tables with a CSV download.

The decisions (which job matches, what a config is) are pure functions at the
top; the rest draws.
"""
from __future__ import annotations

import json
import math

import numpy as np

import streamlit as st

from . import cached, estimates, notes
from . import jobs_view as jv
from .downloads import frame_csv
from .live import POLL_S
from engine.figures.style import MODEBAR

EMPTY = "none"  # an emptied list in the URL: "" would read back as absent, i.e. the default


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
    from engine.config import run_config
    base = run_config(run_job["config"]).to_dict()
    return {**base, **{k: v for k, v in options.items() if v is not None}}


def clamp(value, lo=None, hi=None):
    """`value` within [lo, hi] (either bound may be None)."""
    if lo is not None and value < lo:
        value = lo
    if hi is not None and value > hi:
        value = hi
    return value


# The largest whole number a browser's number holds exactly (JavaScript's
# Number.MAX_SAFE_INTEGER): Streamlit refuses a widget value beyond it with a traceback.
MAX_SAFE_INTEGER = 2**53 - 1
KIND_WORDS = {int: "whole number", float: "finite number"}
SHOWN_CHARS = 40  # of a hostile value in a warning: a link may carry kilobytes


def usable(text, cast=str):
    """`text` cast to a type, or None when no widget can hold it: unreadable ('²' is a
    digit to str.isdigit but not to int, '' and '1.5' are no whole numbers), not finite
    (1e309, nan) or a whole number beyond MAX_SAFE_INTEGER."""
    try:
        value = cast(text)
    except (TypeError, ValueError, OverflowError):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, int) and abs(value) > MAX_SAFE_INTEGER:
        return None
    return value


def parse_param(text, default=None, cast=str, lo=None, hi=None):
    """A query-param text cast to a type and clamped to [lo, hi]; the default (clamped
    too) when absent or not usable. Links are edited by hand, and a number outside a
    widget's bounds makes the widget raise instead of showing. A usable number outside
    [lo, hi] is clamped without a word: the bounds move under a link (fewer pages once
    a filter is set, another score's range)."""
    value = None if text is None else usable(text, cast)
    if value is None:
        value = default
    return value if value is None else clamp(value, lo, hi)


def shown_text(text) -> str:
    """A value from the URL as a warning may show it: cut short, and without the
    backticks that would let it out of its code span (and be read as markdown)."""
    text = str(text).replace("`", "'")
    return text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS] + "…"


def unusable_text(name: str, text, using, what: str = "value") -> str:
    """'`?lr=1e309` is not a usable finite number for Learning rate η; using 0.2.'"""
    return f"`?{name}={shown_text(text)}` is not a usable {what}; using {using}."


def unusable_parts_text(name: str, text, bad: list, what: str, none_left: bool) -> str:
    """'`?sizes=²,512`: ² is not a usable whole number; left out.'"""
    parts = ", ".join(shown_text(b) or "''" for b in bad[:5]) + (", …" if len(bad) > 5 else "")
    verb = "is" if len(bad) == 1 else "are"
    rest = "nothing usable is left, so the page's default is used" if none_left else "left out"
    return f"`?{name}={shown_text(text)}`: {parts} {verb} not a usable {what}; {rest}."


def unknown_choice_text(name: str, text, options: list, using) -> str:
    """'`?def=²` is not one of the choices (t*, epoch, error); using t*.'"""
    listed = ", ".join(map(str, options[:8])) + (", …" if len(options) > 8 else "")
    return f"`?{name}={shown_text(text)}` is not one of the choices ({listed}); using {using}."


# --- query params -------------------------------------------------------------------------------

def qp(name: str, default=None, cast=str, lo=None, hi=None, what: str | None = None):
    """?name= cast to a type and clamped to [lo, hi] (parse_param); a value that is
    there but not usable is named in a warning, and the default is used."""
    text = st.query_params.get(name)
    value = parse_param(text, default, cast, lo, hi)
    if text is not None and usable(text, cast) is None:
        st.warning(unusable_text(name, text, "the default" if value is None else value,
                                 what or KIND_WORDS.get(cast, "value")), icon=":material/link_off:")
    return value


def qp_list(name: str, default: list, cast=int) -> list:
    """?name=a,b,c as a list; EMPTY is the empty list, absent or unreadable the default.
    Empty parts ('1,,2') are skipped; the others that are not usable are named in a
    warning and left out."""
    values = st.query_params.get_all(name)
    if not values:
        return default
    if values == [EMPTY]:
        return []
    parts = [part.strip() for v in values for part in str(v).split(",") if part.strip()]
    out = [usable(part, cast) for part in parts]
    bad = [part for part, value in zip(parts, out) if value is None]
    out = [value for value in out if value is not None]
    if bad:
        st.warning(unusable_parts_text(name, ",".join(map(str, values)), bad, KIND_WORDS.get(cast, "value"),
                                       none_left=not out), icon=":material/link_off:")
    return out or default


def qp_subset(name: str, options: list, cast=int) -> list:
    """?name= as a subset of `options` (in the URL's order): all of them when absent or
    when none of its values is an option (a stale link), none for EMPTY."""
    wanted = qp_list(name, None, cast)
    if wanted is None:
        return list(options)
    if not wanted:
        return []
    return [v for v in wanted if v in options] or list(options)


def set_qp(**values) -> None:
    """Write settings into the URL (lists comma-joined, an empty one as EMPTY, None
    removes the key)."""
    for k, v in values.items():
        if v is None:
            st.query_params.pop(k, None)
            continue
        text = (",".join(str(x) for x in v) or EMPTY) if isinstance(v, (list, tuple)) else str(v)
        if st.query_params.get(k) != text:
            st.query_params[k] = text


# --- widgets ------------------------------------------------------------------------------------

def scaling_sizes(P: int, n_max: int, count: int = 4, smallest: int = 64) -> list[int]:
    """Sizes for Eq. 12 from a run of P points: P and its doublings up to the data set's
    n_max (the paper's fit uses 4096-32768; a quarter and a half of a small P give
    undetermined points and no fit), then halvings below P while fewer than `count`."""
    sizes = [P * 2 ** k for k in range(count) if P * 2 ** k <= n_max]
    while len(sizes) < count and sizes[0] // 2 >= smallest:
        sizes.insert(0, sizes[0] // 2)
    return sizes


def present_seeds(summary: dict | None) -> int:
    """How many seeds of a finished run show the inversion (0 for an unreadable summary)."""
    try:
        return int(sum(bool(p) for p in summary["inversion"]["present"]))
    except (TypeError, KeyError):
        return 0


def default_run(runs: list[dict], summary_of) -> dict | None:
    """The run a page opens on: the newest (runs are newest first) with an inversion
    in at least one seed, i.e. with a t*, stragglers and a phi to show; the newest
    when none has one. `summary_of(job)` -> its summary (None if unreadable)."""
    for j in runs:
        try:
            if present_seeds(summary_of(j)):
                return j
        except (LookupError, ValueError, OSError):
            continue
    return runs[0] if runs else None


def no_inversion_text(summary: dict) -> str | None:
    """In words, for a run where no seed shows the inversion (None where one does):
    the seeds' states, and that t*, phi and S(t*) are undetermined."""
    if present_seeds(summary):
        return None
    from engine.figures.dynamics import state_text
    inv = (summary or {}).get("inversion") or {}
    states = inv.get("states")
    if not states and isinstance(inv.get("state"), list):
        states = {s: inv["state"].count(s) for s in dict.fromkeys(inv["state"])}
    n = len(inv.get("present") or [])
    return (f"No seed of this run shows the inversion ({state_text(states or {'absent': n})}): t*, φ and the "
            f"stragglers S(t*) are undetermined. Pick a run with an inversion above, or train longer "
            f"(more epochs) or with a larger learning rate.")


def default_job_id(store, runs: list[dict]) -> int:
    """default_run's id, reading the stored summaries (cached)."""
    return int(default_run(runs, lambda j: cached.summary(store, j))["id"])


def pick_run(store, label: str = "Run") -> dict | None:
    """A finished run job picked from the store, ?job= as default and kept in the URL
    (without one: the newest run with an inversion, default_run). Says what to do when
    there is none and returns None; says so in words when the run has no inversion."""
    runs = jv.finished_runs(store)
    if not runs:
        st.info("No finished run in the store yet: start one on the **Run** page (or a preset on the home "
                "page), then come back.")
        return None
    ids = [int(j["id"]) for j in runs]
    wanted = parse_param(st.query_params.get("job"), None, int)  # its own warning below, in words
    if wanted not in ids:
        if qp("job") is not None:
            st.warning(f"Job {st.query_params.get('job')} is not a finished run in this store; showing the "
                       "newest with an inversion.")
        wanted = default_job_id(store, runs)
    labels = {int(j["id"]): jv.job_label(j) for j in runs}
    job_id = st.selectbox(label, ids, index=ids.index(wanted), format_func=labels.get, key="pick-job")
    set_qp(job=job_id)
    job = next(j for j in runs if int(j["id"]) == job_id)
    try:
        text = no_inversion_text(cached.summary(store, job))
    except (LookupError, ValueError, OSError):
        text = None
    if text:
        st.info(text, icon=":material/info:")
    return job


def run_page(name: str, title: str):
    """The top of every analysis page: its tab title, heading and teaching note, then
    the run to analyse. Returns (store, job); ends the script when there is no run."""
    st.set_page_config(page_title=f"{name} · Stragglers", layout="wide")
    st.title(title)
    notes.show(name)
    store = cached.open_store()
    job = pick_run(store)
    if job is None:
        st.stop()
    return store, job


def chart(fig, key: str) -> None:
    st.plotly_chart(fig, config=MODEBAR, key=key)


def shown(df):
    """The table as a reader sees it: a missing number (a size where no seed shows an
    inversion has no φ) is "–", never a literal "None"; columns without gaps are untouched."""
    out = df.copy()
    for col in out.columns:
        missing = out[col].isna()
        if missing.any():
            out[col] = [("–" if gap else f"{v:.4g}" if isinstance(v, float) else v)
                        for v, gap in zip(out[col].tolist(), missing)]
    return out


def table(df, name: str, key: str, label: str = "Table as CSV", hide=(), **kw) -> None:
    """A table and its CSV download (the same numbers; the CSV leaves a missing one
    empty); the download does not rerun the page. `hide`: columns the CSV keeps but the
    page does not show (what a row's label already says), so the rest fit the width."""
    order = [c for c in df.columns if c not in hide] if hide else None
    st.dataframe(shown(df), hide_index=True, key=f"table-{key}", column_order=order, **kw)
    st.download_button(label, frame_csv(df), file_name=f"{name}.csv", mime="text/csv", key=f"csv-{key}",
                       on_click="ignore")


def experiment(store, kind: str, config: dict, what: str, key: str, button: str = "Launch",
               hints: dict | None = None, executor: dict | None = None) -> dict | None:
    """The job of `kind` with exactly this config: returns it when done. Otherwise a
    launch button (nothing matching yet) under its estimate (engine.experiments.estimate,
    every phase counted; `hints` what only the page knows, e.g. a cached map), or live
    progress polled every POLL_S while it runs (the page reruns once it ends); a failed
    one shows its error and can be relaunched. `executor` (dashboard.executor_ui): where
    a launched job trains; None: here."""
    jobs = jv.list_jobs(store, kind)
    job = matching_job(jobs, config)
    if job is not None and job["status"] == "done":
        return job
    if job is None:
        failed = matching_job(jobs, config, statuses=("failed", "interrupted", "cancelled"))
        if failed is not None:
            st.error(f"The last {kind} job with these settings (#{failed['id']}) {failed['status']}"
                     + (f": {failed['error']}" if failed.get("error") else "."))
        st.caption(what)
        estimates.show(kind, config, store, **(hints or {}))
        if st.button(button, key=f"launch-{key}", type="primary"):
            from engine.jobs import queue
            try:
                from dashboard.executor_ui import with_executor
                queue.submit(kind, with_executor(config, executor), store=store)  # a failed one reruns under its id
                jv.refresh(store)
            except Exception as e:  # a bad option, a missing dataset: a message, not a traceback
                st.error(f"Could not start the {kind} job: {e}")
                return None
            st.rerun()
        return None
    follow(store, int(job["id"]), key, lambda now: f"{kind} job #{job['id']}: {jv.status_line(now)}")
    return None


def follow(store, job_id: int, key: str, text) -> None:
    """A job's progress bar with `text(job)`, polled every POLL_S, and its Cancel button;
    the page reruns once the job ends."""
    @st.fragment(run_every=POLL_S)
    def live():
        try:
            # as live.live_run does: a dead worker's job -> interrupted (else this would
            # poll a 'running' job forever); a queued job -> a worker
            jv.refresh(store)
        except Exception as e:
            st.warning(f"Could not check the workers: {e}")
        now = jv.get_job(store, job_id)
        if now is None or not jv.is_active(now):
            st.rerun()
        st.progress(jv.progress(now), text=text(now))
        if st.button("Cancel", key=f"cancel-{key}"):
            jv.cancel(job_id, store)
            st.rerun()

    live()


X_MODES = {"epoch": "epoch t (log)", "error": "training error ε"}


def inversion_controls(runs: dict, first: int | None = None) -> tuple[list[int], str]:
    """Which finished runs to overlay and the x axis, both kept in the URL
    (?jobs=3,5&x=error) so a reload or a shared link shows the same figure; without
    ?jobs=, `first` (the newest run with an inversion, default_run)."""
    wanted = qp_list("jobs", [], int)
    missing = [i for i in wanted if i not in runs]
    if missing:
        st.warning(f"`?jobs={shown_text(st.query_params.get('jobs'))}`: "
                   + (f"job {missing[0]} is not a finished run" if len(missing) == 1 else
                      f"jobs {', '.join(map(str, missing[:5]))} are not finished runs")
                   + " in this store; left out.", icon=":material/link_off:")
    default = [i for i in wanted if i in runs] or [first if first in runs else next(iter(runs))]
    c1, c2 = st.columns([3, 1])
    chosen = c1.multiselect("Finished runs", list(runs), default=default, key="jobs",
                            format_func=lambda i: jv.job_label(runs[i]))
    x_mode = choice(c2, "x axis", list(X_MODES), "x", widget="radio", format_func=X_MODES.get)
    st.query_params["jobs"] = ",".join(map(str, chosen))
    st.query_params["x"] = x_mode
    if not chosen:
        st.info("Pick at least one run.")
        st.stop()
    return chosen, x_mode


def choice(container, label: str, options: list, param: str, default=None, widget: str = "selectbox", **kw):
    """A selectbox/radio whose default comes from ?param= (matched as text), else
    `default`; a value that is none of the options is named in a warning."""
    texts = [str(o) for o in options]
    wanted = st.query_params.get(param)
    index = texts.index(wanted) if wanted in texts else (options.index(default) if default in options else 0)
    if wanted is not None and wanted not in texts and options:
        words = kw.get("format_func") or str
        st.warning(unknown_choice_text(param, wanted, [words(o) for o in options], words(options[index])),
                   icon=":material/link_off:")
    return getattr(container, widget)(label, options, index=index, key=param, **kw)


def qp_flag(name: str, default: bool = True) -> bool:
    """?name=1 or 0 (as the page writes a toggle into the URL); anything else is named
    in a warning, and the default is used."""
    text = st.query_params.get(name)
    if text in ("0", "1"):
        return text == "1"
    if text is not None:
        st.warning(unusable_text(name, text, "on" if default else "off", "setting (1 is on, 0 off)"),
                   icon=":material/link_off:")
    return default
