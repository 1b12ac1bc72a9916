"""Live views: a fragment that polls the store about once a second while a job is
queued or running, and stops polling when it ends (run_every is decided from the
job's status at render; the fragment reruns the whole page when the status
changes, which re-decides it). Nothing here loops: Streamlit schedules the reruns.

Only fragments live here: the live run (Run page), the live job list and the newest
run's figure (Home). Their words come from pure functions (jobs_view.status_line,
`band_caption`) that tests check without a browser.
"""
from __future__ import annotations

import streamlit as st

from . import cached
from . import jobs_view as jv
from engine.figures.dynamics import band_of, dynamics_figure, inversion_stats, state_text
from engine.figures.style import MODEBAR

POLL_S = 1.0  # seconds between polls of every live view (runs, the job list, experiment jobs)


def poll_interval(job: dict | None) -> float | None:
    """run_every of a live fragment: poll while the job is queued or running, never after."""
    return POLL_S if jv.is_active(job) else None


def band_caption(stats: dict | None, band) -> str:
    """What the band means, in the verdict's words (engine.geometry), true both while a
    run goes on and once it has finished: never "yet"."""
    if stats is None:
        return "Waiting for the first epochs."
    states = state_text(stats["states"])
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
    job = jv.get_job(store, job_id)
    if job is None:
        st.warning(f"There is no job {job_id} in this store ({store.path}).")
        return
    was_active = jv.is_active(job)

    @st.fragment(run_every=poll_interval(job))
    def view():
        if was_active:
            try:
                jv.refresh(store)  # a dead worker -> interrupted; a queued job -> a worker
            except Exception as e:
                st.warning(f"Could not check the workers: {e}")
        now = jv.get_job(store, job_id)
        st.progress(jv.progress(now), text=jv.status_line(now))
        if jv.is_active(now) and now.get("cancel_requested"):
            st.caption("Cancel requested: the worker stops after the current epoch.")
        elif jv.is_active(now):
            if st.button("Cancel this run", key=f"cancel-{job_id}", type="secondary"):
                jv.cancel(job_id, store)
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
        if was_active and not jv.is_active(now):
            st.rerun()  # the whole page: the fragment is rebuilt without run_every, polling stops

    view()


def live_jobs_table(store, render) -> None:
    """The home page's job list, refreshed every second while a job is active.
    `render(jobs)` draws it; jobs.refresh runs at most once per poll."""
    jobs = jv.list_jobs(store)
    any_active = any(jv.is_active(j) for j in jobs)

    @st.fragment(run_every=POLL_S if any_active else None)
    def view():
        try:
            jv.refresh(store)
        except Exception as e:  # a worker that cannot start must not break the page
            st.warning(f"Could not start a worker: {e}")
        now = jv.list_jobs(store)
        render(now)
        if any_active and not any(jv.is_active(j) for j in now):
            st.rerun()

    view()


def preset_estimates(store, slots: dict, texts) -> None:
    """The presets' estimates in their slots (`texts()`: name -> sentence, or None while
    the machine is measured in the background); polls until they can be given, then
    stops, so the page shows and its buttons answer before the measurement ends."""
    ready = texts()
    if ready is not None:
        for name, slot in slots.items():
            slot.caption(ready[name])
        return

    @st.fragment(run_every=POLL_S * 2)
    def waiting():
        if texts() is not None:
            st.rerun()  # the whole page: the estimates go into their slots, polling stops
        st.caption("Estimates of the presets appear here once this machine has been measured (a few seconds, once).")

    waiting()


def home_figure(store) -> None:
    """The home page's one figure: the newest run (live while it runs), or, before any
    run, a small demo computed here once (digits, seconds) and cached."""
    runs = jv.list_jobs(store, "run")
    shown = next((j for j in runs if jv.is_active(j)), None) or next((j for j in runs if j["status"] == "done"), None)
    if shown is not None:
        active = jv.is_active(shown)

        @st.fragment(run_every=poll_interval(shown))
        def view():
            now = jv.get_job(store, shown["id"])
            frame = cached.frame(store, now)
            stats = inversion_stats(frame)
            band = band_of(stats)
            st.plotly_chart(dynamics_figure(frame, band=band, height=460), config=MODEBAR, key="home-figure")
            st.caption(f"{jv.job_label(now)} — {jv.status_line(now)}. Mean over seeds ± 2σ, thin lines: single "
                       f"seeds; grey: the inversion band.")
            if active and not jv.is_active(now):
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
    eta = 1 (the inversion within 60 epochs), on one CPU thread (a tiny problem).
    Trained once per machine and kept under <runs>/cache (keyed by the run's options
    and the engine's version): a restarted app draws it without training again."""
    import pandas as pd

    from engine import __version__
    from engine.config import RunConfig
    from engine.environment import runs_dir
    from engine.files import atomic_write
    path = runs_dir() / "cache" / f"demo-{RunConfig(**DEMO).config_hash()}-{__version__}.csv"
    try:
        return pd.read_csv(path)
    except (OSError, ValueError):
        pass
    frame = _train_demo()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, frame.to_csv(index=False))
    except OSError:  # a read-only runs folder: the demo is only kept in memory
        pass
    return frame


def _train_demo():
    import numpy as np
    import pandas as pd

    from engine.config import RunConfig
    from engine.environment import torch_threads
    from engine.run import run
    with torch_threads(1):
        result, _ = run(RunConfig(**DEMO))
    rows = []
    T = result.epochs_done
    for r, seed in enumerate(result.seeds):
        block = {c: result.curves[c][r, :T + 1] for c in result.curves}
        rows.append(pd.DataFrame({"seed": int(seed), "epoch": np.arange(T + 1), **block}))
    return pd.concat(rows, ignore_index=True)


def follow_run(store, job_id: int | None) -> None:
    """The run launched here (?job=): its live progress while it runs, then where its
    results are; links to the Run page's live view either way."""
    from .analysis_ui import follow
    job = jv.get_job(store, job_id) if job_id is not None else None
    if job is None or job.get("kind", "run") != "run":
        return
    if jv.is_active(job):
        follow(store, int(job_id), "yourdata", lambda now: f"run #{job_id}: {jv.status_line(now)}")
    elif job["status"] == "done":
        st.success(f"Run #{job_id} is done: [its stragglers](Stragglers?job={job_id}) are on the Stragglers page.")
    else:
        st.error(f"Run #{job_id} {job['status']}" + (f": {job['error']}" if job.get("error") else "."))
    # a link, not st.page_link: the page may run without app.py's navigation (a test)
    st.markdown(f":material/monitoring: [Follow run #{job_id} on the Run page](Run?job={job_id})")
