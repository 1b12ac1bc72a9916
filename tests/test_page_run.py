"""The Run page (pages/1_Run.py): the form generated from RunConfig, bad values stopped
with the engine's message, launching, and the live view of a real finished job."""
import dataclasses

import numpy as np
import pytest

from helpers import app_test, figures, shared_store, values
from engine.config import RunConfig
from engine.jobs import views

PAGE = "pages/1_Run.py"


@pytest.fixture
def seeded(tmp_path_factory, monkeypatch):
    return shared_store(tmp_path_factory, monkeypatch)


@pytest.fixture
def empty_store(tmp_path, monkeypatch):
    """A store of its own, and no worker processes: submitted jobs stay queued."""
    from engine.jobs import queue as jobs
    from engine.jobs.store import Store
    monkeypatch.setenv("STRAGGLERS_RUNS", str(tmp_path))
    monkeypatch.setattr(jobs, "refresh", lambda *a, **k: 0)
    return Store(tmp_path / "store.sqlite")


def _fields():
    return dataclasses.fields(RunConfig)


def _widget(at, name):
    return at.get_by_key(f"opt-{name}")


def test_form_has_every_option_with_its_default_and_help(empty_store):
    at = app_test(PAGE)
    assert not at.exception
    for f in _fields():
        w = _widget(at, f.name)
        assert w.value == f.default, f.name
        assert w.help.strip(), f"no help text for {f.name}"
    groups = [m.value for m in at.markdown if m.value.startswith("**")]
    assert groups == ["**Data**", "**Architecture**", "**Optimiser**", "**Training**", "**Device**"]
    assert _widget(at, "lr").label == "Learning rate η" and "0.2 in the paper" in _widget(at, "lr").help
    assert any("Estimate on this machine" in m.value for m in at.markdown)
    assert not at.error


def test_negative_learning_rate_is_stopped_with_the_engines_message(empty_store):
    at = app_test(PAGE)
    _widget(at, "lr").set_value(-1.0).run()
    assert not at.exception
    assert [e.value for e in at.error] == ["--lr=-1.0 is not valid: a finite number > 0"]
    assert at.get_by_key("launch").disabled  # nothing can be queued (AppTest refuses to click it)
    assert empty_store.list_jobs() == []
    assert not any("Estimate on this machine" in m.value for m in at.markdown)
    _widget(at, "lr").set_value(0.1).run()  # fixed: the error goes, Launch is enabled again
    assert not at.error and not at.get_by_key("launch").disabled


@pytest.mark.parametrize("dataset, n_train, size", [("mnist", 100_000, 60000), ("digits", 2000, 1437)])
def test_training_block_larger_than_the_dataset_is_stopped(empty_store, dataset, n_train, size):
    at = app_test(PAGE)
    _widget(at, "dataset").set_value(dataset)
    _widget(at, "n_train").set_value(n_train).run()
    assert not at.exception
    assert len(at.error) == 1
    assert at.error[0].value.startswith(f"--n-train={n_train} is not valid: {dataset} has {size} training points")
    assert at.get_by_key("launch").disabled
    assert empty_store.list_jobs() == []


def test_other_bad_values_each_name_their_option(empty_store):
    for name, bad, fix in [("labels", "0,1|2", "parity"), ("depth", 1, 2), ("momentum", 1.5, 0.9),
                           ("layer", 3, 1), ("seeds", 0, 20)]:
        at = app_test(PAGE)
        _widget(at, name).set_value(bad).run()
        assert not at.exception
        assert len(at.error) == 1 and at.error[0].value.startswith(f"--{name.replace('_', '-')}="), name


def test_options_go_into_the_url_and_come_back_from_it(empty_store):
    at = app_test(PAGE)
    _widget(at, "lr").set_value(0.05)
    _widget(at, "activation").set_value("relu").run()
    assert at.query_params["lr"] == ["0.05"] or at.query_params["lr"] == "0.05"
    assert "relu" in str(at.query_params["activation"])
    assert "epochs" not in at.query_params  # defaults stay out of the link
    again = app_test(PAGE, {"lr": "0.05", "activation": "relu", "epochs": "77"})
    assert _widget(again, "lr").value == pytest.approx(0.05)
    assert _widget(again, "activation").value == "relu"
    assert _widget(again, "epochs").value == 77


