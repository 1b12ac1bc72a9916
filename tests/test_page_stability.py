"""The Stability & scaling page on real stability and scaling jobs: z vs ε with its
maximum, the overlap matrix, φ(P) with the Eq. 12 fit and the depth × width grid."""
import numpy as np
import pytest
from helpers import TWO_SEEDS_LONG, app_test, figures, job_once, run_job, seed_store, shared_store, traces, values

from engine.experiments.scaling import phi_law
from engine.jobs import views

SIZES = [128, 256, 512]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    store, job_id = seed_store(tmp_path_factory.mktemp("stability"))
    base = store.get_job(job_id)["config"]
    stab = run_job(store, "stability", {**base, "n_grid": 6})
    scal = run_job(store, "scaling", {**base, "n_trains": SIZES, "widths": [10, 20], "n_boot": 20})
    return {"store": store, "job": job_id, "stability": stab, "scaling": scal, "summary": views.summary(store, job_id)}


@pytest.fixture
def env(run, monkeypatch):
    monkeypatch.setenv("STRAGGLERS_RUNS", str(run["store"].path.parent))
    return run


def test_z_score_and_overlap_matrix(env):
    at = app_test("pages/6_Stability_and_scaling.py", {"job": env["job"], "grid": 6, "sizes": "128,256,512",
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
    at = app_test("pages/6_Stability_and_scaling.py", {"job": env["job"], "grid": 6, "sizes": "128,256,512", "widths": "10,20"})
    assert not at.exception
    res = env["store"].get_artifact(env["scaling"], "result")
    phi_fig, grid_fig = figures(at)[2:4]
    data = traces(phi_fig, "data")[0]
    assert values(data, "x").tolist() == SIZES
    nan = lambda v: np.nan if v is None else v  # noqa: E731 - a size where no seed turned: undetermined, not drawn
    np.testing.assert_allclose(values(data, "y"), [nan(p["phi_mean"]) for p in res["points"]])
    np.testing.assert_allclose(values(data["error_y"], "array"), [nan(p["phi_std"]) for p in res["points"]])
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
    at = app_test("pages/6_Stability_and_scaling.py", {"job": env["job"], "grid": 6, "sizes": "128,256"})
    assert any("at least three sizes" in w.value for w in at.warning)
    assert "Measure φ(P)" not in [b.label for b in at.button]
    at = app_test("pages/6_Stability_and_scaling.py", {"job": env["job"], "grid": 6, "sizes": "100,200,300"})
    [line] = [m.value for m in at.markdown if m.value.startswith("Estimate on this machine: about **")]
    assert all(f"P={p}" in line for p in (100, 200, 300))  # one run per size, each estimated


# --- edge cases: two seeds, links typed by hand, a worker that died ---------------------------

PAGE = "pages/6_Stability_and_scaling.py"


@pytest.fixture
def two_seeds(tmp_path_factory, monkeypatch):
    return shared_store(tmp_path_factory, monkeypatch, **TWO_SEEDS_LONG)


def test_two_seeds_say_z_is_undefined_instead_of_crashing(two_seeds):
    store, job_id = two_seeds
    stab = job_once(store, "stability", {**store.get_job(job_id)["config"], "n_grid": 4})
    res = store.get_artifact(stab, "result")
    assert res["best"]["z"] is None and res["t_star"]["z"] is None  # one pair of seeds: no spread, no z
    at = app_test(PAGE, {"job": job_id, "grid": 4})
    assert not at.exception
    assert any("z undefined (fewer than 3 seeds)" in c.value for c in at.caption)
    assert len(figures(at)) >= 2  # z vs ε and the overlap matrix are still drawn


def test_caption_keeps_a_real_zero_and_names_what_is_missing():
    from engine.figures.analysis import fmt_num
    from engine.figures.stability import stability_caption
    assert (fmt_num(0.0), fmt_num(None), fmt_num(float("nan")), fmt_num(0.0123, ".3g")) == ("0.0", "n/a", "n/a",
                                                                                            "0.0123")
    res = {"best": {"z": 3.3, "epsilon": 0.05, "epoch": 12.0}, "t_star": {"z": 0.0}}
    assert stability_caption(res, seeds=10) == ("Maximum z = 3.3 at ε = 0.05 (epoch ≈ 12); ε = mean φ: undetermined "
                                                "(no seed with an inversion); at each seed's own t*: z = 0.0.")
    res = {"best": {"z": 3.3, "epsilon": 0.05, "epoch": 12.0}, "t_star": {"z": None},
           "phi": {"epsilon": 0.048, "z": 3.1, "resolution": 1.066, "best_within": 1.04}}
    assert stability_caption(res, seeds=10) == (
        "Maximum z = 3.3 at ε = 0.05 (epoch ≈ 12); at ε = mean φ = 0.048: z = 3.1 (the grid's next ε is ×1.066 "
        "away; the maximum lies at 1.04 φ); at each seed's own t*: z undefined (no spread of the overlap across "
        "pairs of seeds).")


@pytest.mark.parametrize("grid, shown", [("1", 2), ("99", 60), ("", 16), ("lots", 16), ("nan", 16)])
def test_a_bad_grid_in_the_link_is_clamped_or_ignored(two_seeds, grid, shown):
    store, job_id = two_seeds
    at = app_test(PAGE, {"job": job_id, "grid": grid})
    assert not at.exception
    assert at.number_input(key="grid").value == shown


def test_an_experiment_whose_worker_died_ends_interrupted(two_seeds, monkeypatch):
    """The progress view checks the workers itself (as the Run page does): without that,
    a job whose worker was killed stays 'running' and the page polls it for ever."""
    import subprocess

    from dashboard.analysis_ui import experiment_config
    from engine.jobs import queue as jobs
    store, job_id = two_seeds
    config = experiment_config(store.get_job(job_id), n_grid=5)
    gone = subprocess.Popen(["true"])
    gone.wait()  # a pid with no process behind it any more
    with monkeypatch.context() as m:
        m.setattr(jobs, "refresh", lambda *a, **k: 0)  # queue it and start no worker
        stab = jobs.submit("stability", config, store=store)
    assert jobs.claim(store, cap=1, pid=gone.pid)["id"] == stab  # "running" on the dead worker
    at = app_test(PAGE, {"job": job_id, "grid": 5})
    assert not at.exception
    assert store.get_job(stab)["status"] == "interrupted"
    assert any(f"#{stab}) interrupted" in e.value for e in at.error)
    assert "Measure the stability" in [b.label for b in at.button]  # it can be relaunched


def test_note_describes_what_the_page_shows():
    from dashboard.notes import note
    text = note("Stability & scaling")
    for shown in ("z against ε", "overlap matrix", "Eq. 12", "φ∞", "depth × width"):
        assert shown in text, shown
    assert "blocks" not in text and "noise" not in text


def test_tables_show_a_missing_number_as_a_dash_not_none():
    """φ of a size where no seed shows an inversion is missing: the page says '–'."""
    import pandas as pd
    from dashboard.analysis_ui import shown
    df = pd.DataFrame({"n_train": [128, 512], "phi_mean": [None, 0.04281234], "seeds": [0, 10]})
    out = shown(df)
    assert out["phi_mean"].tolist() == ["–", "0.04281"] and out["n_train"].tolist() == [128, 512]
    assert df["phi_mean"].isna().tolist() == [True, False]  # the CSV's frame is unchanged
