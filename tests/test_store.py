"""engine.jobs.store on a real SQLite file: schema version and migration, refusal of
files it must not touch, one transaction per epoch, artefacts, and a RunResult
and summary rebuilt from the store equal to the ones made in memory."""
import hashlib
import json
import sqlite3
import threading
import time

import numpy as np
import pytest

from engine.jobs import store as store_module
from engine.config import RunConfig
from engine.jobs import views
from engine.jobs.queue import JobContext, normalise
from engine.jobs.store import SCHEMA_VERSION, Store, StoreError, UnknownJob
from engine.training.records import EpochRecord


def new_job(store: Store, config: dict | None = None, status: str = "running") -> int:
    config = config or RunConfig(dataset="digits", n_train=16, epochs=3, seeds=2, device="cpu").to_dict()
    cfg, digest, total = normalise("run", config)
    with store.write() as c:
        return c.execute("INSERT INTO jobs (kind, config, config_hash, status, total, created) VALUES "
                         "('run',?,?,?,?,?)", (json.dumps(cfg), digest, status, total, time.time())).lastrowid


def record(epoch: int, seeds, P: int, rng) -> EpochRecord:
    R = len(seeds)
    wrong = rng.random((R, P)) < 0.3
    return EpochRecord(epoch=epoch, seeds=np.asarray(seeds), loss=rng.random(R), train_error=wrong.mean(1),
                       test_error=np.full(R, np.nan) if epoch % 2 else rng.random(R), r_plus=rng.random(R),
                       r_minus=rng.random(R), distance=rng.random(R), misclassified=np.packbits(wrong, axis=-1),
                       diverged=np.zeros(R, bool))


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_new_store_is_versioned_wal_and_default_path_follows_env(tmp_path, monkeypatch):
    monkeypatch.setenv("STRAGGLERS_RUNS", str(tmp_path / "runs"))
    s = Store()
    assert s.path == tmp_path / "runs" / "store.sqlite"
    assert s.schema_version() == SCHEMA_VERSION
    assert s.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert s.conn.execute("PRAGMA busy_timeout").fetchone()[0] > 0
    assert s.integrity() == "ok"
    Store(s.path)  # reopening an up-to-date store is a no-op


def test_newer_schema_is_refused_and_left_untouched(tmp_path):
    path = tmp_path / "store.sqlite"
    Store(path).close()
    c = sqlite3.connect(path)
    c.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    c.commit()
    c.close()
    before = digest(path)
    with pytest.raises(StoreError) as e:
        Store(path)
    assert str(path) in str(e.value) and "newer" in str(e.value) and "STRAGGLERS_RUNS" in str(e.value)
    assert digest(path) == before


@pytest.mark.parametrize("content", [b"not a database " * 300, None])
def test_corrupt_or_foreign_file_is_refused_and_left_untouched(tmp_path, content):
    path = tmp_path / "store.sqlite"
    if content is None:  # an SQLite file of something else
        c = sqlite3.connect(path)
        c.execute("CREATE TABLE other (x)")
        c.commit()
        c.close()
    else:
        path.write_bytes(content)
    before = digest(path)
    with pytest.raises(StoreError) as e:
        Store(path)
    assert str(path) in str(e.value) and "untouched" in str(e.value)
    assert digest(path) == before


