"""The store: one SQLite file with every job, its per-epoch metrics and
misclassified masks S(t), and the artefacts experiments derive from them.

Why SQLite in WAL mode: workers (separate processes) write while the pages and
the CLI read. In WAL a reader works on a snapshot and never blocks the writer,
so each epoch is written in ONE transaction and a reader sees all of it or none.
Writers take the lock up front (BEGIN IMMEDIATE) and hold it for milliseconds;
busy_timeout makes the rare second writer wait instead of failing.

The schema is versioned with PRAGMA user_version and migrated on open. A file
that is not a store, or is of a newer schema, is refused with its path and the
fix; it is never overwritten. Job lifecycle (claim, finish, dead workers) lives
in engine/jobs/queue.py; this module only persists and queries.
"""
from __future__ import annotations

import io
import json
import math
import os
import sqlite3
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

import numpy as np

from engine.environment import runs_dir
from engine.geometry.curves import CURVES
from engine.jobs.readback import run_result
from engine.jobs.store_errors import (READ_ONLY_CAUSES, StoreError, StoreGone,  # noqa: F401 (re-exported
                                      store_error)

if TYPE_CHECKING:
    import pandas as pd

    from engine.analysis.results import RunResult

ACTIVE = ("queued", "running")                          # a job's statuses: the one list
FINISHED = ("done", "failed", "cancelled", "interrupted")
STATUSES = ACTIVE + FINISHED
METRIC_COLUMNS = CURVES  # the metrics table's columns, in this order

# MIGRATIONS[v] brings a store from version v-1 to v. Append, never edit.
MIGRATIONS = {
    1: """
    CREATE TABLE jobs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,   -- never reused, even after gc
        kind TEXT NOT NULL,
        config TEXT NOT NULL,                   -- canonical JSON
        config_hash TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('queued','running','done','failed','cancelled','interrupted')),
        epoch INTEGER NOT NULL DEFAULT 0,       -- progress: done / total
        total INTEGER NOT NULL DEFAULT 0,
        eta_s REAL,
        created REAL NOT NULL, started REAL, finished REAL,
        error TEXT,
        pid INTEGER, pid_start TEXT, host TEXT, -- the worker; pid_start guards against pid reuse
        device TEXT,
        cancel_requested INTEGER NOT NULL DEFAULT 0,
        seconds REAL                            -- training time of a run job
    );
    CREATE INDEX jobs_by_config ON jobs (kind, config_hash);
    CREATE INDEX jobs_by_status ON jobs (status, id);
    -- small rows, read as a frame: a clustered (WITHOUT ROWID) table in epoch order
    CREATE TABLE metrics (
        job_id INTEGER NOT NULL, epoch INTEGER NOT NULL, seed INTEGER NOT NULL,
        loss REAL, train_error REAL, test_error REAL, r_plus REAL, r_minus REAL, distance REAL,
        PRIMARY KEY (job_id, epoch, seed)
    ) WITHOUT ROWID;
    -- ceil(P/8)-byte rows are too big for WITHOUT ROWID; kept apart so frames never read them
    CREATE TABLE masks (
        job_id INTEGER NOT NULL, epoch INTEGER NOT NULL, seed INTEGER NOT NULL,
        bits BLOB NOT NULL,                     -- np.packbits of the misclassified mask
        PRIMARY KEY (job_id, epoch, seed)
    );
    CREATE TABLE artifacts (
        job_id INTEGER NOT NULL, name TEXT NOT NULL,
        format TEXT NOT NULL CHECK (format IN ('json', 'npy')),
        data BLOB NOT NULL, created REAL NOT NULL,
        PRIMARY KEY (job_id, name)
    );
    -- live worker processes, so refresh() starts no more than the cap
    CREATE TABLE workers (
        pid INTEGER NOT NULL, pid_start TEXT, host TEXT NOT NULL, started REAL NOT NULL,
        PRIMARY KEY (host, pid)
    );
    """,
}
SCHEMA_VERSION = max(MIGRATIONS)
PAGE_SIZE = 16384


MAX_JOB_ID = 2**63 - 1  # SQLite's largest INTEGER: ids are 1 ... MAX_JOB_ID


class UnknownJob(KeyError):
    """No job with that id in this store."""


