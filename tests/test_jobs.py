"""engine.jobs with REAL worker processes on a real store file in tmp_path:
streaming, kill -9, cancel, divergence, de-duplication, the concurrency cap, the CLI."""
import json
import os
import re
import signal
import subprocess
import sys
import time

import helpers
import pytest

from engine.jobs import queue as jobs
from engine.config import ConfigError, RunConfig
from engine.jobs.store import Store

TIMEOUT = 240  # seconds; generous because a shared CI box can be slow to start a worker (torch import)


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("STRAGGLERS_RUNS", str(tmp_path))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # tiny nets: one thread per worker is fastest on a shared box
    monkeypatch.delenv("STRAGGLERS_MAX_WORKERS", raising=False)
    yield Store()
    for p in list(jobs._children):  # only the workers this test started
        if p.poll() is None:
            p.kill()
            p.wait()


def config(**kw) -> dict:
    return RunConfig(**{"dataset": "digits", "n_train": 256, "seeds": 3, "device": "cpu", **kw}).to_dict()


def wait_until(predicate, timeout=TIMEOUT, poll=0.01):
    return helpers.wait_until(predicate, timeout, poll=poll)


def assert_complete_epochs(store, job, R=3):
    """Every written epoch has every seed, in metrics and in masks, epochs 0..max without holes."""
    frame = store.metrics_frame(job)
    per_epoch = frame.groupby("epoch").size()
    assert (per_epoch == R).all() and list(per_epoch.index) == list(range(len(per_epoch)))
    n_masks = store.conn.execute("SELECT count(*) FROM masks WHERE job_id=?", (job,)).fetchone()[0]
    assert n_masks == len(frame)
    return frame


def test_a_reader_sees_epochs_appear_while_the_worker_runs(store):
    job = jobs.submit("run", config(epochs=300), store=store)
    counts, etas = [], []
    while (status := (seen := store.get_job(job))["status"]) in ("queued", "running"):
        if status == "running":
            counts.append(len(store.metrics_frame(job)))
            etas.append(seen["eta_s"])
        time.sleep(0.005)
    assert status == "done", store.get_job(job)["error"]
    assert any(0 < n < 3 * 301 for n in counts), counts[-5:]
    assert all(n % 3 == 0 for n in counts) and counts == sorted(counts)
    assert any(eta is not None and eta >= 0 for eta in etas)  # ETA from the measured epoch rate
    assert len(assert_complete_epochs(store, job)) == 3 * 301
    assert store.get_artifact(job, "summary")["epochs_done"] == 300


def test_kill_9_leaves_the_job_interrupted_and_a_resubmit_completes(store):
    cfg = config(epochs=600)
    job = jobs.submit("run", cfg, store=store)
    wait_until(lambda: len(store.metrics_frame(job)) >= 30)
    running = store.get_job(job)
    assert running["status"] == "running"
    os.kill(running["pid"], signal.SIGKILL)
    wait_until(lambda: jobs.refresh(store) >= 0 and store.get_job(job)["status"] == "interrupted", timeout=10)
    assert f"pid {running['pid']}" in store.get_job(job)["error"]
    assert store.integrity() == "ok"
    assert 30 <= len(assert_complete_epochs(store, job)) < 3 * 601

    assert jobs.submit("run", cfg, store=store) == job  # reruns cleanly under the same id
    done = jobs.wait(job, store, timeout=TIMEOUT)
    assert done["status"] == "done" and done["error"] is None, done["error"]
    assert len(assert_complete_epochs(store, job)) == 3 * 601


def test_cancel_stops_within_one_epoch_and_a_queued_job_is_cancelled_at_once(store):
    job = jobs.submit("run", config(epochs=100_000), store=store, max_workers=1)
    behind = jobs.submit("run", config(epochs=100_000, seed_offset=3), store=store, max_workers=1)
    wait_until(lambda: len(store.metrics_frame(job)) >= 15)
    assert store.get_job(behind)["queue_position"] == 1
    assert jobs.cancel(behind, store)["status"] == "cancelled"  # never started

    flagged = jobs.cancel(job, store)  # the job as of the moment the flag was set
    start = time.monotonic()
    final = jobs.wait(job, store, timeout=60, poll_s=0.01)
    assert final["status"] == "cancelled" and final["error"] is None
    assert time.monotonic() - start < 10
    frame = assert_complete_epochs(store, job)
    assert frame.epoch.max() <= flagged["epoch"] + 1  # the epoch under way when asked, no more
    assert store.get_job(behind)["started"] is None and len(store.metrics_frame(behind)) == 0


