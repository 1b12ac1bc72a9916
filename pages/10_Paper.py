"""Paper: the whole paper rerun on this machine, figure by figure, with the paper's
numbers beside ours and a verdict for each (engine.paper); one HTML file to hand around."""
import streamlit as st

from dashboard.navigation import through_app

through_app()  # first: a page opened by its URL on a fresh server runs through app.py's navigation

from dashboard import analysis_ui as ui, cached, notes, paper_ui
from engine.planning.estimate import fmt_seconds

st.set_page_config(page_title="Paper · Stragglers", layout="wide")
st.title("The paper, rerun here")
notes.show("Paper")
store = cached.open_store()

budget = ui.choice(st, "Budget", ["quick", "paper"], "budget", widget="radio", horizontal=True,
                   help="quick: P = 8192, 5 seeds, 150 epochs (about 20 min on 2 CPU cores); paper: the paper's sizes")
ui.set_qp(budget=budget)
plan = paper_ui.planned(budget, ())
st.caption(f"About **{fmt_seconds(plan['seconds'].sum())}** on this machine for "
           f"{(plan['estimate'] != 'not run').sum()} figures (the same as `python -m engine paper --budget {budget} "
           "--dry-run`). A figure already computed is read back, not retrained.")
st.dataframe(plan.drop(columns="seconds"), hide_index=True, use_container_width=True)
paper_ui.launch_or_follow(store, {"budget": budget, "datasets": [], "only": None})
st.subheader("The report")
paper_ui.sections(budget)
