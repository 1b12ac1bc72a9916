"""The job list as the pages show it: labels, progress, ETA, status lines, the
table of the home page with a cancel button per active job, and the calls that
submit and cancel (engine.jobs.queue underneath)."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from engine.planning import estimate
from engine.config import RunConfig
from engine.jobs import queue
from engine.jobs.store import ACTIVE


def refresh(store) -> None:
    """Dead workers -> interrupted, queued jobs -> a worker (jobs.refresh)."""
    queue.refresh(store)


def warm(store) -> None:
    """A worker started ahead of the first click (jobs.warm), so that the Quick demo's job
    starts without waiting for a worker's start-up; a store that cannot take one is no
    reason to break the page."""
    try:
        queue.warm(store)
    except Exception:  # the click's own refresh starts a worker, and says why when it cannot
        pass


def is_active(job: dict | None) -> bool:
    return job is not None and job.get("status") in ACTIVE


def get_job(store, job_id) -> dict | None:
    if job_id is None:
        return None
    try:
        return store.get_job(int(job_id))
    except (KeyError, LookupError, ValueError, TypeError):
        return None


def list_jobs(store, kind: str | None = None) -> list[dict]:
    return sorted(store.list_jobs(kind), key=lambda j: -int(j["id"])) if kind else \
        sorted(store.list_jobs(), key=lambda j: -int(j["id"]))


def finished_runs(store) -> list[dict]:
    """Runs with a complete record: kind 'run', status done, newest first."""
    return [j for j in list_jobs(store, "run") if j["status"] == "done"]


def job_label(job: dict) -> str:
    """'#3 · mnist P=2048 · 10 seeds · 150 epochs' (+ what differs from the defaults that matters)."""
    c = job.get("config") or {}
    if job.get("kind") == "paper":
        return f"#{job['id']} · paper report, {c.get('budget')} budget"
    if job.get("kind", "run") == "run" and "dataset" in c:
        extra = [f"{k}={c[k]}" for k in ("labels", "optimizer", "activation", "depth", "width", "lr", "model")
                 if k in c and c[k] != getattr(RunConfig, k)]
        what = f"{c['dataset']} P={c.get('n_train')} · {c.get('seeds')} seeds · {c.get('epochs')} epochs"
        return f"#{job['id']} · {what}" + (f" · {', '.join(extra)}" if extra else "")
    return f"#{job['id']} · {job.get('kind')}"


def fmt_seconds(s) -> str:
    return estimate.fmt_seconds(s)


def progress(job: dict) -> float:
    total = job.get("total") or 0
    if job.get("status") == "done":
        return 1.0
    return min(max(float(job.get("epoch") or 0) / total, 0.0), 1.0) if total else 0.0


# the page of each job kind, where its result is drawn
KIND_PAGE = {"run": "Run", "compare": "Inversion", "prune": "Pruning", "sweep": "Pruning",
             "stability": "Stability_and_scaling", "scaling": "Stability_and_scaling", "embed": "Map",
             "select": "Data_selection", "paper": "Paper"}


def done_text(job: dict) -> str:
    """'42/150 epochs' for a run; an experiment counts seed-epochs (one seed trained one
    epoch) over all its ensembles, its total known from the start."""
    if job.get("kind") == "paper":  # engine.paper.job: per cent of the report's modelled time
        return f"{job.get('epoch') or 0}% of the report"
    unit = "epochs" if job.get("kind", "run") == "run" else "seed-epochs"
    return f"{job.get('epoch') or 0}/{job.get('total') or '?'} {unit}"


def open_link(job: dict, runs: dict) -> str:
    """Where a job is shown: a run's live view, an experiment's page on the run whose
    options it shares (`runs`: run options' hash -> finished run id)."""
    kind = job.get("kind", "run")
    if kind == "run":
        return f"Run?job={job['id']}"
    page = KIND_PAGE.get(kind, "")
    try:
        run_id = runs.get(_run_hash(job.get("config") or {}))
    except (ValueError, TypeError):
        run_id = None
    return f"{page}?job={run_id}" if run_id is not None else page


def _run_hash(config: dict) -> str:
    from engine.config import run_config
    return run_config(config).config_hash()


def jobs_table(jobs: list[dict]) -> pd.DataFrame:
    """The job list as shown on the home page: one row per job, newest first. Every
    cell is text or a number (no None: a table shows it as the word)."""
    runs = {}
    for j in jobs:
        if j.get("kind", "run") == "run" and j.get("status") == "done":
            try:
                runs.setdefault(_run_hash(j.get("config") or {}), int(j["id"]))
            except (ValueError, TypeError):
                pass
    rows = []
    for j in jobs:
        rows.append({
            "id": int(j["id"]), "open": open_link(j, runs), "job": job_label(j), "kind": j.get("kind") or "",
            "status": j.get("status") or "",
            "progress": progress(j), "epochs": done_text(j),
            "ETA": fmt_seconds(j.get("eta_s")) if is_active(j) else "",
            "device": j.get("device") or "", "error": j.get("error") or "",
        })
    return pd.DataFrame(rows, columns=["id", "open", "job", "kind", "status", "progress", "epochs", "ETA", "device",
                                       "error"])


def submit_run(config: RunConfig, store, force: bool = False) -> int:
    """Validate and queue a run; an identical finished run is reused by jobs.submit
    (its config hash) unless `force`."""
    config.validate()
    return int(queue.submit("run", config.to_dict(), force=force, store=store))


def cancel(job_id, store=None) -> None:
    queue.cancel(int(job_id), store=store)


def status_line(job: dict) -> str:
    """'running · epoch 42/150 · ETA 12 s · cpu' (what the progress bar says); an
    experiment says its seed-epochs."""
    count = f"epoch {job.get('epoch') or 0}/{job.get('total') or '?'}" if job.get("kind", "run") == "run" else \
        done_text(job)
    parts = [job["status"], count]
    if is_active(job):
        if job["status"] == "queued" and job.get("queue_position"):
            parts.append(f"position {job['queue_position']} in the queue")
        parts.append(f"ETA {fmt_seconds(job.get('eta_s'))}")
    elif job.get("seconds"):
        parts.append(f"took {fmt_seconds(job['seconds'])}")
    if job.get("device"):
        parts.append(job["device"])
    return " · ".join(parts)


def fmt_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def show_jobs(jobs: list[dict], store) -> None:
    """The job list (status, progress, ETA, device) with a cancel button per active job."""
    if not jobs:
        st.info("No jobs yet: start one with a preset above.")
        return
    table = jobs_table(jobs)
    # id and kind are in the job's label: the columns that matter fit beside it (ETA, error)
    st.dataframe(table, hide_index=True, key="jobs-table", width="stretch",
                 column_order=["open", "job", "status", "progress", "epochs", "ETA", "device", "error"],
                 column_config={
                     "open": st.column_config.LinkColumn("open", display_text="open", width="small",
                                                         help="the job's page: a run's live view, an experiment's "
                                                              "figures"),
                     "job": st.column_config.TextColumn("job", width="medium"),
                     "status": st.column_config.TextColumn("status", width="small"),
                     "progress": st.column_config.ProgressColumn("progress", min_value=0.0, max_value=1.0,
                                                                 format="percent", width="small"),
                     "epochs": st.column_config.TextColumn("done", width="medium",
                                                           help="epochs of a run; seed-epochs (one seed trained one "
                                                                "epoch) of an experiment, over all its ensembles"),
                     "ETA": st.column_config.TextColumn("ETA", width="small"),
                     "device": st.column_config.TextColumn("device", width="small"),
                     "error": st.column_config.TextColumn("error", width="medium"),
                 })
    for job in (j for j in jobs if is_active(j)):
        c1, c2 = st.columns([4, 1])
        c1.write(f"{job_label(job)} — {status_line(job)}")
        if c2.button("Cancel", key=f"cancel-job-{job['id']}"):
            cancel(job["id"], store)
            st.rerun()
