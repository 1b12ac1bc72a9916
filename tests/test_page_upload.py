"""The "Your data" page: a bad upload says what is wrong and stores nothing; a good one is
previewed, saved atomically under data/user/<name>.npz, listed, and can be run."""
import io

import numpy as np
import pytest
from helpers import app_test


def npz(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def good(n=60, m=20):
    rng = np.random.default_rng(1)
    return {"x_train": rng.integers(0, 256, (n, 8, 8)).astype(np.uint8), "y_train": np.arange(n) % 10,
            "x_test": rng.integers(0, 256, (m, 8, 8)).astype(np.uint8), "y_test": np.arange(m) % 10}


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("STRAGGLERS_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("STRAGGLERS_RUNS", str(tmp_path / "runs"))
    return tmp_path


def upload(at, name, data):
    at.file_uploader(key="upload").upload(name, data, "application/octet-stream")
    return at.run()


def stored(env) -> list:
    d = env / "data" / "user"
    return sorted(p.name for p in d.iterdir()) if d.exists() else []


def truncated() -> bytes:
    data = npz(**good())
    return data[: len(data) // 2]


def pickled() -> bytes:
    return npz(**{**good(), "y_train": np.array([object()] * 60, dtype=object)})


def with_nan() -> bytes:
    a = good()
    return npz(**{**a, "x_train": np.where(a["x_train"] > 250, np.nan, a["x_train"] / 255.0)})


@pytest.mark.parametrize("content, says", [
    (truncated, "The .npz archive is corrupt"),
    (lambda: npz(x_train=good()["x_train"], y_train=good()["y_train"]), "Missing x_test, y_test"),
    (lambda: npz(**{**good(), "x_test": np.zeros((20, 9, 8), np.uint8)}), "Training images are (8, 8) but test "
                                                                          "images are (9, 8)"),
    (with_nan, "NaN or infinite"),
    (lambda: npz(**{**good(), "y_test": np.arange(20) + 1}),
     "y_test has labels out of range (10, 11, 12, 13, 14, ...)"),
    (pickled, "y_train is an object array (pickled Python objects)"),
])
def test_a_bad_upload_says_why_and_stores_nothing(env, content, says):
    at = upload(app_test("pages/7_Your_data.py"), "bad.npz", content())
    assert not at.exception
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and says in errors[0] and "bad.npz" in errors[0] and "Nothing was stored" in errors[0]
    assert not [b for b in at.button if b.key == "save"]
    assert stored(env) == []


def test_a_good_upload_is_previewed_saved_and_listed(env):
    from engine.data.sources import load_raw
    at = upload(app_test("pages/7_Your_data.py"), "My digits (2).npz", npz(**good()))
    assert not at.exception and not at.error
    assert "60 training and 20 test images of 8 × 8 (uint8)" in at.success[0].value
    assert len(at.get("image")[0].captions) == 10  # one example per class
    assert at.text_input(key="name").value == "My_digits_2"
    at.text_input(key="name").set_value("mine").run()
    at.button(key="save").click().run()
    assert stored(env) == ["mine.npz"]
    assert any("user:mine" in s.value for s in at.success)
    raw = load_raw("user:mine")
    np.testing.assert_array_equal(raw.x_train, good()["x_train"])
    # saving again under the same name is refused, the file untouched
    at.button(key="save").click().run()
    assert any("already exists" in e.value for e in at.error) and stored(env) == ["mine.npz"]
    # a fresh page lists it
    fresh = app_test("pages/7_Your_data.py", {"dataset": "mine"})
    assert fresh.selectbox(key="dataset").value == "mine"
    assert fresh.number_input(key="P").value == 60  # P is capped at the training split


def test_note_says_labels_0_to_9_and_parity():
    from dashboard.notes import note
    text = note("Your data")
    assert "0..9" in text and "parity" in text and "two-class" not in text


def test_a_run_started_here_is_queued_shows_its_progress_then_where_its_results_are(env, monkeypatch):
    """The saved dataset's run is queued with its options; then (issue 20, case 7: it used to
    show only 'Job #7 queued…') its live progress, kept across a reload, and its end."""
    from engine.jobs import queue as jobs
    from engine.data.upload import save_user_dataset, validate_npz
    from engine.jobs.store import Store
    monkeypatch.setattr(jobs, "refresh", lambda *a, **k: 0)  # queue only: no worker process in a test
    save_user_dataset("mine", validate_npz(npz(**good())))
    at = app_test("pages/7_Your_data.py", {"dataset": "mine"})
    at.number_input(key="T").set_value(20).run()
    at.button(key="run").click().run()
    assert not at.error, [e.value for e in at.error]
    queued = Store(env / "runs" / "store.sqlite").list_jobs("run")
    assert len(queued) == 1 and queued[0]["config"]["dataset"] == "user:mine" and queued[0]["config"]["n_train"] == 60
    job_id = queued[0]["id"]
    assert str(at.query_params["job"]).strip("[]'") == str(job_id)  # kept for a reload
    again = app_test("pages/7_Your_data.py", {"dataset": "mine", "job": job_id})
    assert not again.exception
    assert any(f"run #{job_id}" in p.proto.text for p in again.get("progress"))  # queued: its live bar
    store = Store(env / "runs" / "store.sqlite")
    jobs.cancel(job_id, store=store)
    gone = app_test("pages/7_Your_data.py", {"dataset": "mine", "job": job_id})
    assert any(f"Run #{job_id} cancelled" in e.value for e in gone.error)
