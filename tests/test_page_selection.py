"""The Data selection page on a real small run: a launch button under its estimate;
once the select job is done, the figure (a line per score and direction, the random
band), the table, and a download of the kept indices of the chosen selection."""
import io

import numpy as np
import pandas as pd
import pytest

from dashboard.analysis_ui import experiment_config
from helpers import Downloads, app_test, env_restored, job_once, seed_store


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    with env_restored():
        store, job_id = seed_store(tmp_path_factory.mktemp("selection-page"), seeds=2, epochs=40)
    return store, job_id


def test_the_page_offers_the_experiment_then_draws_it_and_hands_out_the_kept_indices(run, monkeypatch):
    store, job_id = run
    monkeypatch.setenv("STRAGGLERS_RUNS", str(store.path.parent))
    query = {"job": job_id, "f": "0.8,1.0", "sel": "el2n"}
    at = app_test("pages/9_Data_selection.py", query)
    assert not at.exception and at.button(key="launch-select") is not None
    done = job_once(store, "select", experiment_config(store.get_job(job_id), fractions=[0.8, 1.0],
                                                       selectors=["el2n"]))
    downloads = Downloads(monkeypatch)
    at = app_test("pages/9_Data_selection.py", query)
    assert not at.exception
    fig = at.get("plotly_chart")[0].proto.spec
    assert all(name in fig for name in ("el2n|drop-hard", "el2n|drop-easy", "random-band"))
    csv = next(v for k, v in downloads.files.items() if k.startswith(f"kept-job{done}"))
    kept = pd.read_csv(io.BytesIO(csv))["index"].to_numpy()
    assert len(kept) == round(0.8 * store.get_job(job_id)["config"]["n_train"])  # the first row: f = 0.8
    assert set(kept) <= set(np.asarray(store.get_artifact(done, "index")).tolist())  # dataset indices