def test_a_diverging_run_fails_naming_the_epoch_and_keeps_its_epochs(store):
    job = jobs.submit("run", config(epochs=50, lr=1e6, activation="linear"), store=store)
    final = jobs.wait(job, store, timeout=TIMEOUT)
    assert final["status"] == "failed"
    m = re.fullmatch(r"diverged at epoch (\d+) \(seeds 0 at \1, 1 at \1, 2 at \1\): the loss grew above 10x its "
                     r"initial value or stopped being finite, no inversion is claimed for these seeds; "
                     r"lower the learning rate", final["error"])
    assert m, final["error"]
    frame = assert_complete_epochs(store, job)
    assert frame.epoch.max() == int(m.group(1))
    assert store.result(job).diverged == {0: int(m.group(1)), 1: int(m.group(1)), 2: int(m.group(1))}
    s = store.get_artifact(job, "summary")  # the same per-seed states as the CLI's summary.json
    assert s["inversion"]["state"] == ["diverged"] * 3 and s["inversion"]["phi"]["per_seed"] == [None] * 3


def test_a_worker_that_cannot_start_fails_its_job_instead_of_respawning_forever(store, tmp_path, monkeypatch):
    broken = tmp_path / "broken" / "torch"
    broken.mkdir(parents=True)
    (broken / "__init__.py").write_text("raise ImportError('this torch is broken')\n")
    monkeypatch.setenv("PYTHONPATH", str(broken.parent))  # the worker finds this torch first
    job = jobs.submit("run", config(epochs=5), store=store)
    final = jobs.wait(job, store, timeout=TIMEOUT)
    assert final["status"] == "failed"
    assert "could not start" in final["error"] and "this torch is broken" in final["error"]
    assert "worker.log" in final["error"]
    time.sleep(0.5)
    assert jobs.refresh(store) == 0  # nothing queued: no new worker
    assert "this torch is broken" in (store.path.parent / "worker.log").read_text()


def test_progress_of_a_run_in_chunks_of_seeds_never_goes_back():
    from types import SimpleNamespace

    from engine.run import EpochsDone
    T, chunks = 4, [[0, 1], [2, 3], [4]]
    done = EpochsDone(5, T)
    seen = [done(SimpleNamespace(seeds=c, epoch=e)) for c in chunks for e in range(T + 1)]
    assert seen == sorted(seen) and seen[0] == 0 and seen[-1] == T
    one = EpochsDone(5, T)  # one chunk: the epoch itself
    assert [one(SimpleNamespace(seeds=range(5), epoch=e)) for e in range(T + 1)] == list(range(T + 1))


def test_identical_submits_make_one_job_and_a_done_job_is_reused(store):
    cfg = config(epochs=20)
    first = jobs.submit("run", cfg, store=store)
    assert jobs.submit("run", dict(cfg), store=store) == first
    assert jobs.submit("run", {**cfg, "device": "auto"}, store=store) == first  # the device is not the science
    assert [j["id"] for j in store.list_jobs()] == [first]
    done = jobs.wait(first, store, timeout=TIMEOUT)
    assert done["status"] == "done"
    assert jobs.submit("run", cfg, store=store) == first and store.get_job(first)["started"] == done["started"]
    assert jobs.submit("run", cfg, store=store, force=True) == first  # force reruns it
    again = jobs.wait(first, store, timeout=TIMEOUT)
    assert again["status"] == "done" and again["started"] > done["finished"]
    assert len(store.list_jobs()) == 1 and len(store.metrics_frame(first)) == 3 * 21
    with pytest.raises(ConfigError):
        jobs.submit("run", {**cfg, "lr": -1}, store=store)
    with pytest.raises(ConfigError):
        jobs.submit("no-such-kind", cfg, store=store)


