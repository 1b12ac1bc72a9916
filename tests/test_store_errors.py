"""A store that cannot be used is one line naming the cause and the fix, never a
traceback (issue 14, case 6): damaged in the middle, read-only (file or folder),
on a full disk. Reading (list, show, export) works wherever the file can be read."""
import json
import shutil
import subprocess
import sys
import time

import helpers
import pytest

from engine.jobs.store import PAGE_SIZE, Store
from hostile import fill, read_only, small_disk

JOBS = 4


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    """A store file with JOBS finished run jobs (copied by each test)."""
    folder = tmp_path_factory.mktemp("pristine")
    with helpers.env_restored():
        store, _ = helpers.seed_store(folder, n_train=64, seeds=2, epochs=8)
        for k in range(1, JOBS):
            helpers.run_job(store, "run", dict(helpers.SMALL, n_train=64, seeds=2, epochs=8 + k))
    store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    return store.path


@pytest.fixture
def runs(tmp_path, monkeypatch, pristine):
    folder = tmp_path / "runs"
    folder.mkdir()
    shutil.copy(pristine, folder / "store.sqlite")
    monkeypatch.setenv("STRAGGLERS_RUNS", str(folder))
    return folder


def cli(capsys, *args):
    from engine.cli import main
    rc = main(list(args))
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return rc, out, err


def one_line(err: str) -> str:
    lines = [ln for ln in err.strip().splitlines() if not ln.startswith("note: ")]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def test_a_damaged_jobs_page_is_named_as_damage_never_as_a_missing_job(runs, capsys, tmp_path):
    """Zero every 256-byte stretch of the page that holds the jobs table in turn: each
    command then works or says the store is damaged and what to do; it never answers
    "no job 3" for a job that is there, and never raises."""
    path = runs / "store.sqlite"
    pristine = path.read_bytes()
    said = {"ok": 0, "damaged": 0}
    for start in range(PAGE_SIZE, 2 * PAGE_SIZE, 256):
        raw = bytearray(pristine)
        raw[start:start + 256] = bytes(256)
        path.write_bytes(raw)
        for args in (("jobs", "list"), ("jobs", "show", "3"),
                     ("jobs", "export", "3", "--out", str(tmp_path / "export"))):
            rc, out, err = cli(capsys, *args)
            if rc == 0:
                said["ok"] += 1
                continue
            line = one_line(err)
            assert rc == 2 and "no job 3" not in line, (start, args, line)
            assert f"{path} is damaged" in line and ".broken" in line, line
            said["damaged"] += 1
    assert said["damaged"] > 0 and said["ok"] > 0, said  # some stretches hold rows, some do not


def test_a_garbage_page_is_one_line_for_every_command(runs, capsys, tmp_path):
    path = runs / "store.sqlite"
    raw = bytearray(path.read_bytes())
    raw[PAGE_SIZE:2 * PAGE_SIZE] = bytes((7 * i + 3) % 256 for i in range(PAGE_SIZE))  # the jobs table
    path.write_bytes(raw)
    for args in (("jobs", "list"), ("jobs", "show", "2"), ("jobs", "export", "2", "--out", str(tmp_path / "e")),
                 ("jobs", "cancel", "2"), ("jobs", "submit", "--dataset", "digits", "--n-train", "64")):
        rc, out, err = cli(capsys, *args)
        assert rc == 2 and f"{path} is damaged" in one_line(err), (args, err)
    assert path.read_bytes() == raw  # left untouched


def read_commands(capsys, tmp_path):
    rc, out, err = cli(capsys, "jobs", "list", "--json")
    assert rc == 0, err
    assert [j["id"] for j in json.loads(out)] == list(range(JOBS, 0, -1))
    rc, out, err = cli(capsys, "jobs", "show", "2")
    assert rc == 0 and "status          done" in out, err
    rc, out, err = cli(capsys, "jobs", "export", "2", "--out", str(tmp_path / "export"))
    assert rc == 0 and (tmp_path / "export" / "summary.json").is_file(), err


def test_a_read_only_store_file_can_be_read_and_refuses_writes_with_the_fix(runs, capsys, tmp_path):
    path = runs / "store.sqlite"
    with read_only(path):
        read_commands(capsys, tmp_path)
        rc, out, err = cli(capsys, "jobs", "submit", "--dataset", "digits", "--n-train", "64", "--seeds", "2")
        line = one_line(err)
        assert rc == 2 and f"{path} is read-only" in line and "STRAGGLERS_RUNS" in line, line
        rc, out, err = cli(capsys, "jobs", "cancel", "1")  # a finished job: nothing to write, nothing refused
        assert rc == 0 and "already done" in out


def test_a_read_only_folder_is_read_only_not_a_foreign_file(runs, capsys, tmp_path):
    path = runs / "store.sqlite"
    assert not path.with_name("store.sqlite-wal").exists()
    with read_only(runs):
        read_commands(capsys, tmp_path)
        rc, out, err = cli(capsys, "jobs", "submit", "--dataset", "digits", "--n-train", "64", "--seeds", "2")
        line = one_line(err)
        assert rc == 2 and "read-only" in line and "not a readable" not in line, line


def test_a_full_disk_still_lists_and_refuses_a_submit_naming_the_disk(tmp_path, capsys, monkeypatch, pristine):
    with small_disk(tmp_path / "runs", 1024) as runs:
        monkeypatch.setenv("STRAGGLERS_RUNS", str(runs))
        shutil.copy(pristine, runs / "store.sqlite")
        gone = subprocess.Popen([sys.executable, "-c", "pass"])
        gone.wait()
        store = Store()
        with store.write() as c:  # a job whose worker died: `list` wants to mark it interrupted
            c.execute("UPDATE jobs SET status='running', pid=? WHERE id=1", (gone.pid,))
        store.close()
        fill(runs)
        rc, out, err = cli(capsys, "jobs", "list")
        assert rc == 0 and out.count("\n") == JOBS + 1, err
        assert "note:" in err and "disk" in err  # why statuses could not be brought up to date
        rc, out, err = cli(capsys, "jobs", "submit", "--dataset", "digits", "--n-train", "64", "--seeds", "2")
        assert rc == 2 and "free" in one_line(err), err


