"""Live views: a fragment that polls the store about once a second while a job is
queued or running, and stops polling when it ends (run_every is decided from the
job's status at render; the fragment reruns the whole page when the status
changes, which re-decides it). Nothing here loops: Streamlit schedules the reruns.

The text and numbers shown are computed by pure functions (`status_line`,
`band_caption`) so tests can check them without a browser.
"""
from __future__ import annotations

import streamlit as st

from . import cached
from . import store_access as sa
from .figures_dynamics import band_of, dynamics_figure, inversion_stats
from .style import MODEBAR

POLL_S = 1.0  # seconds between polls of every live view (runs, the job list, experiment jobs)


def status_line(job: dict) -> str:
    """'running · epoch 42/150 · ETA 12 s · cpu' (what the progress bar says)."""
    parts = [job["status"],
             f"epoch {job.get('epoch') or 0}/{job.get('total') or '?'}"]
    if sa.is_active(job):
        if job["status"] == "queued" and job.get("queue_position"):
            parts.append(f"position {job['queue_position']} in the queue")
        parts.append(f"ETA {sa.fmt_seconds(job.get('eta_s'))}")
    elif job.get("seconds"):
        parts.append(f"took {sa.fmt_seconds(job['seconds'])}")
    if job.get("device"):
        parts.append(job["device"])
    return " · ".join(parts)


def poll_interval(job: dict | None) -> float | None:
    """run_every of a live fragment: poll while the job is queued or running, never after."""
    return POLL_S if sa.is_active(job) else None


def band_caption(stats: dict | None, band) -> str:
    """What the band means, in the verdict's words (engine.geometry), true both while a
    run goes on and once it has finished: never "yet"."""
    if stats is None:
        return "Waiting for the first epochs."
    states = ", ".join(f"{s} {n}" for s, n in stats["states"].items() if n)
    more = f" (about {stats['more_epochs']} epochs would likely tell)" if stats.get("more_epochs") else ""
    undecided = (f" Undetermined: curves still moving at the last recorded epoch{more}."
                 if stats["states"].get("undetermined") else "")
    if band is None:
        return (f"No inversion band: the inversion is present in {stats['present_fraction']:.0%} of the seeds "
                f"({states}; the band needs 50 %).{undecided}")
    t = {m: "–" if v is None else f"{v:.1f}" for m, v in stats["t_star"].items()}
    return (f"Inversion: mean t* over the seeds where it is present = {t['r_plus']} (R₊), {t['r_minus']} (R₋), "
            f"{t['distance']} (D); {states}.{undecided}")


def live_run(store, job_id: int, log_x: bool = True, per_seed: bool = True) -> None:
    """Progress bar, ETA, cancel button and Fig. 1b of one run job, live while it runs."""
    job = sa.get_job(store, job_id)
    if job is None:
        st.warning(f"There is no job {job_id} in this store ({store.path}).")
        return
    was_active = sa.is_active(job)

    @st.fragment(run_every=poll_interval(job))
    def view():
        if was_active:
            try:
                sa.refresh(store)  # a dead worker -> interrupted; a queued job -> a worker
            except Exception as e:
                st.warning(f"Could not check the workers: {e}")
        now = sa.get_job(store, job_id)
        st.progress(sa.progress(now), text=status_line(now))
        if sa.is_active(now) and now.get("cancel_requested"):
            st.caption("Cancel requested: the worker stops after the current epoch.")
        elif sa.is_active(now):
            if st.button("Cancel this run", key=f"cancel-{job_id}", type="secondary"):
                sa.cancel(job_id, store)
                st.rerun()
        elif now["status"] in ("failed", "interrupted") and now.get("error"):
            st.error(f"The run {now['status']}: {now['error']}")
        elif now["status"] == "cancelled":
            st.info("This run was cancelled; what it recorded is shown.")
        frame = cached.frame(store, now)  # read fresh while it runs, cached once it has finished
        stats = inversion_stats(frame)
        band = band_of(stats)
        st.plotly_chart(dynamics_figure(frame, band=band, log_x=log_x, per_seed=per_seed),
                        config=MODEBAR, key=f"live-{job_id}")
        st.caption(band_caption(stats, band))
        if was_active and not sa.is_active(now):
            st.rerun()  # the whole page: the fragment is rebuilt without run_every, polling stops

    view()


def live_jobs_table(store, render) -> None:
    """The home page's job list, refreshed every second while a job is active.
    `render(jobs)` draws it; jobs.refresh runs at most once per poll."""
    jobs = sa.list_jobs(store)
    any_active = any(sa.is_active(j) for j in jobs)

    @st.fragment(run_every=POLL_S if any_active else None)
    def view():
        try:
            sa.refresh(store)
        except Exception as e:  # a worker that cannot start must not break the page
            st.warning(f"Could not start a worker: {e}")
        now = sa.list_jobs(store)
        render(now)
        if any_active and not any(sa.is_active(j) for j in now):
            st.rerun()

    view()