def test_ten_jobs_run_within_the_cap_and_all_finish(store):
    cap = 2
    ids = [jobs.submit("run", config(epochs=30, seed_offset=10 * i), store=store, max_workers=cap) for i in range(10)]
    assert len(set(ids)) == 10
    positions = [store.get_job(j)["queue_position"] for j in ids]
    queued = [p for p in positions if p is not None]
    assert queued == list(range(1, len(queued) + 1))  # the oldest job is next
    finished = [jobs.wait(j, store, timeout=TIMEOUT) for j in ids]
    assert all(j["status"] == "done" for j in finished), [j["error"] for j in finished]
    events = sorted([(j["started"], 1) for j in finished] + [(j["finished"], -1) for j in finished])
    running, most = 0, 0
    for _, step in events:
        running += step
        most = max(most, running)
    assert 1 <= most <= cap
    # the workers drained the queue and left
    wait_until(lambda: store.conn.execute("SELECT count(*) FROM workers").fetchone()[0] == 0, timeout=30, poll=0.1)


def test_dead_or_reused_pids_are_interrupted_and_devices_one_per_gpu(store):
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    me = os.getpid()
    for pid, token in ((gone.pid, None), (me, "not-my-start-time")):  # exited; a pid reused by another process
        with store.write() as c:
            c.execute("INSERT INTO jobs (kind, config, config_hash, status, created, pid, pid_start, host) "
                      "VALUES ('run', ?, 'h', 'running', ?, ?, ?, ?)",
                      (json.dumps(config()), time.time(), pid, token, jobs.HOST))
    jobs.refresh(store)
    assert {j["status"] for j in store.list_jobs()} == {"interrupted"}
    assert jobs.alive(me, jobs.process_token(me), jobs.HOST) and not jobs.alive(gone.pid, None, jobs.HOST)
    assert jobs._pick_device("auto", ["cuda:0"], 2) == "cuda:1"
    assert jobs._pick_device("cpu", [], 2) == "cpu" and jobs._pick_device("auto", [], 0) == "cpu"


def test_export_of_a_job_without_epochs_is_one_line_and_writes_nothing(store, tmp_path, capsys):
    from engine.cli import main
    with store.write() as c:  # an interrupted job that never recorded an epoch
        job = c.execute("INSERT INTO jobs (kind, config, config_hash, status, created) "
                        "VALUES ('run', ?, 'h', 'interrupted', ?)", (json.dumps(config()), time.time())).lastrowid
    assert main(["jobs", "export", str(job), "--out", str(tmp_path / "out")]) == 1
    assert capsys.readouterr().err.splitlines()[-1] == f"error: job {job} has no epochs yet; export it once it has run"
    assert not (tmp_path / "out").exists()


def test_cli_submit_wait_list_show_export(store, tmp_path, capsys):
    """`python -m engine jobs ...` through engine.cli.main in this process (the worker is still a real process)."""
    from engine.cli import main

    def cli(*args, rc=0):
        assert main(["jobs", *args]) == rc
        return capsys.readouterr().out

    job = int(cli("submit", "--dataset", "digits", "--n-train", "512", "--seeds", "2", "--epochs", "60",
                  "--lr", "1.0", "--device", "cpu", "--wait").split()[0])  # turns at ~15: "phi =" is shown
    listed = json.loads(cli("list", "--json"))
    assert [(j["id"], j["status"], j["progress"]) for j in listed] == [(job, "done", "60/60")]
    assert {"id", "kind", "status", "progress", "pid", "error"} <= set(listed[0])
    assert f"{job} " in cli("list") and "phi =" in cli("show", str(job))
    shown = json.loads(cli("show", str(job), "--json"))
    assert shown["status"] == "done" and "summary" in shown["artifacts"]
    cli("export", str(job), "--out", str(tmp_path / "export"))
    assert {p.name for p in (tmp_path / "export").iterdir()} == {"summary.json", "metrics.csv", "stragglers.csv",
                                                                 "stragglers.npy", "manifest.json", "scores.csv",
                                                                 "scores.parquet", "scores.json"}
    assert json.loads((tmp_path / "export" / "summary.json").read_text())["epochs_done"] == 60
    assert "already done" in cli("cancel", str(job))
    cli("show", "999", rc=2)
    assert "removed 1 finished job" in cli("gc", "--older-than", "0")
    assert json.loads(cli("list", "--json")) == []


