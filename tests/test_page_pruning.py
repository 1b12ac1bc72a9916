"""The Pruning page on real prune and sweep jobs: Fig. 2a's curves and table, Fig. 2b-c's
points per ε and per noise σ, the random control, the inversion ε band."""
import numpy as np
import pandas as pd
import pytest
from helpers import (TWO_SEEDS_LONG, app_test, figures, job_once, record_store_reads, run_job, seed_store, shared_store,
                     traces, values)
from engine.jobs import views

SIGMAS = [0.0, 1.0]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    store, job_id = seed_store(tmp_path_factory.mktemp("pruning"))
    base = store.get_job(job_id)["config"]
    prune = run_job(store, "prune", {**base, "retrain_epochs": base["epochs"]})
    sweep = run_job(store, "sweep", {**base, "n_grid": 3, "sigmas": SIGMAS, "retrain_epochs": base["epochs"]})
    return {"store": store, "job": job_id, "prune": prune, "sweep": sweep, "summary": views.summary(store, job_id)}


@pytest.fixture
def env(run, monkeypatch):
    monkeypatch.setenv("STRAGGLERS_RUNS", str(run["store"].path.parent))
    return run


PARAMS = {"grid": 3, "sigmas": "0.0,1.0"}


def test_fig_2a_curves_and_table(env):
    at = app_test("pages/5_Pruning.py", {"job": env["job"], **PARAMS})
    assert not at.exception
    result = env["store"].get_artifact(env["prune"], "result")
    curves = pd.DataFrame(env["store"].get_artifact(env["prune"], "curves"))
    fig = figures(at)[0]
    # first panel is R+: the "without S(t*)" trace is the job's mean curve (epochs > 0)
    mine = [t for t in traces(fig, "stragglers") if t.get("xaxis", "x") == "x"][0]
    want = curves[(curves["variant"] == "stragglers") & (curves["epoch"] > 0)]
    np.testing.assert_allclose(values(mine, "y"), want["r_plus"])
    assert {t["meta"] for t in traces(fig)} == set(result["variants"])
    assert all(t["line"]["dash"] == "dash" for t in traces(fig) if t["meta"].startswith("random"))
    table = at.dataframe[0].value
    row = table[table["variant"] == "without S(t*)"].iloc[0]
    present = result["variants"]["stragglers"]["inversion_present"]
    assert row["inversion in"] == f"{sum(present)}/{len(present)} seeds"
    assert row["removed (mean)"] == pytest.approx(np.mean(env["summary"]["stragglers"]["count"]))
    assert row["final ε_test"] == pytest.approx(np.mean(result["variants"]["stragglers"]["final_test_error"]))


def test_fig_2bc_per_epsilon_and_sigma(env):
    at = app_test("pages/5_Pruning.py", {"job": env["job"], **PARAMS})
    res = env["store"].get_artifact(env["sweep"], "result")
    geometry, test_error = figures(at)[1:3]
    pts = sorted(res["points"], key=lambda p: p["epsilon"])
    eps = [p["epsilon"] for p in pts]
    s = traces(geometry, "stragglers")
    assert len(s) == 3  # R+, R-, D
    np.testing.assert_allclose(values(s[0], "x"), eps)
    np.testing.assert_allclose(values(s[2], "y"), [p["stragglers"]["distance"] for p in pts])
    band = traces(geometry, "random")[0]  # the random control is a shaded band: mean ± std
    r = [p["random"] for p in pts]
    np.testing.assert_allclose(values(band, "y")[: len(pts)], [v["r_plus"] + v["r_plus_std"] for v in r])
    assert band["fill"] == "toself"
    # Fig. 2c: one solid curve per σ, the random control of each σ shaded
    for sigma in SIGMAS:
        line = traces(test_error, f"stragglers σ={sigma:g}")[0]
        np.testing.assert_allclose(values(line, "y"), [p["stragglers"]["noisy_test_error"][str(sigma)] for p in pts])
        assert traces(test_error, f"random σ={sigma:g}")[0]["fill"] == "toself"
    assert len([t for t in traces(test_error) if str(t["meta"]).startswith("stragglers")]) == len(SIGMAS)
    # the inversion ε band: φ mean ± std of the run, on every panel
    phi = np.array(env["summary"]["inversion"]["phi"]["per_seed"])
    rects = [sh for sh in test_error["layout"]["shapes"] if sh["type"] == "rect"]
    assert rects and rects[0]["x0"] == pytest.approx(phi.mean() - phi.std()) and \
        rects[0]["x1"] == pytest.approx(phi.mean() + phi.std())
    assert len([sh for sh in geometry["layout"]["shapes"] if sh["type"] == "rect"]) == 3