def test_launch_queues_the_run_and_opens_its_live_view(empty_store):
    at = app_test(PAGE)
    for name, v in dict(dataset="digits", n_train=256, seeds=2, epochs=5, device="cpu").items():
        _widget(at, name).set_value(v)
    at.run()
    assert not at.error
    at.get_by_key("launch").click().run()
    assert not at.exception
    jobs = empty_store.list_jobs()
    assert len(jobs) == 1
    job = jobs[0]
    assert job["kind"] == "run" and job["status"] == "queued"
    assert {k: job["config"][k] for k in ("dataset", "n_train", "seeds", "epochs", "lr")} == \
        dict(dataset="digits", n_train=256, seeds=2, epochs=5, lr=0.2)
    assert str(at.query_params["job"]).strip("[]'") == str(job["id"])
    assert at.get("progress")[0].proto.text.startswith("queued · epoch 0/5")
    assert any(b.label == "Cancel this run" for b in at.button)
    # cancelling from the live view
    at.get_by_key(f"cancel-{job['id']}").click().run()
    assert empty_store.get_job(job["id"])["status"] == "cancelled"


def test_live_view_of_a_finished_job(seeded):
    store, job_id = seeded
    at = app_test(PAGE, {"job": str(job_id)})
    assert not at.exception
    assert at.get("progress")[0].proto.text.startswith("done · epoch 60/60")
    assert not any(b.label == "Cancel this run" for b in at.button)
    [spec] = figures(at)
    mean = {t["name"]: values(t) for t in spec["data"] if t.get("meta") == "mean"}
    assert set(mean) == {"R₊", "R₋", "D", "ε_tr", "ε_test"}
    assert all(list(x) == list(range(1, 61)) for x in mean.values())  # log axis: epochs 1..60
    frame = store.metrics_frame(job_id)
    r_plus = [t for t in spec["data"] if t.get("name") == "R₊"][0]
    expected = frame[frame.epoch > 0].groupby("epoch")["r_plus"].mean().to_numpy()
    np.testing.assert_allclose(values(r_plus, "y"), expected)
    seeds = [t for t in spec["data"] if t.get("meta") == "seed"]
    assert len(seeds) == 4 - 1 and all(len(values(t)) == 10 * 61 for t in seeds)  # R+, R-, D; gaps between seeds
    # the grey band: from the earliest to the latest mean t* of the three metrics (the summary's)
    summary = views.summary(store, job_id)
    t_mean = [np.mean(summary["inversion"]["t_star"][m]) for m in ("r_plus", "r_minus", "distance")]
    bands = [s for s in spec["layout"]["shapes"] if s.get("name") == "inversion band"]
    assert len(bands) == 4
    assert bands[0]["x0"] == pytest.approx(min(t_mean)) and bands[0]["x1"] == pytest.approx(max(t_mean))
    assert spec["layout"]["xaxis"]["type"] == "log"
    assert any("Inversion: mean t*" in c.value for c in at.caption)


def test_linear_axis_and_no_seed_lines_from_the_url(seeded):
    store, job_id = seeded
    at = app_test(PAGE, {"job": str(job_id), "logx": "0", "lines": "0"})
    [spec] = figures(at)
    assert spec["layout"]["xaxis"]["type"] == "linear"
    assert not [t for t in spec["data"] if t.get("meta") == "seed"]
    mean = [values(t) for t in spec["data"] if t.get("meta") == "mean"]
    assert all(list(x) == list(range(0, 61)) for x in mean)  # epoch 0 is back on a linear axis


def test_unknown_job_says_so(seeded):
    at = app_test(PAGE, {"job": "999"})
    assert not at.exception
    assert any("no job 999" in w.value for w in at.warning)


# --- the pure functions behind the live view -------------------------------------------------

