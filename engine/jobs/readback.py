"""A run job read back from the store as a RunResult: its streamed epochs (all of them
so far, if it still runs), in batches straight into arrays sized to the epochs
recorded, never one Python list of every row or one join of every mask."""
from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING

import numpy as np

from engine.analysis.results import RunResult
from engine.config import run_config
from engine.geometry.curves import CURVES as METRIC_COLUMNS  # the metrics table's columns, in this order
from engine.geometry.inversion import diverged_at

if TYPE_CHECKING:
    from engine.analysis.results import RunResult

READ_BATCH = 4096  # rows per fetch


def run_result(store, job_id: int) -> "RunResult":
    """`store`: an engine.jobs.store.Store (not imported here: the store imports this module)."""
    with store.read() as c:  # one snapshot for job, metrics and masks
        job = c.execute("SELECT config, device, seconds, started, finished FROM jobs WHERE id=?",
                        (int(job_id),)).fetchone()
        if job is None:
            raise store.missing(c, job_id)
        config = run_config(json.loads(job[0]))
        where, args = "job_id=? AND epoch<=?", (int(job_id), config.epochs)
        seeds = np.array([r[0] for r in c.execute(f"SELECT DISTINCT seed FROM metrics WHERE {where} ORDER BY seed",
                                                  args)], dtype=np.int64)
        last = max(c.execute(f"SELECT coalesce(max(epoch), 0) FROM metrics WHERE {where}", args).fetchone()[0],
                   c.execute(f"SELECT coalesce(max(epoch), 0) FROM masks WHERE {where}", args).fetchone()[0])
        result = RunResult.empty(config, seeds if len(seeds) else np.asarray(config.seed_list), config.n_train,
                                 device=job[1] or "cpu")
        result.reserve(last + 1)  # what was recorded, not the T + 1 a config may ask
        recorded = np.zeros(result.curves["loss"].shape, dtype=bool)
        cur = c.execute(f"SELECT seed, epoch, {', '.join(METRIC_COLUMNS)} FROM metrics WHERE {where}", args)
        while rows := cur.fetchmany(READ_BATCH):
            values = np.array(rows, dtype=np.float64)
            r, t = np.searchsorted(result.seeds, values[:, 0].astype(np.int64)), values[:, 1].astype(np.int64)
            for i, name in enumerate(METRIC_COLUMNS):
                result.curves[name][r, t] = values[:, 2 + i]
            recorded[r, t] = True
            result.epochs_done = max(result.epochs_done, int(t.max()))
        cur = c.execute(f"SELECT seed, epoch, bits FROM masks WHERE {where}", args)
        while rows := cur.fetchmany(READ_BATCH):
            packed = np.frombuffer(b"".join(r[2] for r in rows), dtype=np.uint8).reshape(len(rows), -1)
            seed_of, epoch_of = np.array([r[:2] for r in rows], dtype=np.int64).T
            result.masks[np.searchsorted(result.seeds, seed_of), epoch_of] = packed
    for row in range(len(result.seeds)):  # the training loop's rule, on what was recorded
        epoch = diverged_at(result.curves["loss"][row], recorded[row])
        if epoch is not None:
            result.diverged[int(result.seeds[row])] = epoch
    result.seconds = job[2] if job[2] is not None else ((job[4] or time.time()) - job[3] if job[3] else 0.0)
    return result
