"""The home page (app.py): the job list, presets, device, datasets, the figure, the
guided path."""
import numpy as np
import pytest

from helpers import app_test, figures, shared_store, values

PAGE = "app.py"


@pytest.fixture
def seeded(tmp_path_factory, monkeypatch):
    return shared_store(tmp_path_factory, monkeypatch)


@pytest.fixture
def no_workers(monkeypatch):
    """Jobs submitted from the page stay queued: no worker process is started."""
    from engine.jobs import queue as jobs
    monkeypatch.setattr(jobs, "refresh", lambda *a, **k: 0)


def _table(at, column):
    return next(d.value for d in at.dataframe if column in d.value.columns)


def test_job_list_shows_the_finished_run(seeded):
    store, job_id = seeded
    at = app_test(PAGE)
    assert not at.exception
    jobs = _table(at, "progress")
    row = jobs[jobs["id"] == job_id].iloc[0]
    assert row["status"] == "done" and row["progress"] == 1.0 and row["epochs"] == "60/60 epochs"
    assert row["job"] == f"#{job_id} · digits P=512 · 10 seeds · 60 epochs · lr=1.0"
    assert row["open"] == f"Run?job={job_id}" and row["device"] == "cpu"
    assert not any(b.label == "Cancel" for b in at.button)  # nothing to cancel


def test_figure_is_the_newest_run(seeded):
    store, job_id = seeded
    at = app_test(PAGE)
    [spec] = figures(at)
    mean = [t for t in spec["data"] if t.get("meta") == "mean"]
    assert len(mean) == 5 and all(len(values(t)) == 60 for t in mean)
    assert [s for s in spec["layout"]["shapes"] if s.get("name") == "inversion band"]
    assert any(f"#{job_id} · digits" in c.value for c in at.caption)


def test_presets_machine_datasets_and_path(seeded):
    from engine.planning.calibration import calibration
    calibration("cpu")  # this machine measured (once per test session): the presets give their estimates
    at = app_test(PAGE)
    labels = [b.label for b in at.button]
    assert labels[:4] == ["Quick demo: MNIST, P = 2048, 10 seeds, 150 epochs",
                          "Paper, Fig. 1b: MNIST, P = 8192, 20 seeds, 300 epochs",
                          "Random labels: MNIST, P = 2048, 10 seeds, 300 epochs",
                          "Fashion-MNIST: P = 2048, 10 seeds, 300 epochs"]
    assert any("Device for `device=auto`: **CPU" in m.value or "**CUDA" in m.value for m in at.markdown)
    data = _table(at, "how to fetch").set_index("dataset")
    assert list(data.index) == ["mnist", "kmnist", "fashion", "cifar10", "digits"]
    assert data.loc["digits", "ready"] == "yes" and data.loc["digits", "source"] == "scikit-learn"
    missing = list(data.index[data["ready"] == "no"])
    for name in missing:  # the command in the table, the whole recipe below it
        assert data.loc[name, "how to fetch"] == f"python -m engine data fetch {name}"
    if missing:
        recipe = at.expander[-1]
        assert recipe.label.startswith(f"How to get the {len(missing)} missing dataset")
        assert all(f"**{name}**" in recipe.markdown[0].value for name in missing)
    # every preset says what it will cost here, from the same estimator as the Run form
    estimates = [c.value for c in at.caption if c.value.startswith("Estimate here: about ")]
    assert len(estimates) == 4
    links = [p.proto.label for p in at.get("page_link")]
    assert any(label.startswith("1. Run —") for label in links)
    assert any(label.startswith("2. Inversion —") for label in links)
    assert at.expander[0].label == "What to notice"


def test_a_machine_never_measured_is_measured_in_the_background(seeded, tmp_path, monkeypatch):
    from dashboard import estimates
    from engine.planning import calibration
    monkeypatch.setenv(calibration.FOLDER_ENV, str(tmp_path / "calibration"))
    at = app_test(PAGE)
    assert not at.exception
    assert any(c.value.startswith("Estimates of the presets appear here once") for c in at.caption)
    assert len([b for b in at.button if b.key and b.key.startswith("preset-")]) == 4  # usable meanwhile
    thread = estimates._measuring["cpu"]
    thread.join(600)  # a real measurement, in the page's process
    assert calibration.cached("cpu") is not None
    at = app_test(PAGE)
    assert len([c for c in at.caption if c.value.startswith("Estimate here: about ")]) == 4


