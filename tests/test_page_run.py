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
    """The option's widget, None when the form does not show it."""
    try:
        return at.get_by_key(f"opt-{name}")
    except KeyError:
        return None


def _column_errors(at) -> dict:
    """Error messages by the form's column they are drawn in (data, architecture,
    optimiser, training, device): an error sits at its field, not below the form."""
    return {k: [e.value for e in col.error] for k, col in enumerate(at.columns) if col.error}


APPLIES = {"momentum": ("optimizer", "momentum"), "batch_size": ("optimizer", "sgd"),
           "kernel_size": ("model", "cnn"), "label_seed": ("labels", "random"), "layer": ("depth", 3)}


def test_form_shows_the_options_that_apply_in_plain_words(empty_store):
    at = app_test(PAGE)
    assert not at.exception
    for f in _fields():
        w = _widget(at, f.name)
        if f.name in APPLIES:
            assert w is None, f"{f.name} is shown for the defaults, where it does not apply"
            continue
        assert w.value == f.default and w.help.strip(), f.name
        assert "_" not in w.label, f"{f.name}: engine name {w.label!r} as the label"
    groups = [m.value for m in at.markdown if m.value.startswith("**")]
    assert groups[:5] == ["**Data**", "**Architecture**", "**Optimiser**", "**Training**", "**Device**"]
    assert _widget(at, "lr").label == "Learning rate η" and "0.2 in the paper" in _widget(at, "lr").help
    assert _widget(at, "width").label == "Width H (units)" and _widget(at, "epochs").label == "Epochs T"
    optimizer = _widget(at, "optimizer")  # choices in words; the engine's names stay in the link and the job
    assert optimizer.options[0] == "gradient descent, full batch (the paper's)" and optimizer.value == "gd"
    assert any(m.value.startswith("Estimate on this machine: about **") for m in at.markdown)
    assert not at.error
    for name, (driver, value) in APPLIES.items():  # each appears once its option asks for it
        at = app_test(PAGE)
        _widget(at, driver).set_value(value).run()
        assert _widget(at, name) is not None and _widget(at, name).value == getattr(RunConfig, name), name


def test_an_option_that_does_not_apply_keeps_its_default_in_the_job(empty_store):
    at = app_test(PAGE, {"momentum": "0.5", "dataset": "digits", "n_train": "256", "seeds": "2", "epochs": "5"})
    assert _widget(at, "momentum") is None  # gd: no momentum to set
    at.get_by_key("launch").click().run()
    [job] = empty_store.list_jobs()
    assert job["config"]["momentum"] == RunConfig.momentum  # the same run as with the default: the same job


def test_labels_are_a_choice_parity_random_or_a_split(empty_store):
    at = app_test(PAGE)
    labels = _widget(at, "labels")
    assert labels.options == ["parity: even vs odd digit (the paper's)", "random: a fixed permutation (the control)",
                              "a split of the classes of your choice"]
    labels.set_value("split").run()
    split = at.get_by_key("opt-labels-split")
    assert split.value == [0, 1, 2, 3, 4]
    split.set_value([0, 1, 8]).run()
    assert not at.error and at.query_params["labels"] == "0,1,8|2,3,4,5,6,7,9"
    split.set_value([]).run()
    assert _column_errors(at) == {0: ["Labels: give each label at least one class (between 1 and 9 classes with "
                                      "y = +1)."]}
    assert at.get_by_key("launch").disabled
    again = app_test(PAGE, {"labels": "0,1,8|2,3,4,5,6,7,9"})  # a link brings the split back
    assert again.get_by_key("opt-labels-split").value == [0, 1, 8]


def test_negative_learning_rate_is_named_at_its_field_in_words(empty_store):
    at = app_test(PAGE)
    _widget(at, "lr").set_value(-1.0).run()
    assert not at.exception
    assert _column_errors(at) == {2: ["Learning rate η: -1.0 is not possible; it must be a finite number > 0."]}
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
    assert _column_errors(at) == {0: [f"Training points P: {n_train} is not possible; {dataset} has {size} training "
                                      f"points: P × (block + 1) must be at most {size}."]}
    assert at.get_by_key("launch").disabled
    assert empty_store.list_jobs() == []


def test_other_bad_values_each_name_their_option_at_its_field(empty_store):
    for name, bad, column, words, first in [("depth", 1, 1, "Depth L", None),
                                            ("layer", 3, 1, "Measured hidden layer", ("depth", 3)),
                                            ("seeds", 0, 3, "Seeds R", None),
                                            ("momentum", 1.5, 2, "Momentum μ", ("optimizer", "momentum"))]:
        at = app_test(PAGE)
        if first:
            _widget(at, first[0]).set_value(first[1]).run()
        _widget(at, name).set_value(bad).run()
        assert not at.exception
        errors = _column_errors(at)
        assert list(errors) == [column] and errors[column][0].startswith(f"{words}: {bad} is not possible"), name
        assert "--" not in errors[column][0]


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
    from engine.figures.dynamics import band_of, inversion_stats

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

    from engine.figures.dynamics import MAX_POINTS, dynamics_figure, pick_epochs
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


# --- uploaded datasets in the form ---------------------------------------------------------------

def _save_upload(tmp_path, monkeypatch, name="mine"):
    from engine.data.upload import save_user_dataset
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


def test_a_run_too_large_for_the_machine_is_refused_at_its_field_with_the_dry_runs_figure(empty_store, monkeypatch):
    """Seeds R = 100000 under a 2 GiB budget: the form names the seeds field, in the form's
    words, with the figure --dry-run gives (one memory model), and Launch is disabled
    before any click; nothing is queued."""
    from engine.planning.estimate import estimate
    from engine.planning.preflight import fmt_bytes
    monkeypatch.setenv("STRAGGLERS_MEMORY_MB", "2048")
    at = app_test(PAGE, {"dataset": "digits", "n_train": 200, "seeds": 100000, "epochs": 10})
    assert not at.exception
    errors = [e for col in _column_errors(at).values() for e in col]
    assert any("is too large for this machine" in e and "100000" in e for e in errors), errors
    assert not any("--" in e for e in errors), f"CLI words in the form: {errors}"
    figure = fmt_bytes(estimate(RunConfig(dataset="digits", n_train=200, seeds=100000, epochs=10))["memory_bytes"])
    assert any(figure in e for e in errors), (figure, errors)
    assert at.button(key="launch").disabled
    assert empty_store.list_jobs() == []
