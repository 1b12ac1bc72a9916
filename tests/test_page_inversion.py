"""The Inversion page (pages/2_Inversion.py): overlays of finished runs, t* markers and
the grey band, the φ table against the store's summary, Fig. 1a."""
import numpy as np
import pytest

from helpers import app_test, env_restored, figures, record_store_reads, run_job, seed_store, values
from engine.config import RunConfig
from engine.jobs import views

PAGE = "pages/2_Inversion.py"
METRICS = ("r_plus", "r_minus", "distance")


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """Two real finished runs: the fixture's (eta = 1) and a faster one (eta = 2, 40 epochs)."""
    with env_restored():  # each test points STRAGGLERS_RUNS at it with monkeypatch
        store, first = seed_store(tmp_path_factory.mktemp("inversion"))
    second = run_job(store, "run", RunConfig(dataset="digits", n_train=512, seeds=10, epochs=40, lr=2.0,
                                             device="cpu").to_dict())
    return store, first, second


@pytest.fixture
def store_env(two_runs, monkeypatch):
    store, first, second = two_runs
    monkeypatch.setenv("STRAGGLERS_RUNS", str(store.path.parent))
    return two_runs


def _phi_table(at):
    return next(d.value for d in at.dataframe if "φ mean" in d.value.columns)


def test_newest_run_by_default_and_phi_table_equals_the_summary(store_env):
    store, first, second = store_env
    at = app_test(PAGE)
    assert not at.exception
    assert str(at.query_params["jobs"]).strip("[]'") == str(second)  # newest first
    table = _phi_table(at)
    assert len(table) == 1
    s = views.summary(store, second)
    row = table.iloc[0]
    assert row["φ mean"] == pytest.approx(s["inversion"]["phi"]["mean"])
    assert row["φ std"] == pytest.approx(s["inversion"]["phi"]["std"])
    for m, col in zip(METRICS, ("t*(R₊)", "t*(R₋)", "t*(D)")):
        assert row[col] == pytest.approx(np.mean(s["inversion"]["t_star"][m]))
    assert row["consensus stragglers"] == s["stragglers"]["consensus_count"]
    assert row["φ over"] == f"{sum(s['inversion']['present'])}/10 seeds"
    assert any(b.label == "Download phi.csv" for b in at.get("download_button"))
    # case 7: the cells fit; P, seeds and epochs (in the job's label) are in the CSV, not shown twice
    shown = next(d for d in at.dataframe if "φ mean" in d.value.columns).proto.column_order
    assert "job" in shown and not {"epochs", "P", "seeds"} & set(shown) and {"epochs", "P"} <= set(table.columns)


def test_overlay_of_two_runs_on_the_epoch_axis(store_env):
    store, first, second = store_env
    at = app_test(PAGE, {"jobs": f"{first},{second}"})
    assert not at.exception
    overlay, fig1a = figures(at)
    mean = [t for t in overlay["data"] if t.get("meta") == "mean"]
    assert len(mean) == 6  # 3 metrics x 2 jobs
    lengths = sorted({len(values(t)) for t in mean})
    assert lengths == [40, 60]  # epochs 1..T of each job on the log axis
    stars = [t for t in overlay["data"] if t.get("meta") == "t_star"]
    assert len(stars) == 6
    s1 = views.summary(store, first)
    first_stars = [t for t in stars if t["legendgroup"].startswith(f"#{first} ")]
    assert sorted(values(t)[0] for t in first_stars) == \
        pytest.approx(sorted(np.mean(s1["inversion"]["t_star"][m]) for m in METRICS))
    bands = [s for s in overlay["layout"]["shapes"] if s.get("name") == "inversion band"]
    assert len(bands) == 2 * 3  # one band per job on each of the 3 panels
    assert overlay["layout"]["xaxis"]["type"] == "log"
    assert len(_phi_table(at)) == 2
    # Fig. 1a: one point per seed, epoch 0 and the last epoch, for each job
    scatter = [t for t in fig1a["data"] if t.get("meta") == "scatter"]
    assert len(scatter) == 4 and all(len(values(t)) == 10 for t in scatter)
    frame = store.metrics_frame(first)
    initial = [t for t in scatter if t["name"].startswith(f"#{first} ") and "initial" in t["name"]][0]
    np.testing.assert_allclose(values(initial, "x"), frame[frame.epoch == 0].sort_values("seed")["r_plus"])
    hist = [t for t in fig1a["data"] if t.get("meta") == "hist"]
    assert len(hist) == 4 and all(len(values(t)) == 10 for t in hist)


