"""Jobs: runs and experiments executed by worker processes, all their state in the store.

A job goes queued -> running -> done | failed | cancelled | interrupted.

There is no long-lived manager holding state the store does not have. Workers
(`python -m engine.jobs.worker`, separate OS processes, see engine/jobs/worker.py) claim
the oldest queued job atomically (BEGIN IMMEDIATE) only while fewer than the cap
are running, and loop until the queue is empty. `refresh()` is what every
submit/list/show and page calls: it marks running jobs whose worker process is
gone as `interrupted` (pid + process start time, so a reused pid is not taken
for the worker) and starts workers while queued jobs exist and live workers are
fewer than the cap. So an app restart, a killed worker or a reboot all end up in
a consistent store the next time anyone looks.

Job kinds: "run" (config = RunConfig.to_dict()), and every
engine.experiments.JOB_KINDS[name] = fn(config: dict, ctx: JobContext).
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import traceback

from engine.config import ConfigError, RunConfig, canonical_labels, science_hash
from engine.data.sources import DatasetUnavailable
from engine.data.upload import data_version
from engine.environment import ROOT, gpu_count
from engine.jobs import executors
from engine.jobs.store import ACTIVE, FINISHED, Store, StoreError, StoreGone
from engine.planning.preflight import check_run, dataset_shape, device_kind

HOST = socket.gethostname()
_children: list[subprocess.Popen] = []  # workers this process started, reaped by refresh()


class JobContext:
    """What a job function gets to talk to the store, for its one job:

    store, job_id
    progress(done, total, eta_s)  work done of the job's total, known up front, and the
                           ETA the experiment computed (engine.experiments.context.Steps)
    should_stop()          True once cancel() was asked; check between epochs, then stop
    on_epoch(record)       stream one EpochRecord (all its seeds) into the store, one transaction
    put_artifact(name, obj) a JSON-able object or a numpy array, kept with the job
    executor               where the job's pieces train (engine.jobs.executors); None: here

    With `epochs_total` (a "run" job) every record is also the progress, written
    in the same transaction as the epoch; its ETA is engine.planning.estimate.Clock's: the
    estimate at first, the measured speed more and more (`epoch_s`: the modelled
    seconds of one epoch, None when this machine has no calibration)."""

    PROGRESS_EVERY_S = 0.25  # progress alone is throttled; epochs always go through

    def __init__(self, store: Store, job_id: int, epochs_total: int | None = None, n_seeds: int | None = None,
                 epoch_s: float | None = None):
        self.store, self.job_id, self.epochs_total = store, int(job_id), epochs_total
        self.n_seeds = n_seeds  # with chunked seeds, progress counts every chunk's epochs
        self.epoch_s = epoch_s
        self.stopped = False
        self._clock = None      # engine.planning.estimate.Clock, made at the first epoch
        self._last = None       # (done, total, eta_s) not yet written
        self._written = 0.0
        self._epochs_done = None  # engine.run.EpochsDone, made at the first epoch
        self.executor = None

    def progress(self, done: int, total: int, eta_s: float | None = None) -> None:
        self._last = (int(done), int(total), eta_s)
        now = time.monotonic()
        if done >= total or now - self._written >= self.PROGRESS_EVERY_S:
            with self.store.write() as c:
                c.execute("UPDATE jobs SET epoch=?, total=?, eta_s=? WHERE id=?", (*self._last, self.job_id))
            self._written = now

    def on_epoch(self, record, done: int | None = None) -> None:
        """`done`: the run's epochs done, when the caller counts them (pieces that
        train side by side); else counted here from the records (chunks in turn)."""
        if self.epochs_total is not None:
            if done is None and self._epochs_done is None:
                from engine.run import EpochsDone
                self._epochs_done = EpochsDone(self.n_seeds, self.epochs_total)
            done = self._epochs_done(record) if done is None else int(done)
            self._last = (done, self.epochs_total, self._eta(done, self.epochs_total))
        self.store.write_epoch(self.job_id, record, progress=self._last)
        self._written = time.monotonic()

    def should_stop(self) -> bool:
        """True once a cancel was asked; StoreGone when the store file was deleted
        (the worker then stops: nobody can see or cancel its job any more)."""
        if self.store.gone():
            raise StoreGone(self.store.path)
        with self.store.read() as c:
            row = c.execute("SELECT cancel_requested FROM jobs WHERE id=?", (self.job_id,)).fetchone()
        self.stopped = self.stopped or bool(row and row[0])
        return self.stopped

    def put_artifact(self, name: str, obj) -> None:
        self.store.put_artifact(self.job_id, name, obj)

    def _eta(self, done, total) -> float | None:
        """The ETA of a run at `done` of `total` epochs (epoch 0, the initialisation,
        is one more record of the same cost)."""
        if self._clock is None:
            from engine.planning.estimate import Clock
            self._clock = Clock(None if self.epoch_s is None else (total + 1) * self.epoch_s)
        cost = self.epoch_s or 1.0
        return self._clock.update((done + 1) * cost, (total + 1) * cost)


# --- submitting, cancelling, waiting ------------------------------------------------
def submit(kind: str, config: dict, force: bool = False, store: Store | None = None,
           max_workers: int | None = None) -> int:
    """Queue a job and return its id at once. A finished job with the same kind and
    config hash is reused (unless force); an identical queued/running job is joined.
    A failed, cancelled or interrupted one (or a done one with force) is rerun
    cleanly under the same id: its old epochs are deleted in the same transaction
    (except an interrupted run resubmitted to Ray: its finished seeds are kept and
    only the others are trained again)."""
    store = store or Store()
    config, digest, total = normalise(kind, config)
    store = store or Store()
    text = json.dumps(config, sort_keys=True)
    with store.write() as c:
        row = c.execute("SELECT id, status FROM jobs WHERE kind=? AND config_hash=? ORDER BY id DESC LIMIT 1",
                        (kind, digest)).fetchone()
        if row and (row[1] in ACTIVE or (row[1] == "done" and not force)):
            job_id = row[0]
        elif row:
            job_id = row[0]
            if kind == "run" and row[1] == "interrupted" and config.get("executor"):
                keep_finished_seeds(c, job_id, total)
            else:
                store.clear_job_data(c, job_id)
            c.execute("UPDATE jobs SET config=?, status='queued', epoch=0, total=?, eta_s=NULL, created=?, "
                      "started=NULL, finished=NULL, error=NULL, pid=NULL, pid_start=NULL, host=NULL, device=NULL, "
                      "cancel_requested=0, seconds=NULL WHERE id=?", (text, total, time.time(), job_id))
        else:
            job_id = c.execute("INSERT INTO jobs (kind, config, config_hash, status, total, created) "
                               "VALUES (?,?,?,'queued',?,?)", (kind, text, digest, total, time.time())).lastrowid
    refresh(store, max_workers)
    return int(job_id)


def normalise(kind: str, config: dict) -> tuple[dict, str, int]:
    """(canonical config, hash, total: epochs of a run, seed-epochs of an experiment as
    planned) — a bad config fails here, not in a worker."""
    config, executor = executors.split_config(config)
    if kind == "run":
        cfg = RunConfig.from_dict(config).validate().normalised()
        if executor is None:  # on a cluster, executors.check asks the cluster instead
            check_run(cfg, job=True)  # device, data, memory, the store's disk: refused here, not in a worker
        config, total = cfg.to_dict(), cfg.epochs
    elif kind == "paper":  # the report: no run options of its own, each figure's are checked as it starts
        from engine.paper.job import normalise as paper_config
        config, total = paper_config(config)
        cfg = RunConfig()
    else:
        kinds = job_kinds()
        if kind not in kinds:
            raise ConfigError("kind", kind, "one of " + ", ".join(["run", *kinds]))
        from engine.experiments import JOB_OPTIONS
        from engine.experiments.context import split
        cfg, _ = split(config, JOB_OPTIONS[kind])  # a typo in an option fails here, not later in a worker
        if executor is None:  # the sizes of its runs are the experiment's: each is checked before it trains
            device_kind(cfg)
            dataset_shape(cfg)
        if "labels" in config:  # only the labels: a variant may switch on an option the base does not use
            config = {**config, "labels": canonical_labels(cfg.labels)}
        from engine.experiments.estimate import phases_of  # the total is known before it starts
        total = sum(p.seed_epochs for p in phases_of(kind, config))
        config = json.loads(json.dumps(config, sort_keys=True, default=list))
    executors.check(executor, cfg)  # a cluster that cannot run it: refused now (e.g. cuda without GPUs)
    # one hash (RunConfig.config_hash for a run, the one its manifest writes): the device and the
    # executor change where and how fast, not the results; a replaced upload is other data
    digest = science_hash(config, data_version(str(config.get("dataset", ""))))
    if executor is not None:
        config["executor"] = executor
    return config, digest, total


def finished_seeds(c, job_id: int, epochs: int) -> list[int]:
    """Seeds of a job with every epoch 0..epochs in the store (a run resumed on Ray skips them)."""
    return [r[0] for r in c.execute("SELECT seed FROM metrics WHERE job_id=? AND epoch<=? GROUP BY seed "
                                    "HAVING count(*)=? ORDER BY seed", (job_id, epochs, epochs + 1))]


def keep_finished_seeds(c, job_id: int, epochs: int) -> None:
    """Inside a write transaction: delete what a rerun recomputes, the rows of the
    seeds that did not finish and the artefacts; keep the finished seeds."""
    done = finished_seeds(c, job_id, epochs)
    marks = ",".join("?" * len(done))
    for table in ("metrics", "masks"):
        c.execute(f"DELETE FROM {table} WHERE job_id=? AND seed NOT IN ({marks})", (job_id, *done))
    c.execute("DELETE FROM artifacts WHERE job_id=?", (job_id,))


def job_kinds() -> dict:
    """engine.experiments.JOB_KINDS and the paper report, imported when first asked for:
    they import torch, which the pages and the CLI's listing commands never need."""
    from engine.experiments import JOB_KINDS
    from engine.paper.job import paper_job
    return {**JOB_KINDS, "paper": paper_job}