def test_other_settings_offer_a_new_job(env):
    at = app_test("pages/5_Pruning.py", {"job": env["job"], "grid": 5, "sigmas": "0.0,1.0"})
    assert not at.exception
    assert [b.label for b in at.button] == ["Sweep ε"]  # the prune job matches, the sweep does not
    assert len(figures(at)) == 1
    # before the click, its cost here, phase by phase: the base run, then 2 x 5 variants retrained
    [line] = [m.value for m in at.markdown if m.value.startswith("Estimate on this machine: about **")]
    assert "base run" in line and "retrain, 10 variants" in line


def test_bad_numbers_in_the_link_are_clamped(env):
    at = app_test("pages/5_Pruning.py", {"job": env["job"], "retrain": 0, "grid": 1})
    assert not at.exception
    assert at.number_input(key="retrain").value == 1 and at.number_input(key="grid").value == 2
    at = app_test("pages/5_Pruning.py", {"job": env["job"], "retrain": "many", "grid": 1000})
    assert not at.exception
    assert at.number_input(key="retrain").value == env["summary"]["epochs_done"]  # unreadable: the default
    assert at.number_input(key="grid").value == 40


def test_variants_shown_survive_a_reload(env):
    at = app_test("pages/5_Pruning.py", {"job": env["job"], **PARAMS, "variants": "stragglers,random"})
    assert not at.exception
    assert at.multiselect(key="variants").value == ["stragglers", "random"]
    assert {t["meta"] for t in traces(figures(at)[0])} == {"stragglers", "random"}
    at.multiselect(key="variants").set_value(["full"]).run()
    assert at.query_params["variants"] == "full"
    at.multiselect(key="variants").set_value([]).run()
    assert at.query_params["variants"] == "none"  # not "": that would read back as "all of them"
    again = app_test("pages/5_Pruning.py", {"job": env["job"], **PARAMS, "variants": "none"})
    assert again.multiselect(key="variants").value == [] and not traces(figures(again)[0])
    assert len(app_test("pages/5_Pruning.py", {"job": env["job"], **PARAMS}).multiselect(key="variants").value) == \
        len(env["store"].get_artifact(env["prune"], "result")["variants"])  # no ?variants=: all


def test_finished_jobs_are_read_once_not_on_every_rerun(env, monkeypatch):
    at = app_test("pages/5_Pruning.py", {"job": env["job"], **PARAMS})
    reads = record_store_reads(monkeypatch)
    at.run()
    assert not at.exception and len(figures(at)) == 3
    assert reads == []  # the run's summary, the jobs' results and curves: all from the cache


def test_long_retraining_is_thinned_when_drawn_not_when_stored(tmp_path_factory, monkeypatch):
    """Retrains of at least 450 epochs (longer while a variant is undetermined) after a
    60-epoch base run of two seeds with an inversion (TWO_SEEDS_LONG's P = 128 never
    turns, so it has no S(t*) to prune)."""
    from engine.figures.dynamics import MAX_POINTS
    store, job_id = shared_store(tmp_path_factory, monkeypatch, seeds=2)
    T = TWO_SEEDS_LONG["epochs"]
    prune = job_once(store, "prune", {**store.get_job(job_id)["config"], "retrain_epochs": T})
    curves = pd.DataFrame(store.get_artifact(prune, "curves"))
    done = store.get_artifact(prune, "result")["retrain_epochs"]
    sizes = curves.groupby("variant").size()
    n_variants = len(sizes)
    assert done >= T and (sizes.drop("full") == done + 1).all() and T + 1 > MAX_POINTS  # every epoch is stored
    at = app_test("pages/5_Pruning.py", {"job": job_id, "retrain": T})
    assert not at.exception
    drawn = traces(figures(at)[0])
    assert len(drawn) == 4 * n_variants
    for t in drawn:
        x = values(t, "x")
        assert len(x) <= MAX_POINTS and np.all(np.diff(x) > 0), t["meta"]
    r_plus = [values(t, "x") for t in drawn if t.get("xaxis", "x") == "x" and t["meta"] != "full"]
    assert all(x[0] == 1 and x[-1] == done for x in r_plus)  # the first and the last epoch kept