def test_band_appears_only_once_the_curves_have_turned(seeded):
    from dashboard.figures_dynamics import band_of, inversion_stats

    def live_band(frame):
        return band_of(inversion_stats(frame))
    store, job_id = seeded
    frame = store.metrics_frame(job_id)
    t_first = min(np.mean(v) for v in views.summary(store, job_id)["inversion"]["t_star"].values())
    assert live_band(frame[frame.epoch <= int(t_first) - 3]) is None  # still segregating
    lo, hi = live_band(frame)
    assert lo == pytest.approx(t_first)


def test_polling_stops_when_the_job_ends():
    from dashboard.live import POLL_S, poll_interval
    assert poll_interval({"status": "running"}) == POLL_S == 1.0
    assert poll_interval({"status": "queued"}) == POLL_S
    for status in ("done", "failed", "cancelled", "interrupted"):
        assert poll_interval({"status": status}) is None
    assert poll_interval(None) is None


def test_what_is_drawn_is_downsampled_not_what_is_stored():
    import pandas as pd

    from dashboard.figures_dynamics import MAX_POINTS, dynamics_figure, pick_epochs
    T, R = 3000, 30
    epochs = np.arange(T + 1)
    frame = pd.DataFrame({"seed": np.repeat(np.arange(R), T + 1), "epoch": np.tile(epochs, R),
                          **{c: np.random.default_rng(0).random(R * (T + 1)) for c in
                             ("loss", "train_error", "test_error", "r_plus", "r_minus", "distance")}})
    for log in (False, True):
        picked = pick_epochs(epochs[1:] if log else epochs, log=log)
        assert len(picked) == MAX_POINTS and picked[-1] == T and picked[0] == (1 if log else 0)
        assert np.all(np.diff(picked) > 0)
    fig = dynamics_figure(frame, log_x=True)
    assert all(len(t.x) <= MAX_POINTS for t in fig.data if t.meta == "mean")
    assert not [t for t in fig.data if t.meta == "seed"]  # 30 seeds > 20: no per-seed lines
    assert len(frame) == R * (T + 1)  # the frame itself is untouched


def test_estimate_grows_with_the_work():
    from engine.estimate import estimate
    small = estimate(RunConfig(dataset="digits", n_train=512, seeds=2, epochs=10), rate=1e9)
    big = estimate(RunConfig(n_train=8192, seeds=20, epochs=300), rate=1e9)
    assert 0 < small["seconds"] < big["seconds"] and 0 < small["bytes"] < big["bytes"]
    assert big["bytes"] > 20 * 301 * 8192 / 8  # at least the stored masks


# --- uploaded datasets in the form ---------------------------------------------------------------

def _save_upload(tmp_path, monkeypatch, name="mine"):
    from engine.upload import save_user_dataset
    monkeypatch.setenv("STRAGGLERS_DATA", str(tmp_path / "data"))
    rng = np.random.default_rng(0)
    save_user_dataset(name, {"x_train": rng.integers(0, 256, (60, 8, 8)).astype(np.uint8),
                             "y_train": np.arange(60) % 10,
                             "x_test": rng.integers(0, 256, (20, 8, 8)).astype(np.uint8),
                             "y_test": np.arange(20) % 10})


def test_a_job_on_an_upload_opens_with_its_dataset(empty_store, tmp_path, monkeypatch):
    from engine.jobs import queue as jobs
    _save_upload(tmp_path, monkeypatch)
    job_id = jobs.submit("run", RunConfig(dataset="user:mine", n_train=60, seeds=2, epochs=5).to_dict(),
                         store=empty_store)
    at = app_test(PAGE, {"job": str(job_id)})
    assert not at.exception
    dataset = _widget(at, "dataset")
    assert "user:mine" in dataset.options and dataset.value == "user:mine"  # not mnist
    assert not at.warning
    assert _widget(at, "n_train").value == 60


def test_an_unknown_choice_is_kept_and_warned_about(empty_store, tmp_path, monkeypatch):
    _save_upload(tmp_path, monkeypatch)
    at = app_test(PAGE, {"dataset": "user:gone"})  # e.g. a link to an upload deleted since
    assert not at.exception
    assert _widget(at, "dataset").value == "user:gone"
    assert any("user:gone" in w.value and "not available" in w.value for w in at.warning)
    at = app_test(PAGE, {"dataset": "user:mine"})
    assert _widget(at, "dataset").value == "user:mine" and not at.warning
