"""The job list as the pages show it: labels, progress, ETA, status lines, the
table of the home page with a cancel button per active job, and the calls that
submit and cancel (engine.jobs.queue underneath)."""
from __future__ import annotations

import math

import pandas as pd
import streamlit as st

from engine.config import RunConfig
from engine.jobs import queue
from engine.jobs.store import ACTIVE


def refresh(store) -> None:
    """Dead workers -> interrupted, queued jobs -> a worker (jobs.refresh)."""
    queue.refresh(store)


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
    if job.get("kind", "run") == "run" and "dataset" in c:
        extra = [f"{k}={c[k]}" for k in ("labels", "optimizer", "activation", "depth", "width", "lr", "model")
                 if k in c and c[k] != getattr(RunConfig, k)]
        what = f"{c['dataset']} P={c.get('n_train')} · {c.get('seeds')} seeds · {c.get('epochs')} epochs"
        return f"#{job['id']} · {what}" + (f" · {', '.join(extra)}" if extra else "")
    return f"#{job['id']} · {job.get('kind')}"


def fmt_seconds(s) -> str:
    if s is None or not isinstance(s, (int, float)) or not math.isfinite(s) or s < 0:
        return "–"
    s = int(round(s))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def progress(job: dict) -> float:
    total = job.get("total") or 0
    if job.get("status") == "done":
        return 1.0
    return min(max(float(job.get("epoch") or 0) / total, 0.0), 1.0) if total else 0.0


def jobs_table(jobs: list[dict]) -> pd.DataFrame:
    """The job list as shown on the home page: one row per job, newest first."""
    rows = []
    for j in jobs:
        rows.append({
            "id": int(j["id"]), "job": job_label(j), "kind": j.get("kind"),
            "status": j.get("status"),
            "progress": progress(j), "epochs": f"{j.get('epoch') or 0}/{j.get('total') or '?'}",
            "ETA": fmt_seconds(j.get("eta_s")) if is_active(j) else "",
            "device": j.get("device") or "", "error": j.get("error") or "",
        })
    return pd.DataFrame(rows, columns=["id", "job", "kind", "status", "progress", "epochs", "ETA", "device",
                                       "error"])


def submit_run(config: RunConfig, store, force: bool = False) -> int:
    """Validate and queue a run; an identical finished run is reused by jobs.submit
    (its config hash) unless `force`."""
    config.validate()
    return int(queue.submit("run", config.to_dict(), force=force, store=store))


def cancel(job_id, store=None) -> None:
    queue.cancel(int(job_id), store=store)


def status_line(job: dict) -> str:
    """'running · epoch 42/150 · ETA 12 s · cpu' (what the progress bar says)."""
    parts = [job["status"],
             f"epoch {job.get('epoch') or 0}/{job.get('total') or '?'}"]
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
    table.insert(1, "open", [f"Run?job={i}" if k == "run" else None for i, k in zip(table["id"], table["kind"])])
    st.dataframe(table, hide_index=True, key="jobs-table", column_config={
        "progress": st.column_config.ProgressColumn("progress", min_value=0.0, max_value=1.0, format="percent"),
        "open": st.column_config.LinkColumn("open", display_text="live view"),
        "error": st.column_config.TextColumn("error", width="medium"),
    })
    for job in (j for j in jobs if is_active(j)):
        c1, c2 = st.columns([4, 1])
        c1.write(f"{job_label(job)} — {status_line(job)}")
        if c2.button("Cancel", key=f"cancel-job-{job['id']}"):
            cancel(job["id"], store)
            st.rerun()