def no_such_id(job_id) -> str | None:
    """Why `job_id` can be no job of any store (the words of an UnknownJob), or None when
    it may be one: a larger int cannot even be asked of SQLite (OverflowError)."""
    if isinstance(job_id, bool) or not isinstance(job_id, int) or not 1 <= job_id <= MAX_JOB_ID:
        return f"no job {job_id}: job ids are whole numbers from 1 to {MAX_JOB_ID} (python -m engine jobs list " \
               "shows them)"
    return None


def default_path() -> Path:
    return runs_dir() / "store.sqlite"


class Store:
    """One store file. Safe to share between threads (one connection each) and
    to open from many processes at once."""

    def __init__(self, path: str | Path | None = None, busy_timeout_s: float = 30.0, follow: bool = True):
        """follow: when the file is deleted or replaced (runs/ removed), open the one now at
        `path` (a new store) instead of going on with the deleted one; a worker passes
        False and stops instead (its jobs went with the file)."""
        self.path = Path(path) if path is not None else default_path()
        self.busy_timeout_s = busy_timeout_s
        self.follow = follow
        # None, or the StoreError why the file is open for reading only (a read-only
        # file or folder, a full disk): every write raises it, reading works
        self.read_only: StoreError | None = None
        self._local = threading.local()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StoreError(f"the store's folder {self.path.parent} cannot be created ({e.strerror}): set "
                             "STRAGGLERS_RUNS to a folder you can write", "read_only") from None
        self._migrate()

    # --- connections and transactions -------------------------------------------
    @property
    def conn(self) -> sqlite3.Connection:
        c = getattr(self._local, "conn", None)
        fresh = c is not None and self.follow and self.gone()  # what a reader sees must be what writers write
        if fresh:  # forget the deleted file; the one now at path is opened (or created) below
            self.close()
            self.read_only, c = None, None
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError:
                pass  # _connect says why, if it matters
        if c is None or self._local.pid != os.getpid():  # never reuse a connection across fork
            c = self._connect()
            st = os.stat(self.path)
            self._local.conn, self._local.pid, self._local.identity = c, os.getpid(), (st.st_dev, st.st_ino)
            if fresh:
                self._migrate()
        return c

    def _connect(self) -> sqlite3.Connection:
        """A connection that has read the schema. Where SQLite cannot open the store for
        writing (a read-only file or folder, where WAL cannot make its -wal/-shm files),
        it is opened read-only, and as immutable when no write-ahead log is left to
        replay: list, show and export work, every write is a StoreError naming the fix."""
        if self.path.is_dir():  # SQLite says "unable to open", which would read as read-only
            raise StoreError(f"{self.path} is a folder, not a store file: move it aside (mv '{self.path}' "
                             f"'{self.path}.folder') and a new store is created on the next start, or set "
                             "STRAGGLERS_RUNS to another folder.", "foreign")
        first = None
        for how in ("rw", "ro", "immutable"):
            if how == "immutable" and self.path.with_name(self.path.name + "-wal").exists() and \
                    self.path.with_name(self.path.name + "-wal").stat().st_size > 0:
                break  # commits still in the log: reading the main file alone would be stale
            if how != "rw" and not self.path.exists():
                break
            uri = f"file:{quote(str(self.path))}" + {"rw": "", "ro": "?mode=ro", "immutable": "?immutable=1"}[how]
            try:
                c = sqlite3.connect(uri, uri=True, timeout=self.busy_timeout_s, isolation_level=None,
                                    check_same_thread=False)
                if how == "rw":
                    c.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: survives kill -9, cheap commits
                c.execute("SELECT count(*) FROM sqlite_master").fetchone()
            except sqlite3.Error as e:
                first = first or e
                name = getattr(e, "sqlite_errorname", "") or ""
                if name not in READ_ONLY_CAUSES and not name.startswith(("SQLITE_IOERR", "SQLITE_FULL")):
                    raise self.error(e) from None
                continue
            self.read_only = self.error(first) if how != "rw" else None
            return c
        raise self.error(first) from None

    @contextmanager
    def write(self):
        """A write transaction, lock taken at BEGIN so it cannot fail half way on a busy store."""
        if self.read_only is not None:
            raise self.read_only
        try:
            c = self.conn
            c.execute("BEGIN IMMEDIATE")
            try:
                yield c
                c.execute("COMMIT")
            except BaseException:
                # also when COMMIT itself fails (disk full): an open transaction would make
                # every later BEGIN on this thread's connection fail
                if c.in_transaction:
                    c.execute("ROLLBACK")
                raise
        except sqlite3.Error as e:
            raise self.error(e) from None

    @contextmanager
    def read(self):
        """A short read transaction: several SELECTs see one snapshot."""
        try:
            c = self.conn
            c.execute("BEGIN")
            try:
                yield c
            finally:
                if c.in_transaction:
                    c.execute("COMMIT")
        except sqlite3.Error as e:
            raise self.error(e) from None

    def gone(self) -> bool:
        """The file this store opened was deleted or replaced since (an open connection
        would go on writing into the deleted file, seen by nobody)."""
        identity = getattr(self._local, "identity", None)  # (device, inode) of the file this thread opened
        if identity is None:
            return False
        try:
            st = os.stat(self.path)
        except OSError:
            return True
        return (st.st_dev, st.st_ino) != identity

    def close(self) -> None:
        c = getattr(self._local, "conn", None)
        if c is not None:
            c.close()
            self._local.conn = None

    def error(self, e: BaseException) -> StoreError:
        """The StoreError for an SQLite failure of this store (engine.jobs.store_errors)."""
        return store_error(self.path, e)

    def _migrate(self) -> None:
        try:
            c = self.conn
            with self.read():  # version and tables from one snapshot
                version = c.execute("PRAGMA user_version").fetchone()[0]
                foreign = version == 0 and c.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] > 0
            self._refuse_newer(version)
            if foreign:
                raise StoreError(f"{self.path} is an SQLite file but not a Stragglers store (it has other "
                                 f"tables). It was left untouched: set STRAGGLERS_RUNS to another folder.")
            if version == SCHEMA_VERSION:
                return
            if version == 0:  # only an empty file can take a page size; 16 KiB pages hold 15 masks of
                c.execute(f"PRAGMA page_size={PAGE_SIZE}")  # P = 8192 (1 KiB each) where 4 KiB pages hold 3
            c.execute("PRAGMA journal_mode=WAL")
            with self.write():
                version = c.execute("PRAGMA user_version").fetchone()[0]  # another process may have won
                self._refuse_newer(version)
                # statement by statement: executescript would COMMIT half way through
                for v in range(version + 1, SCHEMA_VERSION + 1):
                    for statement in _statements(MIGRATIONS[v]):
                        c.execute(statement)
                    c.execute(f"PRAGMA user_version={v}")
        except sqlite3.Error as e:
            raise self.error(e) from None

    def _refuse_newer(self, version: int) -> None:
        if version > SCHEMA_VERSION:
            raise StoreError(f"{self.path} has store schema version {version}, newer than this code knows "
                             f"({SCHEMA_VERSION}). It was left untouched: update Stragglers (git pull), or set "
                             f"STRAGGLERS_RUNS to another folder to use a separate store.")

    def schema_version(self) -> int:
        with self.read() as c:
            return c.execute("PRAGMA user_version").fetchone()[0]

    def integrity(self) -> str:
        """'ok', or SQLite's list of problems."""
        with self.read() as c:
            return "\n".join(r[0] for r in c.execute("PRAGMA integrity_check"))

    def _job_dict(self, description, row) -> dict:
        """A jobs row as a dict; a row that a damaged page turned into garbage (SQLite
        does not always notice) is the store's damage, not a TypeError."""
        try:
            return _job_dict(description, row)
        except (TypeError, ValueError, KeyError) as e:
            raise self.error(sqlite3.DatabaseError(f"database disk image is malformed: {e}")) from None

    def missing(self, c: sqlite3.Connection, job_id: int) -> StoreError | UnknownJob:
        """What "no row for this job" means: the job is not there, or the store is
        damaged and the row unreadable (a quick check, on this rare path only)."""
        check = c.execute("PRAGMA quick_check(1)").fetchone()[0]
        if check != "ok":
            problem = " ".join(check.replace("*** in database main ***", "").split())
            return self.error(sqlite3.DatabaseError(f"database disk image is malformed: {problem}"))
        return UnknownJob(f"no job {job_id} in {self.path}")

    # --- jobs (rows only; the lifecycle is engine/jobs/queue.py) -----------------------------
    def get_job(self, job_id: int) -> dict:
        with self.read() as c:
            return self.job_in(c, job_id)

    def job_in(self, c: sqlite3.Connection, job_id: int) -> dict:
        """A job as seen inside the caller's transaction; queued jobs carry queue_position."""
        if (why := no_such_id(int(job_id))) is not None:
            raise UnknownJob(why)
        cur = c.execute("SELECT * FROM jobs WHERE id=?", (int(job_id),))
        row = cur.fetchone()
        if row is None:
            raise self.missing(c, job_id)
        job = self._job_dict(cur.description, row)
        job["queue_position"] = c.execute("SELECT count(*) FROM jobs WHERE status='queued' AND id<=?",
                                          (job["id"],)).fetchone()[0] if job["status"] == "queued" else None
        return job

    def list_jobs(self, kind: str | None = None, status: str | None = None) -> list[dict]:
        """Newest first; queued jobs carry queue_position (1 = next to run)."""
        sql, args = "SELECT * FROM jobs WHERE 1=1", []
        if kind is not None:
            sql, args = sql + " AND kind=?", args + [kind]
        if status is not None:
            sql, args = sql + " AND status=?", args + [status]
        with self.read() as c:
            cur = c.execute(sql + " ORDER BY id DESC", args)
            jobs = [self._job_dict(cur.description, r) for r in cur.fetchall()]
            queued = [r[0] for r in c.execute("SELECT id FROM jobs WHERE status='queued' ORDER BY id")]
        position = {j: i + 1 for i, j in enumerate(queued)}
        for job in jobs:
            job["queue_position"] = position.get(job["id"])
        return jobs

    @staticmethod
    def clear_job_data(c: sqlite3.Connection, job_id: int) -> None:
        """Inside a write transaction: a job's epochs, masks and artefacts."""
        for table in ("metrics", "masks", "artifacts"):
            c.execute(f"DELETE FROM {table} WHERE job_id=?", (job_id,))

    def gc(self, older_than_s: float) -> int:
        """Delete finished jobs (and their rows) that ended more than older_than_s ago
        (finite, >= 0: a negative age would delete jobs that just finished, NaN is no age)."""
        if not (math.isfinite(older_than_s) and older_than_s >= 0):
            raise ValueError(f"older_than_s={older_than_s!r}: a finite age in seconds >= 0")
        cutoff = time.time() - older_than_s
        marks = ",".join("?" * len(FINISHED))
        with self.write() as c:
            ids = [r[0] for r in c.execute(f"SELECT id FROM jobs WHERE status IN ({marks}) AND "
                                           f"coalesce(finished, created) < ?", (*FINISHED, cutoff))]
            for job_id in ids:
                self.clear_job_data(c, job_id)
                c.execute("DELETE FROM jobs WHERE id=?", (job_id,))
        return len(ids)

    # --- epochs ------------------------------------------------------------------------
    def write_epoch(self, job_id: int, record, progress: tuple | None = None) -> None:
        """One EpochRecord (all its seeds) and optionally the job's progress
        (done, total, eta_s), in ONE transaction."""
        seeds = [int(s) for s in record.seeds]
        cols = [np.asarray(getattr(record, m), dtype=np.float64).tolist() for m in METRIC_COLUMNS]
        rows = [(job_id, record.epoch, s, *vals) for s, *vals in zip(seeds, *cols)]
        bits = np.ascontiguousarray(record.misclassified, dtype=np.uint8)
        masks = [(job_id, record.epoch, s, bits[i].tobytes()) for i, s in enumerate(seeds)]
        with self.write() as c:
            # REPLACE: an experiment may stream a seed twice; the last record wins
            c.executemany("INSERT OR REPLACE INTO metrics VALUES (?,?,?,?,?,?,?,?,?)", rows)
            c.executemany("INSERT OR REPLACE INTO masks VALUES (?,?,?,?)", masks)
            if progress is not None:
                c.execute("UPDATE jobs SET epoch=?, total=?, eta_s=? WHERE id=?", (*progress, job_id))

    def metrics_frame(self, job_id: int) -> pd.DataFrame:
        """DataFrame[seed, epoch, loss, train_error, test_error, r_plus, r_minus, distance],
        by seed then epoch; NaN where not measured (test error between test epochs)."""
        import pandas as pd  # here: a worker writes and never needs pandas (2 s of its start-up)
        with self.read() as c:
            rows = c.execute(f"SELECT seed, epoch, {', '.join(METRIC_COLUMNS)} FROM metrics WHERE job_id=?",
                             (int(job_id),)).fetchall()
        frame = pd.DataFrame.from_records(rows, columns=["seed", "epoch", *METRIC_COLUMNS])
        frame = frame.astype({"seed": "int64", "epoch": "int64", **{m: "float64" for m in METRIC_COLUMNS}})
        return frame.sort_values(["seed", "epoch"], kind="stable").reset_index(drop=True)

    def masks(self, job_id: int, seed: int, epoch: int) -> np.ndarray:
        """S(t) of one seed: a (P,) bool array of the misclassified training points."""
        with self.read() as c:
            row = c.execute("SELECT bits FROM masks WHERE job_id=? AND seed=? AND epoch=?",
                            (int(job_id), int(seed), int(epoch))).fetchone()
            config = c.execute("SELECT config FROM jobs WHERE id=?", (int(job_id),)).fetchone()
        if row is None:
            raise KeyError(f"job {job_id} has no mask for seed {seed} at epoch {epoch}")
        bits = np.frombuffer(row[0], dtype=np.uint8)
        n = json.loads(config[0]).get("n_train", 8 * len(bits)) if config else 8 * len(bits)
        return np.unpackbits(bits, count=n).astype(bool)

    def result(self, job_id: int) -> "RunResult":
        """The RunResult of a job's streamed epochs (all of them so far, if it still runs),
        read back in batches (engine.jobs.readback)."""
        return run_result(self, job_id)

    # --- artefacts ---------------------------------------------------------------------
    def put_artifact(self, job_id: int, name: str, obj) -> None:
        """A numpy array is kept as .npy bytes, anything else as JSON."""
        if isinstance(obj, np.ndarray):
            buf = io.BytesIO()
            np.save(buf, obj, allow_pickle=False)
            fmt, data = "npy", buf.getvalue()
        else:
            fmt, data = "json", json.dumps(obj, default=_json_default).encode()
        with self.write() as c:
            c.execute("INSERT OR REPLACE INTO artifacts VALUES (?,?,?,?,?)", (int(job_id), name, fmt, data, time.time()))

    def get_artifact(self, job_id: int, name: str, default=None):
        with self.read() as c:
            row = c.execute("SELECT format, data FROM artifacts WHERE job_id=? AND name=?",
                            (int(job_id), name)).fetchone()
        if row is None:
            return default
        if row[0] == "npy":
            return np.load(io.BytesIO(row[1]), allow_pickle=False)
        return json.loads(row[1])

    def artifact_bytes(self, job_id: int) -> int:
        """The stored size of a job's artefacts (to check a disk has room for their export)."""
        with self.read() as c:
            return int(c.execute("SELECT coalesce(sum(length(data)), 0) FROM artifacts WHERE job_id=?",
                                 (int(job_id),)).fetchone()[0])

    def artifact_names(self, job_id: int) -> list[str]:
        with self.read() as c:
            return [r[0] for r in c.execute("SELECT name FROM artifacts WHERE job_id=? ORDER BY name",
                                            (int(job_id),))]


def _job_dict(description, row) -> dict:
    job = dict(zip((d[0] for d in description), row))
    job["config"] = json.loads(job["config"])
    if not isinstance(job["config"], dict) or job["status"] not in STATUSES or not isinstance(job["epoch"], int):
        raise ValueError(f"job row {job.get('id')!r} is not a job")
    job["progress"] = f"{job['epoch']}/{job['total']}"
    job["cancel_requested"] = bool(job["cancel_requested"])
    return job


def _statements(script: str):
    """Split a migration script on ';' at line ends (no ';' inside strings here)."""
    text = "\n".join(line.split("--")[0] for line in script.splitlines())
    return [s.strip() for s in text.split(";") if s.strip()]


def _json_default(obj):
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")