def cancel(job_id: int, store: Store | None = None) -> dict:
    """A queued job is cancelled at once; a running one gets the flag its worker
    reads between epochs. Returns the job as of the moment the flag was set."""
    store = store or Store()
    with store.write() as c:
        status = store.job_in(c, job_id)["status"]
        if status == "queued":
            c.execute("UPDATE jobs SET status='cancelled', finished=? WHERE id=?", (time.time(), job_id))
        elif status == "running":
            c.execute("UPDATE jobs SET cancel_requested=1 WHERE id=?", (job_id,))
        return store.job_in(c, job_id)


def wait(job_id: int, store: Store | None = None, timeout: float | None = None, poll_s: float = 0.2,
         on_progress=None) -> dict:
    """Block until the job is finished (or timeout); refresh() now and then so a dead
    worker shows up as interrupted. on_progress(job) sees every poll."""
    store = store or Store()
    deadline = None if timeout is None else time.monotonic() + timeout
    last_refresh = 0.0
    while True:
        if time.monotonic() - last_refresh > 2.0:
            refresh(store)
            last_refresh = time.monotonic()
        job = store.get_job(job_id)
        if on_progress is not None:
            on_progress(job)
        if job["status"] in FINISHED or (deadline is not None and time.monotonic() > deadline):
            return job
        time.sleep(poll_s)