# --- home page ------------------------------------------------------------------------------

RUN_PAGE = "pages/1_Run.py"


def launch_preset(name: str, store) -> None:
    """Queue a preset run (an identical finished one is reused) and open its live view."""
    try:
        job_id = sa.submit_run(sa.preset_config(name), store)
        sa.refresh(store)
    except Exception as e:  # ConfigError, a missing dataset, a store problem: a message, not a traceback
        st.error(f"Could not start “{sa.PRESETS[name][0]}”: {e}")
        return
    st.switch_page(RUN_PAGE, query_params={"job": str(job_id)})


def jobs_view(jobs: list[dict], store) -> None:
    """The job list (status, progress, ETA, device) with a cancel button per active job."""
    if not jobs:
        st.info("No jobs yet: start one with a preset above.")
        return
    table = sa.jobs_table(jobs)
    table.insert(1, "open", [f"Run?job={i}" if k == "run" else None for i, k in zip(table["id"], table["kind"])])
    st.dataframe(table, hide_index=True, key="jobs-table", column_config={
        "progress": st.column_config.ProgressColumn("progress", min_value=0.0, max_value=1.0, format="percent"),
        "open": st.column_config.LinkColumn("open", display_text="live view"),
        "error": st.column_config.TextColumn("error", width="medium"),
    })
    for job in (j for j in jobs if sa.is_active(j)):
        c1, c2 = st.columns([4, 1])
        c1.write(f"{sa.job_label(job)} — {status_line(job)}")
        if c2.button("Cancel", key=f"cancel-job-{job['id']}"):
            sa.cancel(job["id"], store)
            st.rerun()


def home_figure(store) -> None:
    """The home page's one figure: the newest run (live while it runs), or, before any
    run, a small demo computed here once (digits, seconds) and cached."""
    runs = sa.list_jobs(store, "run")
    shown = next((j for j in runs if sa.is_active(j)), None) or next((j for j in runs if j["status"] == "done"), None)
    if shown is not None:
        active = sa.is_active(shown)

        @st.fragment(run_every=poll_interval(shown))
        def view():
            now = sa.get_job(store, shown["id"])
            frame = cached.frame(store, now)
            stats = inversion_stats(frame)
            band = band_of(stats)
            st.plotly_chart(dynamics_figure(frame, band=band, height=460), config=MODEBAR, key="home-figure")
            st.caption(f"{sa.job_label(now)} — {status_line(now)}. Mean over seeds ± 2σ, thin lines: single "
                       f"seeds; grey: the inversion band.")
            if active and not sa.is_active(now):
                st.rerun()

        view()
        return
    try:
        frame = demo_frame()
    except Exception as e:  # no data source at all: say so instead of a figure
        st.info(f"The demo figure needs the digits data set ({e}).")
        return
    stats = inversion_stats(frame)
    st.plotly_chart(dynamics_figure(frame, band=band_of(stats), height=460), config=MODEBAR,
                    key="home-figure")
    st.caption("A demo computed on this machine: scikit-learn's 8×8 digits, parity, P = 512, 10 seeds, η = 1. "
               "Mean over seeds ± 2σ; grey: the inversion band. Start a run below for MNIST.")


DEMO = dict(dataset="digits", n_train=512, seeds=10, epochs=60, lr=1.0, device="cpu")


@st.cache_data(show_spinner="Training a small demo (digits, 10 seeds)…")
def demo_frame():
    """A small real run as a metrics frame: digits, P = 512, 10 seeds, 60 epochs at
    eta = 1 (the inversion within 60 epochs), on one CPU thread (a tiny problem)."""
    import numpy as np
    import pandas as pd
    import torch

    from engine.config import RunConfig
    from engine.run import run
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        result, _ = run(RunConfig(**DEMO))
    finally:
        torch.set_num_threads(threads)
    rows = []
    T = result.epochs_done
    for r, seed in enumerate(result.seeds):
        block = {c: result.curves[c][r, :T + 1] for c in result.curves}
        rows.append(pd.DataFrame({"seed": int(seed), "epoch": np.arange(T + 1), **block}))
    return pd.concat(rows, ignore_index=True)


# --- the run form ---------------------------------------------------------------------------

def initial_values(job: dict | None, params) -> dict:
    """The form's starting values: the paper's defaults, then the shown job's config,
    then what the URL says (so a link carries a configuration)."""
    values = {f.name: f.default for f in sa.form_fields()}
    if job is not None and job.get("kind") == "run":
        values.update({k: v for k, v in job["config"].items() if k in values})
    for f in sa.form_fields():
        if f.name in params:
            raw = params[f.name]
            try:
                values[f.name] = f.kind(raw) if f.kind in (int, float) else raw
            except ValueError:
                pass
    return values