def test_a_typo_in_an_experiment_option_fails_at_submit_and_queues_nothing(store):
    with pytest.raises(ConfigError, match="--prune-epoch=.* not an option of this experiment"):
        jobs.submit("prune", {**config(), "prune_epoch": [5]}, store=store)
    with pytest.raises(ConfigError, match="lr"):
        jobs.submit("stability", {**config(), "lr": -1.0}, store=store)
    assert store.list_jobs() == []


def test_a_replaced_upload_is_new_data_for_the_job_hash(tmp_path, monkeypatch):
    from test_upload import good_arrays

    from engine.data.upload import save_user_dataset
    monkeypatch.setenv("STRAGGLERS_DATA", str(tmp_path))
    arrays = good_arrays()
    save_user_dataset("mine", arrays)
    cfg = {**config(), "dataset": "user:mine", "n_train": 20}
    before = jobs.normalise("run", cfg)[1]
    assert jobs.normalise("run", cfg)[1] == before  # same file, same job
    time.sleep(0.01)
    save_user_dataset("mine", {**arrays, "y_train": arrays["y_train"][::-1].copy()}, overwrite=True)
    assert jobs.normalise("run", cfg)[1] != before
    save_user_dataset("other", arrays)  # a job on an upload that is not there is refused (test_config)
    assert jobs.normalise("prune", cfg)[1] != jobs.normalise("prune", {**cfg, "dataset": "user:other"})[1]


def test_error_text_kept_by_a_failed_job():
    from engine.data.sources import DatasetUnavailable
    bad = ConfigError("lr", -1, "a finite number > 0")
    assert jobs.describe(bad) == str(bad)
    assert jobs.describe(DatasetUnavailable("kmnist is not here: run python -m engine data fetch kmnist")) == \
        "kmnist is not here: run python -m engine data fetch kmnist"
    try:
        {}["missing"]
    except KeyError as e:
        assert jobs.describe(e) == "KeyError: 'missing'"


# --- issue 14, case 7 -------------------------------------------------------------------------
def test_the_same_task_spelled_another_way_is_the_same_job():
    parity = jobs.normalise("run", config())[1]
    assert jobs.normalise("run", config(labels="0,2,4,6,8|1,3,5,7,9"))[1] == parity
    assert jobs.normalise("run", config(labels=" 8,6,4,2,0|9,7,5,3,1"))[1] == parity
    assert jobs.normalise("run", config(label_seed=3))[1] == parity  # a seed of random labels, not used here
    assert jobs.normalise("run", config(labels="random", label_seed=3))[1] != \
        jobs.normalise("run", config(labels="random"))[1]
    assert jobs.normalise("run", config(labels="1,3,5,7,9|0,2,4,6,8"))[1] != parity  # flipped: another task


def test_a_worker_whose_store_is_deleted_stops(store):
    """Deleting runs/ during a job used to leave a worker writing into a deleted file,
    invisible to every list and impossible to cancel."""
    job = jobs.submit("run", config(epochs=100_000), store=store)
    wait_until(lambda: len(store.metrics_frame(job)) >= 15)
    running = store.get_job(job)
    import shutil
    shutil.rmtree(store.path.parent)
    wait_until(lambda: not jobs.alive(running["pid"], running["pid_start"], jobs.HOST), timeout=60, poll=0.1)


def test_finished_workers_do_not_linger_as_zombies(store):
    job = jobs.submit("run", config(epochs=3), store=store)
    wait_until(lambda: store.get_job(job)["status"] == "done", poll=0.05)  # no refresh(): nothing polls the child
    pid = store.get_job(job)["pid"]

    # the worker exits once the queue is empty; reaped, it leaves no /proc entry (a zombie keeps one, state Z)
    wait_until(lambda: jobs._proc_stat(pid) is None, timeout=30, poll=0.05)


