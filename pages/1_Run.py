"""Run: every engine option as a form, an estimate before launch, then the live view."""
import streamlit as st

from dashboard.navigation import through_app

through_app()  # first: a page opened by its URL on a fresh server runs through app.py's navigation

from dashboard import analysis_ui as ui
from dashboard import cached, executor_ui, live, notes, run_form
from dashboard import jobs_view as jv

st.set_page_config(page_title="Run · Stragglers", layout="wide")
st.title("Run")
notes.show("Run")
store = cached.open_store()
job = jv.get_job(store, st.query_params.get("job"))
# read before the form's expander, so that a link's unusable value is warned about at the
# top of the page, not inside a collapsed expander
initial = run_form.initial_values(job, st.query_params)
executor, executor_error = executor_ui.choose()

if job is not None:
    st.subheader(jv.job_label(job))
    c1, c2 = st.columns(2)
    log_x = c1.toggle("log epoch axis", value=ui.qp_flag("logx"), key="logx")
    per_seed = c2.toggle("single seeds (thin lines)", value=ui.qp_flag("lines"), key="lines")
    st.query_params["logx"], st.query_params["lines"] = str(int(log_x)), str(int(per_seed))
    live.live_run(store, job["id"], log_x=log_x, per_seed=per_seed)
elif "job" in st.query_params:
    st.warning(f"There is no job {st.query_params['job']} in this store; start a new run below.")

with st.expander("New run" + (" (from this job's options)" if job else ""), expanded=job is None):
    values, slots = run_form.run_form(initial)
    config, error = run_form.check(values, local=executor is None)
    if job is None:
        run_form.sync_form_to_url(values)
    if error:
        run_form.show_error(error, slots)
    else:
        st.markdown(run_form.estimate_line(config, store))
    # disabled while the form has an error (shown at its field): a button that does nothing reads as broken
    if st.button("Launch", type="primary", key="launch", disabled=config is None or executor_error is not None,
                 help="Fix the option marked in red first." if config is None else None):
        if executor is None:
            run_form.launch(config, store)
        else:
            executor_ui.launch_run(config, store, executor)