def test_training_error_coordinates(store_env):
    store, first, second = store_env
    at = app_test(PAGE, {"jobs": str(first), "x": "error"})
    assert not at.exception
    assert at.radio[0].value == "error"
    overlay = figures(at)[0]
    x = overlay["layout"]["xaxis"]
    # ε grows to the right here as on the Pruning and Stability pages
    assert x["type"] == "log" and x.get("autorange") != "reversed" and x["title"]["text"] == "training error ε"
    frame = store.metrics_frame(first)
    err = frame.groupby("epoch")["train_error"].mean()
    r_plus = [t for t in overlay["data"] if t.get("meta") == "mean"][0]
    xs = values(r_plus)
    assert set(np.round(xs, 12)) <= set(np.round(err[err > 0].to_numpy(), 12))  # x = mean training error
    assert np.all(np.diff(xs) <= 0)  # training goes on: the error falls
    assert any("growing to the right" in c.value for c in at.caption)


def test_log_axes_are_labelled_with_readable_numbers(store_env):
    from engine.figures.style import tick_text
    store, first, second = store_env
    for x_mode in ("epoch", "error"):
        overlay = figures(app_test(PAGE, {"jobs": f"{first},{second}", "x": x_mode}))[0]
        for name in ("xaxis", "xaxis2", "xaxis3"):
            ax = overlay["layout"][name]
            ticks, text = ax["tickvals"], ax["ticktext"]
            assert len(ticks) >= 2 and text == [tick_text(v) for v in ticks]  # '0.02', never a bare '2'
            for v, t in zip(ticks, text):
                assert float(t) == pytest.approx(v)
            mantissas = {round(v / 10 ** np.floor(np.log10(v)), 6) for v in ticks}
            assert mantissas <= {1.0, 2.0, 5.0}


def test_a_run_without_an_inversion_gets_no_t_star_and_bands_are_labelled_per_run(store_env):
    from engine.figures.dynamics import inverted_fraction
    store, first, second = store_env
    flat = run_job(store, "run", RunConfig(dataset="digits", n_train=512, seeds=10, epochs=40, lr=1.0, device="cpu",
                                           labels="random").to_dict())
    s = views.summary(store, flat)
    assert inverted_fraction(s) < 0.5  # random labels: the control without an inversion
    at = app_test(PAGE, {"jobs": f"{first},{flat}"})
    assert not at.exception
    overlay = figures(at)[0]
    stars = [t for t in overlay["data"] if t.get("meta") == "t_star"]
    assert stars and all(t["legendgroup"].startswith(f"#{first} ") for t in stars)
    bands = [s for s in overlay["layout"]["shapes"] if s.get("name") == "inversion band"]
    assert len(bands) == 3  # the first run's, on each panel; none for the run that never turned
    labels = {a["text"] for a in overlay["layout"]["annotations"] if a.get("name") == "band label"}
    assert labels == {f"#{first}"}
    caption = " ".join(c.value for c in at.caption)
    assert f"No inversion in #{flat}" in caption and "no t* and no band" in caption
    two = figures(app_test(PAGE, {"jobs": f"{first},{second}"}))[0]
    assert {a["text"] for a in two["layout"]["annotations"] if a.get("name") == "band label"} == \
        {f"#{first}", f"#{second}"}  # overlaid bands say whose they are


def test_a_run_without_an_inversion_says_so_without_yet():
    """The live caption is true while the run goes on and once it has finished: never "yet"."""
    from dashboard.live import band_caption
    stats = {"present_fraction": 0.2, "t_star": {}, "states": {"present": 1, "absent": 4}}
    caption = band_caption(stats, None)
    assert "yet" not in caption and "present in 20% of the seeds" in caption and "absent 4" in caption


def test_per_seed_table(store_env):
    store, first, second = store_env
    at = app_test(PAGE, {"jobs": str(first)})
    per_seed = next(d.value for d in at.dataframe if "φ" in d.value.columns)
    s = views.summary(store, first)
    np.testing.assert_allclose(per_seed["φ"], s["inversion"]["phi"]["per_seed"])
    assert list(per_seed["seed"]) == s["seeds"]


def test_no_finished_run_yet(tmp_path, monkeypatch):
    monkeypatch.setenv("STRAGGLERS_RUNS", str(tmp_path))
    at = app_test(PAGE)
    assert not at.exception
    assert any("No finished run yet" in i.value for i in at.info)
    assert not at.get("plotly_chart")


def test_notes_for_every_page():
    from dashboard.notes import LECTURE_PATH, NOTES, note
    for page in ("Home", "Run", "Inversion", "Stragglers", "Map", "Pruning", "Stability & scaling", "Your data"):
        assert len(note(page)) > 80, page
    assert [p for p, *_ in LECTURE_PATH] == [p for p in NOTES if p != "Home"]


def test_finished_runs_are_read_once_not_on_every_rerun(store_env, monkeypatch):
    store, first, second = store_env
    at = app_test(PAGE, {"jobs": f"{first},{second}"})
    reads = record_store_reads(monkeypatch)
    at.run()
    assert not at.exception and len(figures(at)) == 2
    assert reads == []


def test_phi_tables_download_without_a_rerun(store_env):
    at = app_test(PAGE)
    buttons = {b.label: b for b in at.get("download_button")}
    assert set(buttons) >= {"Download phi.csv", "Download phi_per_seed.csv"}
    assert all(b.proto.ignore_rerun for b in buttons.values())
