"""The Stability & scaling page on real stability and scaling jobs: z vs ε with its
maximum, the overlap matrix, φ(P) with the Eq. 12 fit and the depth × width grid."""
import numpy as np
import pytest
from app_fixtures import run_job, seed_store
from page_helpers import figures, page, traces, values

from engine.experiments.scaling import phi_law

SIZES = [128, 256, 512]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    store, job_id = seed_store(tmp_path_factory.mktemp("stability"))
    base = store.get_job(job_id)["config"]
    stab = run_job(store, "stability", {**base, "n_grid": 6})
    scal = run_job(store, "scaling", {**base, "n_trains": SIZES, "widths": [10, 20], "n_boot": 20})
    return {"store": store, "job": job_id, "stability": stab, "scaling": scal, "summary": store.summary(job_id)}


@pytest.fixture
def env(run, monkeypatch):
    monkeypatch.setenv("STRAGGLERS_RUNS", str(run["store"].path.parent))
    return run


def test_z_score_and_overlap_matrix(env):
    at = page("6_Stability_and_scaling.py", {"job": env["job"], "grid": 6, "sizes": "128,256,512",
                                             "widths": "10,20", "matrix": "t*"})
    assert not at.exception
    res = env["store"].get_artifact(env["stability"], "result")
    zfig, heat = figures(at)[:2]
    z = traces(zfig, "z")[0]
    pts = sorted(res["points"], key=lambda p: p["epsilon"])
    np.testing.assert_allclose(values(z, "x"), [p["epsilon"] for p in pts])
    np.testing.assert_allclose(values(z, "y"), [np.nan if p["z"] is None else p["z"] for p in pts])
    best = traces(zfig, "best")[0]
    assert values(best, "x")[0] == res["best"]["epsilon"]
    assert values(best, "y")[0] == pytest.approx(np.nanmax(values(z, "y")))
    # at t*: the diagonal |S_i ∩ S_i| is each seed's number of stragglers
    M = values(traces(heat, "overlap")[0], "z")
    np.testing.assert_array_equal(np.diag(M), env["summary"]["stragglers"]["count"])
    np.testing.assert_array_equal(M, res["overlap_matrix_t_star"])
    assert at.radio(key="matrix").value == "t*"
    at.radio(key="matrix").set_value("max z").run()
    best_rows = env["store"].get_artifact(env["stability"], "overlap_matrix_best")
    M2 = values(traces(figures(at)[1], "overlap")[0], "z")
    assert M2[0, 1] == best_rows[0][f"seed_{env['summary']['seeds'][1]}"]


def test_phi_scaling_fit_and_grid(env):
    at = page("6_Stability_and_scaling.py", {"job": env["job"], "grid": 6, "sizes": "128,256,512", "widths": "10,20"})
    assert not at.exception
    res = env["store"].get_artifact(env["scaling"], "result")
    phi_fig, grid_fig = figures(at)[2:4]
    data = traces(phi_fig, "data")[0]
    assert values(data, "x").tolist() == SIZES
    np.testing.assert_allclose(values(data, "y"), [p["phi_mean"] for p in res["points"]])
    np.testing.assert_allclose(values(data["error_y"], "array"), [p["phi_std"] for p in res["points"]])
    fit = traces(phi_fig, "fit")
    if res["phi_inf"] is not None:
        x = values(fit[0], "x")
        np.testing.assert_allclose(values(fit[0], "y"), phi_law(x, res["phi_inf"], res["P0"], res["gamma"]))
        assert any(f"φ∞ = {res['phi_inf']:.4f}" in a.get("text", "") for a in phi_fig["layout"]["annotations"])
    heat = traces(grid_fig, "grid")[0]
    assert heat["x"] == ["10", "20"] and heat["y"] == ["2"]
    cells = {(c["depth"], c["width"]): c["phi_inf"] for c in res["grid"]}
    np.testing.assert_allclose(values(heat, "z")[0], [np.nan if cells[(2, w)] is None else cells[(2, w)]
                                                      for w in (10, 20)])
    tables = [d.value for d in at.dataframe]
    phi_table = next(t for t in tables if "phi_mean" in t.columns)
    assert phi_table["n_train"].tolist() == SIZES


def test_fewer_than_three_sizes_is_refused(env):
    at = page("6_Stability_and_scaling.py", {"job": env["job"], "grid": 6, "sizes": "128,256"})
    assert any("at least three sizes" in w.value for w in at.warning)
    assert "Measure φ(P)" not in [b.label for b in at.button]
