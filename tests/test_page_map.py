"""The Map page: the t-SNE job's coordinates drawn by class with the stragglers on top,
the distance histograms with the test's p-value, the hidden-layer toggle, and the
launch button when no map with these settings exists."""
import numpy as np
import pandas as pd
import pytest
from helpers import app_test, figures, run_job, seed_store, traces, values
from engine.jobs import views

TSNE = dict(perplexity=30.0, n_iter=100, early_iter=50)
PARAMS = {"iter": 100, "early": 50}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    store, job_id = seed_store(tmp_path_factory.mktemp("map"))
    base = store.get_job(job_id)["config"]
    inputs = run_job(store, "embed", {**base, **TSNE})
    hidden = run_job(store, "embed", {**base, **TSNE, "hidden_epoch": 10})
    return {"store": store, "job": job_id, "inputs": inputs, "hidden": hidden}


@pytest.fixture
def env(run, monkeypatch):
    monkeypatch.setenv("STRAGGLERS_RUNS", str(run["store"].path.parent))
    return run


def embedding(env, which):
    store = env["store"]
    return pd.DataFrame(store.get_artifact(env[which], "embedding")), store.get_artifact(env[which], "result")


def test_input_map_and_distance_test(env):
    at = app_test("pages/4_Map.py", {"job": env["job"], **PARAMS})
    assert not at.exception
    rows, result = embedding(env, "inputs")
    the_map, hist = figures(at)[:2]
    strag = traces(the_map, "stragglers")[0]
    want = rows[rows["straggler"]]
    assert result["n_stragglers"] == len(want) > 5
    cd = values(strag, "customdata")
    assert cd[:, 0].astype(int).tolist() == want["index"].tolist()
    np.testing.assert_allclose(values(strag, "x"), want["x"])
    # size grows with the consensus frequency
    sizes = values(strag["marker"], "size")
    assert np.all(np.diff(sizes[np.argsort(cd[:, 2])]) >= 0) and strag["marker"]["line"]["color"] == "black"
    classes = traces(the_map, "class")
    assert len(classes) == 10 and sum(len(values(t, "x")) for t in classes) == len(rows) - len(want)
    # histograms: stragglers vs the rest, the p-value of the job in the title
    h = {t["meta"]: values(t, "x") for t in traces(hist)}
    np.testing.assert_allclose(np.sort(h["stragglers"]), np.sort(want["distance"]))
    assert len(h["rest"]) == len(rows) - len(want)
    assert f"p = {result['inputs']['p']:.2g}" in hist["layout"]["title"]["text"]
    assert at.query_params["space"] == "inputs"
    # the table writes p as the title does (7.4e-12), not as a fixed-point 0.000000000007
    import json
    table = next(d for d in at.dataframe if "p (stragglers farther)" in d.value.columns)
    config = json.loads(table.proto.columns)
    assert config["p (stragglers farther)"]["type_config"]["format"] == "%.2g"


def test_hidden_layer_toggle(env):
    at = app_test("pages/4_Map.py", {"job": env["job"], "space": "hidden", "epoch": 10, **PARAMS})
    assert not at.exception
    rows, result = embedding(env, "hidden")
    the_map, hist = figures(at)[:2]
    strag = traces(the_map, "stragglers")[0]
    np.testing.assert_allclose(values(strag, "x"), rows.loc[rows["straggler"], "hidden_x"])
    assert f"p = {result['hidden']['p']:.2g}" in hist["layout"]["title"]["text"]
    assert "hidden layer" in the_map["layout"]["title"]["text"]


def test_no_map_yet_offers_the_job_and_launching_queues_it(env, monkeypatch):
    from engine.jobs import queue as jobs
    monkeypatch.setattr(jobs, "refresh", lambda *a, **k: 0)  # queue only: no worker process in a test
    at = app_test("pages/4_Map.py", {"job": env["job"], "space": "hidden", "epoch": 30, **PARAMS})
    assert not at.exception and not figures(at)
    # before the click: what it will cost here (the run's seeds, then one t-SNE map)
    assert any(m.value.startswith("Estimate on this machine: about **") for m in at.markdown)
    before = {j["id"] for j in env["store"].list_jobs("embed")}
    at.button(key="launch-embed").click().run()
    new = [j for j in env["store"].list_jobs("embed") if j["id"] not in before]
    assert len(new) == 1 and new[0]["status"] == "queued"
    assert new[0]["config"]["hidden_epoch"] == 30 and new[0]["config"]["n_iter"] == 100
    assert any("embed job" in p.proto.text for p in at.get("progress"))  # live progress instead of the button
    jobs.cancel(new[0]["id"], store=env["store"])


@pytest.mark.parametrize("params, want", [
    ({"perplexity": 1, "iter": 10, "early": 5000}, (2.0, 50, 1000)),  # out of range: clamped
    ({"perplexity": "", "iter": "", "early": ""}, (30.0, 500, 250)),  # empty or unreadable: the defaults
    ({"perplexity": "inf", "iter": "1e3", "early": "-1"}, (30.0, 500, 0)),
])
def test_bad_tsne_settings_in_the_link_do_not_break_the_page(env, params, want):
    at = app_test("pages/4_Map.py", {"job": env["job"], **params})
    assert not at.exception
    assert tuple(at.number_input(key=k).value for k in ("perplexity", "iter", "early")) == want


def test_epoch_from_the_link_is_clamped_to_the_run(env):
    at = app_test("pages/4_Map.py", {"job": env["job"], "space": "hidden", "epoch": 10**6, **PARAMS})
    assert not at.exception and at.slider(key="epoch").value == views.summary(env["store"], env["job"])["epochs_done"]


def test_note_says_the_map_opens_on_the_inputs():
    from dashboard.notes import note
    assert "t-SNE) of the **inputs**" in note("Map") and "hidden layer" in note("Map")


def test_selecting_points_on_the_map_shows_their_images_and_class_counts(env):
    import re

    from helpers import select_points
    at = app_test("pages/4_Map.py", {"job": env["job"], **PARAMS})
    assert not at.exception and not at.get("image")
    strag = traces(figures(at)[0], "stragglers")[0]
    curve = [t.get("meta") for t in figures(at)[0]["data"]].index("stragglers")
    cd = values(strag, "customdata")
    # a real browser's event may leave customdata out: the page looks the point up in its figure
    at = select_points(at, "map", [{"curve_number": curve, "point_index": i, "point_number": i} for i in range(5)])
    assert not at.exception
    shown = [int(re.match(r"#(\d+)", c).group(1)) for c in at.get("image")[0].captions]
    assert shown == cd[:5, 0].astype(int).tolist()
    counts = next(d.value for d in at.dataframe if "selected" in d.value.columns)
    assert counts["selected"].sum() == 5
    assert dict(zip(counts["class"], counts["selected"])) == {
        c: int((cd[:5, 1].astype(int) == c).sum()) for c in counts["class"]}