# --- workers: liveness, claiming, finishing ---------------------------------------
def process_token(pid: int) -> str | None:
    """The process start time (Linux: /proc/<pid>/stat field 22). With the pid it
    names one process for good: a pid reused later has another start time."""
    state = _proc_stat(pid)
    return state[1] if state else None


def alive(pid: int | None, token: str | None, host: str | None) -> bool:
    if pid is None:
        return False
    if host not in (None, HOST):
        return True  # another machine's process: not ours to judge
    state = _proc_stat(pid)
    if state is not None:
        return state[0] not in "ZX" and (token is None or token == state[1])
    if os.path.isdir("/proc/self"):
        return False  # Linux and no /proc entry: gone
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def _proc_stat(pid: int):
    try:
        with open(f"/proc/{int(pid)}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return fields[0], fields[19]  # state, starttime


def mark_dead(store: Store, c) -> int:
    """Inside a write transaction: running jobs whose worker is gone -> interrupted
    (cancelled if a cancel was pending); forget dead workers."""
    n = 0
    for job_id, pid, token, host, epoch, cancelled in c.execute(
            "SELECT id, pid, pid_start, host, epoch, cancel_requested FROM jobs WHERE status='running'").fetchall():
        if not alive(pid, token, host):
            error = None if cancelled else \
                f"worker (pid {pid}) died at epoch {epoch} (killed, or out of memory?); resubmit to rerun"
            c.execute("UPDATE jobs SET status=?, finished=?, error=?, eta_s=NULL WHERE id=?",
                      ("cancelled" if cancelled else "interrupted", time.time(), error, job_id))
            n += 1
    for pid, token, host in c.execute("SELECT pid, pid_start, host FROM workers").fetchall():
        if not alive(pid, token, host):
            c.execute("DELETE FROM workers WHERE host=? AND pid=?", (host, pid))
            if host == HOST:  # the disk space a killed worker held (engine.jobs.worker.RESERVE_BYTES)
                store.path.with_name(f".reserve-{pid}").unlink(missing_ok=True)
    return n


def claim(store: Store, cap: int, pid: int, n_gpus: int = 0, leave: bool = True) -> dict | None:
    """The worker's step: take the oldest queued job if fewer than `cap` run, else
    None — and then (`leave`) drop this worker from `workers` in the same transaction,
    so a job queued right after is seen by refresh() as needing a new worker. A warm
    worker that waits on (not `leave`) stays listed: refresh() counts it and starts none."""
    with store.write() as c:
        mark_dead(store, c)
        running = [r[0] for r in c.execute("SELECT device FROM jobs WHERE status='running'")]
        row = c.execute("SELECT id, config FROM jobs WHERE status='queued' ORDER BY id LIMIT 1").fetchone() \
            if len(running) < cap else None
        if row is None:
            if leave:
                c.execute("DELETE FROM workers WHERE host=? AND pid=?", (HOST, pid))
            return None
        device = _pick_device(json.loads(row[1]).get("device", "auto"), running, n_gpus)
        c.execute("UPDATE jobs SET status='running', started=?, pid=?, pid_start=?, host=?, device=?, epoch=0, "
                  "eta_s=NULL, error=NULL WHERE id=?", (time.time(), pid, process_token(pid), HOST, device, row[0]))
        return store.job_in(c, row[0])


def _pick_device(asked: str, in_use: list, n_gpus: int) -> str:
    """One job per GPU: the first cuda:i no running job holds."""
    if asked == "cpu" or n_gpus == 0:
        return "cpu" if asked != "cuda" else "cuda"
    free = [f"cuda:{i}" for i in range(n_gpus) if f"cuda:{i}" not in in_use]
    return free[0] if free else "cuda:0"


def finish(store: Store, job_id: int, status: str, error: str | None = None, seconds: float | None = None) -> None:
    with store.write() as c:
        c.execute("UPDATE jobs SET status=?, finished=?, error=?, eta_s=NULL, seconds=coalesce(?, seconds) "
                  "WHERE id=? AND status='running'", (status, time.time(), error, seconds, job_id))


def describe(e: BaseException) -> str:
    """The error text a job keeps: ConfigError / DatasetUnavailable as they are
    (they already say what to do), others as the traceback's last line."""
    if isinstance(e, (ConfigError, DatasetUnavailable, StoreError)):
        return str(e)
    return traceback.format_exception_only(type(e), e)[-1].strip()


# --- refresh: the only place workers are started --------------------------------------
def default_max_workers() -> int:
    """STRAGGLERS_MAX_WORKERS, else one per GPU, else one."""
    value = os.environ.get("STRAGGLERS_MAX_WORKERS")
    if value:
        return max(1, int(value))
    return max(1, gpu_count())


def refresh(store: Store | None = None, max_workers: int | None = None) -> int:
    """Mark jobs of dead workers interrupted; start workers while queued jobs exist and
    live workers < cap. Cheap when nothing is to be done (a read, no lock). Returns the
    number of workers started."""
    store = store or Store()
    cap = max_workers or default_max_workers()
    for p in list(_children):
        if p.poll() is not None:
            _children.remove(p)
    with store.read() as c:
        running = c.execute("SELECT pid, pid_start, host FROM jobs WHERE status='running'").fetchall()
        workers = c.execute("SELECT pid, pid_start, host FROM workers").fetchall()
        queued = c.execute("SELECT count(*) FROM jobs WHERE status='queued'").fetchone()[0]
    dead = any(not alive(*r) for r in running + workers)
    live = sum(alive(*w) for w in workers)
    if not dead and not (queued and live < cap) or store.read_only is not None:
        return 0  # nothing to do, or nothing that can be written (store.read_only says why)
    started = 0
    with store.write() as c:  # spawning under the lock: two refreshes never overshoot the cap
        mark_dead(store, c)
        queued = c.execute("SELECT count(*) FROM jobs WHERE status='queued'").fetchone()[0]
        live = c.execute("SELECT count(*) FROM workers").fetchone()[0]
        for _ in range(max(0, min(queued, cap - live))):
            p = _spawn(store, cap)
            c.execute("INSERT OR REPLACE INTO workers VALUES (?,?,?,?)", (p.pid, process_token(p.pid), HOST, time.time()))
            started += 1
    return started


WARM_ENV = "STRAGGLERS_WARM_WORKER"  # seconds a warm worker waits for a job; 0: none


def warm(store: Store | None = None, linger_s: float | None = None) -> bool:
    """Start one worker ahead of any job, unless one is alive: it imports torch now and
    waits up to `linger_s` (default $STRAGGLERS_WARM_WORKER, else 120) for a job, so the
    first click's job starts at once instead of after a worker's start-up (seconds).
    True when one was started."""
    store = store or Store()
    if linger_s is None:
        linger_s = float(os.environ.get(WARM_ENV) or 120)
    if linger_s <= 0 or store.read_only is not None:
        return False
    with store.read() as c:
        if any(alive(*w) for w in c.execute("SELECT pid, pid_start, host FROM workers").fetchall()):
            return False
    cap = default_max_workers()
    with store.write() as c:
        mark_dead(store, c)
        if c.execute("SELECT count(*) FROM workers").fetchone()[0]:
            return False
        p = _spawn(store, cap, linger_s)
        c.execute("INSERT OR REPLACE INTO workers VALUES (?,?,?,?)", (p.pid, process_token(p.pid), HOST, time.time()))
    return True


def _reap(p: subprocess.Popen) -> None:
    """Wait for a worker this process started, so it leaves no zombie behind (the
    app may not call refresh() for hours), and forget it."""
    p.wait()
    try:
        _children.remove(p)
    except ValueError:
        pass


def _spawn(store: Store, cap: int, linger_s: float = 0.0) -> subprocess.Popen:
    """A fresh interpreter (spawn semantics: CUDA-safe) in its own session, so it
    outlives the Streamlit app or the CLI that started it."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    with open(store.path.parent / "worker.log", "ab") as log:
        p = subprocess.Popen([sys.executable, "-m", "engine.jobs.worker", "--store", str(store.path),
                              "--max-workers", str(cap), "--linger", str(linger_s)], cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                             stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    _children.append(p)
    threading.Thread(target=_reap, args=(p,), name=f"reap-worker-{p.pid}", daemon=True).start()
    return p