def test_a_store_folder_that_cannot_be_created_is_one_line(tmp_path, capsys, monkeypatch):
    locked = tmp_path / "locked"
    locked.mkdir()
    monkeypatch.setenv("STRAGGLERS_RUNS", str(locked / "runs"))
    with read_only(locked):
        rc, out, err = cli(capsys, "jobs", "list")
        assert rc == 2 and "cannot be created" in one_line(err) and "STRAGGLERS_RUNS" in err, err


def test_a_reader_follows_a_store_file_that_was_deleted_a_worker_notices(tmp_path):
    """runs/ deleted while the app runs: the app's next read opens the new store at the
    same path (where the workers it starts will write), not the deleted file."""
    from engine.config import RunConfig
    path = tmp_path / "runs" / "store.sqlite"
    reader, worker = Store(path), Store(path, follow=False)
    with reader.write() as c:
        c.execute("INSERT INTO jobs (kind, config, config_hash, status, created) VALUES ('run', ?, 'h', 'done', ?)",
                  (json.dumps(RunConfig().to_dict()), time.time()))
    assert len(reader.list_jobs()) == 1 and len(worker.list_jobs()) == 1 and not worker.gone()
    shutil.rmtree(path.parent)
    assert worker.gone() and reader.gone()
    assert reader.list_jobs() == [] and path.is_file() and not reader.gone()
    assert worker.gone() and len(worker.list_jobs()) == 1  # still the deleted file: the worker stops on gone()


# --- the real cause, not a neighbour's (issue 22, case 9) -----------------------------------
SUBMIT = ("jobs", "submit", "--dataset", "digits", "--n-train", "64", "--seeds", "2", "--epochs", "2")


def test_a_store_path_that_is_a_folder_is_named_as_a_folder(tmp_path, capsys, monkeypatch):
    runs = tmp_path / "runs"
    (runs / "store.sqlite").mkdir(parents=True)
    monkeypatch.setenv("STRAGGLERS_RUNS", str(runs))
    for args in (("jobs", "list"), ("jobs", "show", "1"), SUBMIT):
        rc, out, err = cli(capsys, *args)
        line = one_line(err)
        assert rc == 2 and "is a folder" in line and "read-only" not in line and "chmod" not in line, line
        assert "STRAGGLERS_RUNS" in line
    assert list((runs / "store.sqlite").iterdir()) == []  # nothing queued, nothing written into it


def test_submitting_to_a_read_only_disk_says_read_only_not_epochs(tmp_path, capsys, monkeypatch):
    from hostile import read_only_disk
    with read_only_disk(tmp_path / "runs") as disk:
        monkeypatch.setenv("STRAGGLERS_RUNS", str(disk.path))
        Store().close()  # an empty store, then the disk goes read-only
        disk.lock()
        rc, out, err = cli(capsys, *SUBMIT)
        line = one_line(err)
        assert rc == 2 and "read-only" in line and "--epochs" not in line, line
        assert Store().list_jobs() == []


def test_a_disk_too_small_for_any_store_does_not_blame_the_epochs(tmp_path, capsys, monkeypatch):
    """2 epochs of 2 seeds need a few KiB: the rest is the write-ahead log, which no
    option makes smaller; the fix is space or another folder."""
    with small_disk(tmp_path / "runs", 4096) as runs:
        monkeypatch.setenv("STRAGGLERS_RUNS", str(runs))
        rc, out, err = cli(capsys, *SUBMIT)
        line = one_line(err)
        assert rc == 2 and "--epochs" not in line and "free" in line and "STRAGGLERS_RUNS" in line, line
        assert not (runs / "store.sqlite").exists()


def test_a_disk_that_fills_up_mid_run_fails_the_job_naming_the_disk(tmp_path, monkeypatch):
    """The worker's last write (the job's status) needs space too: the job is recorded as
    failed because of the full disk, not left to be taken for a killed worker."""
    from engine.config import RunConfig
    from engine.jobs import queue
    with small_disk(tmp_path / "runs", 40 * 1024) as runs:
        monkeypatch.setenv("STRAGGLERS_RUNS", str(runs))
        monkeypatch.setenv("OMP_NUM_THREADS", "1")
        store = Store()
        config = RunConfig(dataset="digits", n_train=1024, seeds=4, epochs=400, width=1500, device="cpu")
        job = queue.submit("run", config.to_dict(), store=store)
        assert helpers.wait_until(lambda: store.get_job(job)["epoch"] >= 5, 120, poll=0.01)
        fill(runs)
        try:
            assert helpers.wait_until(lambda: (j := store.get_job(job))["status"] != "running"
                                      or not queue.alive(j["pid"], j["pid_start"], j["host"]), 120, poll=0.2)
        finally:
            (runs / "filler").unlink()
        queue.refresh(store)  # what any reader does next: a dead worker would now be "killed, or out of memory?"
        done = store.get_job(job)
        assert done["status"] == "failed" and done["epoch"] < 400, done
        assert f"the disk holding {store.path} is full" in done["error"] and "memory" not in done["error"], done
        assert not list(runs.glob(".reserve-*"))  # the worker left nothing behind
        for p in list(queue._children):
            p.wait(timeout=60)