def test_quick_preset_queues_the_run_and_opens_the_run_page(tmp_path, monkeypatch, no_workers):
    from engine.jobs.store import Store
    monkeypatch.setenv("STRAGGLERS_RUNS", str(tmp_path))
    monkeypatch.setenv("STRAGGLERS_QUICK_PRESET", "dataset=digits,n_train=256,seeds=3,epochs=7")
    at = app_test(PAGE)
    assert any("demo computed on this machine" in c.value for c in at.caption)  # empty store: the demo
    at.get_by_key("preset-quick").click().run()
    assert not at.exception
    [job] = Store(tmp_path / "store.sqlite").list_jobs()
    assert job["status"] == "queued"
    assert {k: job["config"][k] for k in ("dataset", "n_train", "seeds", "epochs")} == \
        dict(dataset="digits", n_train=256, seeds=3, epochs=7)
    assert at.title[0].value == "Run"  # switched to the Run page, on this job
    assert str(at.query_params["job"]).strip("[]'") == str(job["id"])
    assert at.get("progress")[0].proto.text.startswith("queued · epoch 0/7")


def test_an_active_job_can_be_cancelled_from_the_list(tmp_path, monkeypatch, no_workers):
    from engine.jobs import queue as jobs
    from engine.config import RunConfig
    from engine.jobs.store import Store
    monkeypatch.setenv("STRAGGLERS_RUNS", str(tmp_path))
    store = Store(tmp_path / "store.sqlite")
    job_id = jobs.submit("run", RunConfig(dataset="digits", n_train=128, seeds=2, epochs=3).to_dict(), store=store)
    at = app_test(PAGE)
    row = _table(at, "progress").iloc[0]
    assert row["status"] == "queued" and row["progress"] == 0.0 and row["epochs"] == "0/3 epochs"
    at.get_by_key(f"cancel-job-{job_id}").click().run()
    assert not at.exception
    assert store.get_job(job_id)["status"] == "cancelled"
    assert _table(at, "progress").iloc[0]["status"] == "cancelled"


def test_presets_are_the_issues_sizes(monkeypatch):
    from dashboard.run_form import preset_config
    monkeypatch.delenv("STRAGGLERS_QUICK_PRESET", raising=False)
    q = preset_config("quick")
    assert (q.dataset, q.n_train, q.seeds, q.epochs, q.lr, q.labels) == ("mnist", 2048, 10, 150, 0.2, "parity")
    f = preset_config("fig1b")
    assert (f.dataset, f.n_train, f.seeds, f.epochs) == ("mnist", 8192, 20, 300)
    assert preset_config("random").labels == "random"
    assert preset_config("fashion").dataset == "fashion"
    shrunk = preset_config("quick", env={"STRAGGLERS_QUICK_PRESET": "dataset=digits,epochs=40"})
    assert (shrunk.dataset, shrunk.epochs, shrunk.n_train, shrunk.seeds) == ("digits", 40, 2048, 10)


def test_job_table_eta_and_labels():
    from dashboard.jobs_view import fmt_seconds, jobs_table
    run = {"dataset": "mnist", "n_train": 2048, "seeds": 10, "epochs": 120, "labels": "random"}
    t = jobs_table([{"id": 3, "kind": "run", "status": "running", "epoch": 30, "total": 120, "eta_s": 75.2,
                     "device": "cpu", "config": run},
                    {"id": 2, "kind": "prune", "status": "failed", "epoch": 5, "total": 9, "eta_s": None,
                     "error": "boom", "config": {}},
                    {"id": 1, "kind": "run", "status": "done", "epoch": 120, "total": 120, "eta_s": None,
                     "device": "cpu", "config": run},
                    {"id": 4, "kind": "sweep", "status": "queued", "epoch": 0, "total": 1200, "eta_s": None,
                     "device": None, "error": None, "config": {**run, "n_grid": 4}}])
    assert list(t["progress"]) == [0.25, 5 / 9, 1.0, 0.0]
    assert list(t["ETA"]) == ["1 min 15 s", "", "", "–"]
    assert list(t["epochs"]) == ["30/120 epochs", "5/9 seed-epochs", "120/120 epochs", "0/1200 seed-epochs"]
    assert t.loc[0, "job"] == "#3 · mnist P=2048 · 10 seeds · 120 epochs · labels=random"
    assert t.loc[1, "job"] == "#2 · prune" and t.loc[1, "error"] == "boom"
    # every row opens somewhere: a run's live view, an experiment's page on the run it was made from
    assert list(t["open"]) == ["Run?job=3", "Pruning", "Run?job=1", "Pruning?job=1"]
    assert "None" not in t.astype(str).to_numpy().ravel().tolist()  # no literal None in any cell
    assert fmt_seconds(None) == "–" and fmt_seconds(3725) == "1 h 02 min"
