"""The Scores page on a real small finished run: the data map, AUROC, overlaps and
Spearman drawn from the job's stored scores, a box/lasso selection shown as images
with class counts, the downloads, and a run without scores offered a rerun."""
import io
import json
import re

import numpy as np
import pandas as pd
import pytest
from helpers import Downloads, app_test, env_restored, figures, seed_store, select_points, traces, values

from engine.jobs import views
from engine.analysis.score_comparison import compare
from engine.training.scores import SCORES


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    with env_restored():
        store, job_id = seed_store(tmp_path_factory.mktemp("scores-page"))
    table = views.score_frame(store, job_id)
    return {"store": store, "job": job_id, "table": table, "comparison": compare(table),
            "data": views.dataset(store, job_id)}


@pytest.fixture
def env(run, monkeypatch):
    monkeypatch.setenv("STRAGGLERS_RUNS", str(run["store"].path.parent))
    return run


def test_figures_are_the_stored_scores_and_their_comparison(env):
    at = app_test("pages/8_Scores.py", {"job": env["job"]})
    assert not at.exception
    table, cmp = env["table"].set_index("index"), env["comparison"]
    assert cmp["n_stragglers"] > 5  # a real inversion: stragglers to compare with
    the_map, auroc, overlap, spearman = figures(at)[:4]
    points = traces(the_map, "points")[0]
    cd = values(points, "customdata")
    idx = cd[:, 0].astype(int)
    assert sorted(idx) == sorted(table.index) and np.all(np.diff(cd[:, 2]) >= 0)  # most frequent on top
    np.testing.assert_allclose(values(points, "x"), table.loc[idx, "variability"])
    np.testing.assert_allclose(values(points, "y"), table.loc[idx, "confidence"])
    np.testing.assert_allclose(values(points["marker"], "color"), table.loc[idx, "straggler_frequency"])
    np.testing.assert_allclose(values(traces(auroc, "auroc")[0], "x"), [r["auroc"] for r in cmp["scores"]])
    null = traces(auroc, "null")[0]["error_x"]
    np.testing.assert_allclose(values(null, "array"), [r["null_high"] - 0.5 for r in cmp["scores"]])
    np.testing.assert_allclose(values(traces(overlap, "overlap")[0], "x"),
                               [r["top_overlap_fraction"] for r in cmp["scores"]])
    np.testing.assert_allclose(values(traces(spearman, "spearman")[0], "z"), cmp["spearman"]["matrix"])
    assert f"{cmp['n_stragglers']} consensus stragglers" in [h.value for h in at.subheader][1]
    assert "EL2N at epoch 10; GraNd at epoch 0 (at initialisation)" in at.caption[0].value
    assert at.query_params["job"] == str(env["job"])


def test_selecting_points_on_the_data_map_shows_them_with_class_counts(env):
    at = app_test("pages/8_Scores.py", {"job": env["job"]})
    assert not at.exception and not at.get("image")  # nothing selected yet
    fig = figures(at)[0]
    cd = values(traces(fig, "points")[0], "customdata")
    chosen = list(range(len(cd) - 7, len(cd)))  # the seven most frequent stragglers
    at = select_points(at, "datamap", [{"curve_number": 0, "point_index": i, "point_number": i,
                                        "customdata": cd[i].tolist()} for i in chosen])
    assert not at.exception
    images = at.get("image")[0]
    picked = [int(cd[i, 0]) for i in chosen]
    assert [int(re.match(r"#(\d+)", c).group(1)) for c in images.captions] == picked
    counts = next(d.value for d in at.dataframe if "selected" in d.value.columns)
    data = env["data"]
    classes = data.classes_train[np.searchsorted(data.index_train, picked)]
    assert counts["selected"].sum() == 7
    for c, n in zip(*np.unique(classes, return_counts=True)):
        assert int(counts.loc[counts["class"] == c, "selected"].iloc[0]) == n
    assert any(m.value == "**7 points selected**" for m in at.markdown)


def test_downloads_are_the_cli_files(env, monkeypatch):
    dl = Downloads(monkeypatch)
    at = app_test("pages/8_Scores.py", {"job": env["job"]})
    assert not at.exception
    csv = pd.read_csv(io.BytesIO(dl.files[f"scores-job{env['job']}.csv"]))
    assert list(csv.columns) == list(env["table"].columns)
    for c in SCORES:
        np.testing.assert_allclose(csv[c], env["table"][c], rtol=1e-6)
    meta = json.loads(dl.files[f"scores-job{env['job']}.json"])
    assert (meta["el2n_epoch"], meta["grand_epoch"]) == (10, 0) and meta["comparison"]["n_stragglers"] == env["comparison"]["n_stragglers"]


def test_a_run_without_scores_offers_to_rerun_it(tmp_path, monkeypatch):
    from engine.jobs import queue
    with env_restored():
        store, job_id = seed_store(tmp_path, seeds=2, n_train=128, epochs=20)
    monkeypatch.setenv("STRAGGLERS_RUNS", str(tmp_path))
    with store.write() as c:  # as a run made before scores were recorded
        c.execute("DELETE FROM artifacts WHERE job_id=? AND name LIKE 'scores%'", (job_id,))
    at = app_test("pages/8_Scores.py", {"job": job_id})
    assert not at.exception and not figures(at)
    # the missing inversion is said too; the rerun offer must be among the notes
    assert any("has no difficulty scores" in i.value for i in at.info)
    monkeypatch.setattr(queue, "refresh", lambda *a, **k: 0)  # queue only: no worker process in a test
    at.button(key="rerun-scores").click().run()
    assert store.get_job(job_id)["status"] == "queued"  # the same id, rerun
    queue.cancel(job_id, store=store)


def test_a_noisy_run_shows_which_score_finds_the_flipped_labels(tmp_path, monkeypatch):
    with env_restored():
        store, job_id = seed_store(tmp_path, label_noise=0.2, seeds=3)
    monkeypatch.setenv("STRAGGLERS_RUNS", str(tmp_path))
    at = app_test("pages/8_Scores.py", {"job": job_id})
    assert not at.exception
    flipped = int(views.score_frame(store, job_id)["label_flipped"].sum())
    assert flipped == round(0.2 * 512)
    assert f"Which score finds the {flipped} flipped labels?" in [s.value for s in at.subheader]
    keys = [c.proto.id for c in at.get("plotly_chart")]
    assert any("noise-auroc" in k for k in keys), keys
    clean = app_test("pages/8_Scores.py", {"job": seed_store(tmp_path / "clean")[1]})
    assert not any("flipped" in s.value for s in clean.subheader)  # a clean run has nothing to find