def test_migration_to_a_later_version_keeps_the_data(tmp_path, monkeypatch):
    path = tmp_path / "store.sqlite"
    s = Store(path)
    job = new_job(s)
    s.write_epoch(job, record(0, [0, 1], 16, np.random.default_rng(0)))
    s.close()
    migrations = dict(store_module.MIGRATIONS)
    migrations[SCHEMA_VERSION + 1] = "ALTER TABLE jobs ADD COLUMN note TEXT; CREATE INDEX metrics_by_seed ON metrics (seed)"
    monkeypatch.setattr(store_module, "MIGRATIONS", migrations)
    monkeypatch.setattr(store_module, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    s = Store(path)
    assert s.schema_version() == SCHEMA_VERSION + 1
    assert "note" in s.get_job(job)
    assert len(s.metrics_frame(job)) == 2 and s.integrity() == "ok"


def test_epoch_round_trip_frame_and_masks(tmp_path):
    s = Store(tmp_path / "store.sqlite")
    job = new_job(s)
    rng = np.random.default_rng(1)
    recs = [record(t, [0, 1], 16, rng) for t in range(4)]
    for r in recs:
        s.write_epoch(job, r, progress=(r.epoch, 3, 1.5))
    frame = s.metrics_frame(job)
    assert list(frame.columns) == ["seed", "epoch", "loss", "train_error", "test_error", "r_plus", "r_minus",
                                   "distance"]
    assert len(frame) == 8 and frame["test_error"].isna().sum() == 4  # odd epochs: no test error
    row = frame[(frame.seed == 1) & (frame.epoch == 2)].iloc[0]
    assert row.loss == recs[2].loss[1] and row.r_minus == recs[2].r_minus[1]
    mask = s.masks(job, 1, 2)
    assert mask.dtype == bool and mask.shape == (16,)
    assert np.array_equal(mask, np.unpackbits(recs[2].misclassified[1], count=16).astype(bool))
    assert s.get_job(job)["progress"] == "3/3"
    with pytest.raises(KeyError):
        s.masks(job, 5, 0)
    with pytest.raises(UnknownJob):
        s.get_job(999)


def test_a_concurrent_reader_never_sees_half_an_epoch(tmp_path):
    """Writer thread and reader thread, each with its own connection, as a worker and a page."""
    s = Store(tmp_path / "store.sqlite")
    R, P, T = 64, 2048, 60
    job = new_job(s)
    recs = [record(t, range(R), P, np.random.default_rng(t)) for t in range(T)]
    done = threading.Event()

    errors, seen, torn = [], [], []

    def writer():
        try:
            for r in recs:
                s.write_epoch(job, r, progress=(r.epoch, T, None))
                time.sleep(0.002)  # a worker trains between epochs
        except Exception as e:  # noqa: BLE001 - reported by the test below
            errors.append(e)
        finally:
            done.set()

    def reader():
        try:
            read_epochs()
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    def read_epochs():
        while not done.is_set():
            frame = s.metrics_frame(job)
            seen.append(len(frame))
            if len(frame) % R or (len(frame) and frame.groupby("epoch").size().min() != R):
                torn.append(len(frame))
            with s.read() as c:  # metrics, masks and progress in one snapshot agree
                n_metrics = c.execute("SELECT count(*) FROM metrics WHERE job_id=?", (job,)).fetchone()[0]
                n_masks = c.execute("SELECT count(*) FROM masks WHERE job_id=?", (job,)).fetchone()[0]
                epoch = c.execute("SELECT epoch FROM jobs WHERE id=?", (job,)).fetchone()[0]
            if n_metrics != n_masks or (n_metrics and n_metrics != R * (epoch + 1)):
                torn.append((n_metrics, n_masks, epoch))

    threads = [threading.Thread(target=writer), threading.Thread(target=reader)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors and not torn
    assert any(0 < n < R * T for n in seen), "the reader never overlapped the writer"
    assert len(s.metrics_frame(job)) == R * T


def test_artifacts_round_trip_json_and_numpy(tmp_path):
    s = Store(tmp_path / "store.sqlite")
    job = new_job(s)
    obj = {"phi": np.float64(0.25), "count": np.int64(3), "rows": [{"a": 1, "b": [1.5, None]}], "nan": float("nan")}
    s.put_artifact(job, "table", obj)
    back = s.get_artifact(job, "table")
    assert back["phi"] == 0.25 and back["count"] == 3 and back["rows"] == [{"a": 1, "b": [1.5, None]}]
    assert np.isnan(back["nan"])
    for name, arr in {"f": np.linspace(0, 1, 12).reshape(3, 4), "i": np.arange(7, dtype=np.int64),
                      "b": np.eye(3, dtype=bool)}.items():
        s.put_artifact(job, name, arr)
        out = s.get_artifact(job, name)
        assert out.dtype == arr.dtype and np.array_equal(out, arr)
    s.put_artifact(job, "table", [1, 2])  # replaced, not duplicated
    assert s.get_artifact(job, "table") == [1, 2]
    assert s.artifact_names(job) == ["b", "f", "i", "table"]
    assert s.get_artifact(job, "missing") is None


def test_result_and_summary_from_the_store_match_the_run(tmp_path, digits_data):
    from engine.analysis.report import summary
    from engine.run import run
    from engine.analysis.stragglers import stragglers_at
    s = Store(tmp_path / "store.sqlite")
    cfg = RunConfig(dataset="digits", n_train=512, epochs=30, seeds=3, device="cpu", test_every=4)
    job = new_job(s, cfg.to_dict())
    ctx = JobContext(s, job, epochs_total=cfg.epochs)
    mine, data = run(cfg, data=digits_data, on_epoch=ctx.on_epoch, should_stop=ctx.should_stop)
    back = s.result(job)
    assert back.epochs_done == mine.epochs_done == 30 and list(back.seeds) == [0, 1, 2]
    for name, curve in mine.curves.items():
        np.testing.assert_array_equal(back.curves[name], curve)
    assert np.array_equal(back.masks, mine.masks) and back.diverged == mine.diverged
    expected, got = summary(mine, data), views.summary(s, job)  # computed from the store (job not done)
    expected.pop("timing"), got.pop("timing")
    assert got == expected
    assert np.array_equal(views.stragglers(s, job), stragglers_at(mine))  # empty rows: seeds without t*


def test_gc_removes_old_finished_jobs_only(tmp_path):
    s = Store(tmp_path / "store.sqlite")
    old, active = new_job(s, status="done"), new_job(s, status="running")
    for job in (old, active):
        s.write_epoch(job, record(0, [0, 1], 16, np.random.default_rng(0)))
        s.put_artifact(job, "x", [1])
    with s.write() as c:
        c.execute("UPDATE jobs SET finished=? WHERE id=?", (time.time() - 3 * 86400, old))
    assert s.gc(2 * 86400) == 1
    assert [j["id"] for j in s.list_jobs()] == [active]
    assert len(s.metrics_frame(old)) == 0 and s.get_artifact(old, "x") is None
    assert s.conn.execute("SELECT count(*) FROM masks WHERE job_id=?", (old,)).fetchone()[0] == 0
