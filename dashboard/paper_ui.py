"""The Paper page's parts: the plan and its estimate (cached), the job's launch and
live progress, and the report's sections as they finish (read from its folder,
engine.paper.job.folder, so they survive a reload and a restart)."""
from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from engine.planning.estimate import fmt_seconds

from . import jobs_view as jv
from .analysis_ui import chart, follow

VERDICT_ICON = {"matches": ":material/check_circle:", "differs": ":material/cancel:", "undetermined": ":material/help:",
                "not run": ":material/skip_next:", "pending": ":material/hourglass_empty:"}


@st.cache_data(show_spinner="Planning the report and estimating each figure…", max_entries=8)
def planned(budget: str, datasets: tuple) -> pd.DataFrame:
    from engine.paper.book import budget_of, datasets_present, estimate, plan
    data, how_to = datasets_present(list(datasets) or None)
    sections = plan(budget_of(budget), data, how_to=how_to)
    estimate(sections)
    return pd.DataFrame([{"figure": s.figure.id, "title": s.figure.title,
                          "estimate": fmt_seconds(s.estimate_s) if s.config is not None else "not run",
                          "seconds": s.estimate_s, "why not": s.reason} for s in sections])


def report(budget: str) -> dict | None:
    from engine.paper.job import folder
    try:
        return json.loads((folder(budget) / "report.json").read_text())
    except (OSError, ValueError):
        return None


def launch_or_follow(store, config: dict) -> None:
    """A launch button, or the live progress of the paper job with this config."""
    jobs = [j for j in jv.list_jobs(store, "paper") if j["config"] == config]
    active = next((j for j in jobs if jv.is_active(j)), None)
    if active is None:
        last = jobs[0] if jobs else None
        if last is not None and last["status"] in ("failed", "interrupted"):
            st.error(f"The last report job (#{last['id']}) {last['status']}: {last.get('error') or ''} "
                     "Run it again: every figure already done is read back, not retrained.")
        if st.button("Run the paper", key="launch-paper", type="primary"):
            from engine.jobs import queue
            try:
                queue.submit("paper", config, force=True, store=store)
                jv.refresh(store)
            except Exception as e:  # a bad option: a message, not a traceback
                st.error(f"Could not start the report: {e}")
                return
            st.rerun()
        return
    budget = config["budget"]

    def text(now):
        done = report(budget)
        finished = sum(e["verdict"] != "pending" for e in done["figures"]) if done else 0
        return (f"report job #{now['id']}: {finished} of {len(done['figures']) if done else '?'} figures; "
                f"{jv.status_line(now)}")

    follow(store, int(active["id"]), "paper", text)


def sections(budget: str) -> None:
    """Every finished section: its verdict, the paper's numbers beside ours, the figure,
    the command that reruns it alone; the whole report as one HTML file."""
    from engine.paper.job import folder
    from engine.paper.plots import figure
    r = report(budget)
    if r is None:
        st.info("No report of this budget yet: run it above. Sections appear here as they finish.")
        return
    counts = ", ".join(f"{k} {v}" for k, v in r["counts"].items() if v)
    st.caption(f"Written {r['header']['written']} · {r['header']['seconds']:.0f} s · {counts}")
    html = folder(budget) / "report.html"
    if html.exists():
        st.download_button("report.html (one file, opens offline)", html.read_bytes(), file_name=f"paper-{budget}.html",
                           mime="text/html", key="dl-report", on_click="ignore")
    for e in r["figures"]:
        with st.expander(f"Fig. {e['figure']}: {e['title']} — **{e['verdict']}**", icon=VERDICT_ICON.get(e["verdict"]),
                         expanded=e["verdict"] == "differs"):
            if e.get("reason"):
                st.write(e["reason"])
            if e["claims"]:
                st.dataframe(pd.DataFrame(e["claims"])[["what", "paper", "source", "ours", "rule", "verdict"]],
                             hide_index=True, use_container_width=True)
            if e["verdict"] not in ("pending", "not run") and e.get("plot"):
                try:
                    fig = figure(e["plot"], folder(budget) / e["folder"])
                except (OSError, KeyError, ValueError, TypeError) as err:
                    fig = None
                    st.caption(f"(figure not drawn: {err})")
                if fig is not None:
                    chart(fig, key=f"paper-{e['figure']}")
            st.code(e["command"], language="bash")
