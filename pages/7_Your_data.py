"""Your data: upload an .npz (x_train, y_train, x_test, y_test), check it, save it, run the same analysis on it."""
import streamlit as st

from dashboard.navigation import through_app

through_app()  # first: a page opened by its URL on a fresh server runs through app.py's navigation

from dashboard import analysis_ui as ui
from dashboard import cached, estimates, gallery, live, notes
from dashboard import jobs_view as jv
from dashboard import upload
from engine.data.upload import UploadError

st.set_page_config(page_title="Your data · Stragglers", layout="wide")
st.title("Your data")
notes.show("Your data")
st.markdown("An **.npz** with `x_train`, `y_train`, `x_test`, `y_test`: images `(N, H, W)` or `(N, H, W, C)` as "
            "uint8 or float, labels integers 0..9 (the task is their parity, as for MNIST). Save it with "
            "`np.savez('mine.npz', x_train=..., y_train=..., x_test=..., y_test=...)`; it is read without "
            "unpickling anything.")
file = st.file_uploader("Dataset (.npz)", type=["npz"], key="upload")
if file is not None:
    checked = upload.check(file.getvalue(), max_bytes=st.get_option("server.maxUploadSize") * 2**20,
                           key=file.file_id)  # validated once per upload
    if not checked.ok:
        st.error(f"**{file.name}** cannot be used: {checked.error} Nothing was stored.")
    else:
        info = checked.info
        st.success(f"**{file.name}** is valid: {info['n_train']} training and {info['n_test']} test images of "
                   f"{' × '.join(map(str, info['image_shape']))} ({info['dtype']}), "
                   f"{info['even_fraction_train']:.0%} even labels.")
        ex = upload.examples(checked.arrays)
        st.image([gallery.thumbnail(checked.arrays["x_train"][i]) for i, _ in ex],
                 caption=[f"class {c}" for _, c in ex], width=64)
        name = st.text_input("Save as", upload.default_name(file.name), key="name")
        replace = st.checkbox("replace a saved dataset of that name", key="replace")
        if st.button("Save the dataset", type="primary", key="save"):
            path, error = upload.save(name, checked.arrays, overwrite=replace)
            if error:
                st.error(error)
            else:
                st.success(f"Saved as `{upload.dataset_id(name)}` ({path}).")
                st.query_params["dataset"] = name

names, damaged = upload.saved_by_state()
st.subheader("Saved datasets")
for broken, why in damaged.items():
    st.warning(upload.damaged_text(broken, why), icon=":material/broken_image:")
if not names:
    st.info("None yet." if not damaged else "None that can be used.")
    st.stop()
name = ui.choice(st, "dataset", names, "dataset", format_func=upload.dataset_id)
store = cached.open_store()
try:
    info = upload.describe_saved(name)
except UploadError as e:  # damaged where only reading the arrays shows it (the headers were sound)
    st.warning(upload.damaged_text(name, str(e)), icon=":material/broken_image:")
    st.stop()
opts = upload.run_options(info)
c1, c2, c3 = st.columns(3)
P = c1.number_input("training points P", 2, info["n_train"], opts["n_train"], key="P")
seeds = c2.number_input("seeds R", 1, 100, opts["seeds"], key="R")
epochs = c3.number_input("epochs T", 1, 100000, opts["epochs"], key="T")
from engine.config import ConfigError, RunConfig  # noqa: E402

config = RunConfig(dataset=upload.dataset_id(name), n_train=int(P), seeds=int(seeds), epochs=int(epochs))
estimates.show("run", config.to_dict(), store)
if st.button(f"Run the analysis on {upload.dataset_id(name)}", key="run"):
    try:
        job_id = jv.submit_run(config, store)
        jv.refresh(store)
        ui.set_qp(job=job_id)  # its progress below, and after a reload
        st.rerun()
    except (ConfigError, ValueError) as e:
        st.error(f"The engine does not accept this run: {e}")
live.follow_run(store, ui.qp("job", None, int, lo=0))
