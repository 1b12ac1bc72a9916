"""Where a job trains, chosen in the sidebar of the Run page and the experiment pages:
this machine's worker processes (the default) or a Ray cluster (engine.jobs.executors).
The choice changes where and how fast a job runs, never its numbers, so a job done
on either is reused by the other."""
from __future__ import annotations

import streamlit as st

CHOICES = {"local": "this machine (local workers)", "ray": "a Ray cluster"}


def executor_spec(name: str, address: str, cpus) -> tuple[dict | None, str | None]:
    """(the job config's "executor" entry or None for local, the engine's message for a bad one)."""
    from engine.config import ConfigError
    from engine.jobs.executors import spec
    try:
        return spec(name, (address or "").strip() or None, int(cpus)), None
    except (ConfigError, TypeError, ValueError) as e:
        return None, str(e)


def with_executor(config: dict, executor: dict | None) -> dict:
    """The job config to submit: unchanged for local."""
    return {**config, "executor": executor} if executor else config


def choose(where=None) -> tuple[dict | None, str | None]:
    """The sidebar's setting: (executor entry or None, error or None). It is kept in the
    URL (?executor=ray&ray_address=...&ray_cpus=...), so a reload trains where it did."""
    from .analysis_ui import choice, qp, set_qp
    where = where or st.sidebar
    name = choice(where, "Train on", list(CHOICES), "executor", format_func=CHOICES.get,
                  help="A Ray cluster trains the run's chunks of seeds, or the experiment's pieces "
                       "(each P, width, variant), side by side on its machines; the live view, cancel "
                       "and results are the same. See docs/cluster.md.")
    if name == "local":
        set_qp(executor=None, ray_address=None, ray_cpus=None)
        return None, None
    address = where.text_input("Ray address", st.query_params.get("ray_address", ""), key="ray_address",
                               placeholder="empty: a local Ray per job",
                               help="host:port of the head (`ray start --head` prints it), auto for the one "
                                    "started on this machine, or empty to start a local Ray for each job.")
    cpus = where.number_input("CPUs per task", 1, 256, qp("ray_cpus", 1, int, lo=1, hi=256), key="ray_cpus",
                              help="What each task asks the cluster for; torch uses that many threads.")
    set_qp(executor=name, ray_address=address.strip() or None, ray_cpus=None if cpus == 1 else int(cpus))
    executor, error = executor_spec(name, address, cpus)
    if error:
        where.error(error)
    return executor, error


def launch_run(config, store, executor: dict | None) -> None:
    """Queue the run on `executor` and show its live view (as dashboard.run_form.launch)."""
    from engine.jobs import queue
    try:
        job_id = queue.submit("run", with_executor(config.to_dict(), executor), store=store)
    except Exception as e:  # ConfigError: a cluster that cannot run it, an address that does not answer
        st.error(f"Could not launch: {e}")
        return
    st.query_params["job"] = str(job_id)
    st.rerun()