def run_form(initial: dict) -> dict:
    """One widget per RunConfig option, grouped (data, architecture, optimiser,
    training, device), with the option's help text. No bounds on the number inputs:
    a bad value reaches RunConfig.validate() and its message is shown, not a traceback."""
    fields = sa.form_fields()
    values = {}
    rows = [("data", "architecture", "optimiser"), ("training", "device")]
    for groups in rows:
        for col, group in zip(st.columns(3), groups):
            with col:
                st.markdown(f"**{group.capitalize()}**")
                for f in (f for f in fields if f.group == group):
                    values[f.name] = _widget(f, initial.get(f.name, f.default))
    return values


def choice_options(choices, value) -> tuple[list, int, bool]:
    """(options, index of `value`, whether it is unknown) for a selectbox. An unknown
    value (a deleted upload, a typo in a link) is kept as an extra option rather than
    replaced by the first choice: a job's form must not silently become another run."""
    options = list(choices)
    if value in options:
        return options, options.index(value), False
    return options + [value], len(options), True


def _widget(f, value):
    key = f"opt-{f.name}"
    if f.choices:
        options, index, unknown = choice_options(f.choices, value)
        if unknown:
            st.warning(f"{f.name} = {value!r} is not available here (choices: {', '.join(map(str, f.choices))}); "
                       "pick another one to run.")
        return st.selectbox(f.label, options, index=index, help=f.help, key=key)
    if f.kind is int:
        return st.number_input(f.label, value=int(value), step=1, format="%d", help=f.help, key=key)
    if f.kind is float:
        return st.number_input(f.label, value=float(value), step=_step(f.default), format="%g", help=f.help,
                               key=key)
    return st.text_input(f.label, value=str(value), help=f.help, key=key)


def _step(default) -> float:
    return 10 ** round(__import__("math").log10(abs(default))) / 10 if default else 0.01


def sync_form_to_url(values: dict) -> None:
    """Options that differ from the defaults go into the URL; the rest leave it."""
    for f in sa.form_fields():
        v = values.get(f.name, f.default)
        if v != f.default:
            st.query_params[f.name] = str(v)
        elif f.name in st.query_params:
            del st.query_params[f.name]


def check_and_estimate(values: dict):
    """(RunConfig or None, the error message or None): the estimate is shown for a
    valid config, the engine's message for a bad one."""
    from engine.config import ConfigError
    try:
        config = sa.config_from_form(values, sa.datasets_status())
    except ConfigError as e:
        return None, str(e)
    except (TypeError, ValueError) as e:
        return None, f"not a valid run: {e}"
    return config, None


def estimate_line(config, store=None) -> str:
    est = sa.estimate(config, store=store)
    line = (f"Estimate on this machine ({sa.device_info()}): about **{sa.fmt_seconds(est['seconds'])}** and "
            f"**{sa.fmt_bytes(est['bytes'])}** of memory ({config.seeds} seeds × {config.epochs} epochs, "
            f"P = {config.n_train}; {est['how']}).")
    free = _memory_free()
    if free and est["bytes"] > 0.5 * free:
        line += f" **Warning:** that is more than half of the {sa.fmt_bytes(free)} free now."
    return line


def _memory_free() -> int | None:
    try:
        from engine.memory import available_bytes
        return available_bytes("cpu")
    except Exception:
        import os
        try:
            return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
        except (ValueError, OSError, AttributeError):
            return None


def launch(config, store) -> None:
    """Queue the run and show its live view (the job id goes into the URL)."""
    try:
        job_id = sa.submit_run(config, store)
        sa.refresh(store)
    except Exception as e:  # ConfigError from jobs.normalise, a store problem: a message
        st.error(f"Could not launch: {e}")
        return
    st.query_params["job"] = str(job_id)
    st.rerun()


# --- inversion page -------------------------------------------------------------------------

X_MODES = {"epoch": "epoch t (log)", "error": "training error ε"}


def inversion_controls(runs: dict) -> tuple[list[int], str]:
    """Which finished runs to overlay and the x axis, both kept in the URL
    (?jobs=3,5&x=error) so a reload or a shared link shows the same figure."""
    wanted = [int(t) for t in st.query_params.get("jobs", "").split(",") if t.strip().isdigit()]
    default = [i for i in wanted if i in runs] or [next(iter(runs))]
    c1, c2 = st.columns([3, 1])
    chosen = c1.multiselect("Finished runs", list(runs), default=default, key="jobs",
                            format_func=lambda i: sa.job_label(runs[i]))
    x_mode = c2.radio("x axis", list(X_MODES), format_func=X_MODES.get, key="x",
                      index=list(X_MODES).index(st.query_params.get("x", "epoch"))
                      if st.query_params.get("x") in X_MODES else 0)
    st.query_params["jobs"] = ",".join(map(str, chosen))
    st.query_params["x"] = x_mode
    if not chosen:
        st.info("Pick at least one run.")
        st.stop()
    return chosen, x_mode