def test_a_closed_pipe_ends_the_listing_quietly(store, tmp_path):
    """`python -m engine jobs list | head -1`: the reader goes away while the list is written."""
    for i in range(3):
        with store.write() as c:
            c.execute("INSERT INTO jobs (kind, config, config_hash, status, created) VALUES ('run', ?, ?, 'done', ?)",
                      (json.dumps(config(seed_offset=i)), f"h{i}", time.time()))
    for args in (["jobs", "list"], ["jobs", "list", "--json"], ["data", "list"]):
        p = subprocess.Popen([sys.executable, "-m", "engine", *args], cwd=helpers.ROOT, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        p.stdout.close()  # like `head` after its lines
        err = p.stderr.read().decode()
        assert p.wait(timeout=120) in (0, 141) and "Traceback" not in err and "Exception ignored" not in err, err


# --- arguments that got through (issue 22, cases 7 and 8) -----------------------------------
def _finished_job(store, status="done") -> int:
    with store.write() as c:  # finished a second ago
        return c.execute("INSERT INTO jobs (kind, config, config_hash, status, created, finished) "
                         "VALUES ('run', ?, 'h', ?, ?, ?)",
                         (json.dumps(config()), status, time.time() - 1, time.time() - 1)).lastrowid


@pytest.mark.parametrize("days", ["-1", "-0.5", "nan", "inf", "-inf", "1e305"])
def test_gc_refuses_a_negative_or_non_finite_age_and_deletes_nothing(store, capsys, days):
    from engine.cli import main
    job = _finished_job(store)
    assert main(["jobs", "gc", f"--older-than={days}"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --older-than=") and ">= 0" in err and len(err.splitlines()) == 1, err
    assert store.get_job(job)["status"] == "done"  # still there
    with pytest.raises(ValueError):
        store.gc(float(days) * 86400)  # 1e305 days: inf seconds
    assert main(["jobs", "gc", "--older-than", "0"]) == 0  # 0: every finished job goes
    assert store.list_jobs() == []


HUGE = "99999999999999999999999"


@pytest.mark.parametrize("args", [["show", HUGE], ["show", HUGE, "--json"], ["cancel", HUGE],
                                  ["export", HUGE, "--out", "OUT"], ["show", "-1"], ["cancel", "0"]])
def test_a_job_id_no_job_can_have_is_one_line_and_changes_nothing(store, capsys, tmp_path, args):
    from engine.cli import main
    job = _finished_job(store, status="failed")
    before = store.list_jobs()
    args = [str(tmp_path / "out") if a == "OUT" else a for a in args]
    assert main(["jobs", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: no job {args[1]}") and len(err.splitlines()) == 1, err
    assert store.list_jobs() == before and store.get_job(job)["status"] == "failed"
    assert not (tmp_path / "out").exists()


def test_the_pages_take_a_job_id_beyond_sqlite_as_no_job(store):
    import dashboard.jobs_view as jv
    _finished_job(store)
    from engine.jobs.store import UnknownJob
    assert jv.get_job(store, HUGE) is None
    for bad in (int(HUGE), -int(HUGE), 2**63):
        with pytest.raises(UnknownJob):
            store.get_job(bad)
        with pytest.raises(UnknownJob):
            jobs.cancel(bad, store)


def test_a_warm_worker_has_torch_before_the_first_job_and_starts_it_at_once(store):
    """The home page's warm worker (jobs.warm): one process that imports torch before any
    job and waits for one; the first submit is claimed by it (no second worker) within
    its poll, not after a fresh interpreter's start-up and torch import."""
    assert jobs.warm(store, linger_s=60) is True
    assert jobs.warm(store, linger_s=60) is False  # one is alive: no second
    (pid,) = [r[0] for r in store.conn.execute("SELECT pid FROM workers")]
    wait_until(lambda: "libtorch" in open(f"/proc/{pid}/maps").read(), poll=0.2)
    time.sleep(2)  # torch's import finishes after its library is mapped
    job = jobs.submit("run", config(epochs=5), store=store)
    wait_until(lambda: store.get_job(job)["status"] == "done", poll=0.05)
    row = store.get_job(job)
    assert row["pid"] == pid and len(jobs._children) == 1  # the warm worker ran it
    assert row["started"] - row["created"] < 1.0, row["started"] - row["created"]
    assert jobs._children[0].poll() is None  # still waiting for the next job
