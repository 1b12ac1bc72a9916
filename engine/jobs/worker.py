"""`python -m engine.queue.worker --store PATH --max-workers N`: one worker process.

Started by engine.queue.queue.refresh() (or by hand). It claims the oldest queued job
while fewer than N jobs run, executes it, and loops until the queue is empty;
then it exits. Everything it knows is in the store, so killing it at any point
leaves a store that the next refresh() makes consistent (job -> interrupted).
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
import time
import traceback
from pathlib import Path

from engine.analysis.report import summary
from engine.config import RunConfig
from engine.files import jsonable
from engine.jobs import executors, queue
from engine.jobs.store import Store, StoreError, StoreGone
from engine.planning.calibration import cached
from engine.planning.estimate import device_of, epoch_seconds


# Space this worker holds on the store's disk (a file it writes at start), given back when the
# disk fills up so that the job's last write, its status and why, still fits: without it the
# worker died on that write and the job read as "killed, or out of memory?".
RESERVE_BYTES = 1 << 20


def reserve_path(store: Store, pid: int) -> Path:
    return store.path.parent / f".reserve-{pid}"


def _reserve(store: Store) -> Path | None:
    path = reserve_path(store, os.getpid())
    try:
        with open(path, "wb") as f:
            f.write(bytes(RESERVE_BYTES))  # written, not a sparse hole: the blocks are taken now
            f.flush()
            os.fsync(f.fileno())
        return path
    except OSError:  # already (nearly) full: no reserve, the job may still read as killed
        path.unlink(missing_ok=True)
        return None


LINGER_POLL_S = 0.1  # a warm worker's look at the queue


class Terminated(BaseException):
    """SIGTERM: record the job as interrupted, then exit (not an error of the job)."""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m engine.queue.worker")
    parser.add_argument("--store", help="store file (default: $STRAGGLERS_RUNS/store.sqlite)")
    parser.add_argument("--max-workers", type=int, default=None, help="jobs running at once, all workers")
    parser.add_argument("--linger", type=float, default=0.0,
                        help="seconds to wait for a job when the queue is empty before exiting (a warm worker)")
    args = parser.parse_args(argv)
    store = Store(args.store, follow=False)  # a deleted store stops this worker (store.gone())
    cap = args.max_workers or queue.default_max_workers()
    pid = os.getpid()
    with store.write() as c:
        c.execute("INSERT OR REPLACE INTO workers VALUES (?,?,?,?)", (pid, queue.process_token(pid), queue.HOST, time.time()))

    def on_term(signum, frame):
        raise Terminated()
    signal.signal(signal.SIGTERM, on_term)
    reserve = _reserve(store)
    try:
        return _work(store, cap, pid, args.linger)
    finally:
        if reserve is not None:
            reserve.unlink(missing_ok=True)


def _work(store: Store, cap: int, pid: int, linger: float) -> int:
    try:
        import torch  # after registering: the import takes seconds
        n_gpus = torch.cuda.device_count()
    except Exception as e:
        # A worker that cannot start must not leave the queue waiting for it: each
        # refresh would spawn another that dies the same way. Fail the job it would
        # have taken, saying why; the next refresh tries the next job once.
        traceback.print_exc()
        job = queue.claim(store, cap, pid, 0)
        if job is not None:
            queue.finish(store, job["id"], "failed", f"the worker could not start ({queue.describe(e)}); "
                                                    f"see {store.path.parent / 'worker.log'}")
        return 1
    if n_gpus == 0 and cap > 1 and "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // cap))  # CPU workers share the cores, not oversubscribe
    idle_until = time.monotonic() + linger
    while True:
        if store.gone():  # runs/ deleted: no one can see this queue any more
            _log(f"{store.path} is gone; stopping")
            return 0
        lingering = time.monotonic() < idle_until
        job = queue.claim(store, cap, pid, n_gpus, leave=not lingering)
        if job is None and lingering:
            time.sleep(LINGER_POLL_S)  # warm: torch is imported, the next job starts at once
            continue
        if job is None:
            return 0
        if not execute(store, job):
            return 0
        idle_until = time.monotonic() + linger


def execute(store: Store, job: dict) -> bool:
    """Run one claimed job to its final status. False when the worker must stop (SIGTERM)."""
    ctx = queue.JobContext(store, job["id"])
    _log(f"job {job['id']} ({job['kind']}) started on {job['device']}")
    keep_going, seconds = True, None
    try:
        if job["device"].startswith("cuda:"):
            import torch
            torch.cuda.set_device(int(job["device"].split(":")[1]))
        config, spec = executors.split_config(job["config"])
        if spec is not None:  # the driver of tasks elsewhere: no device of this machine is held
            with store.write() as c:
                c.execute("UPDATE jobs SET device=? WHERE id=?", (f"ray:{spec['address'] or 'local'}", job["id"]))
        ctx.executor = executors.open_executor(spec)
        try:
            if job["kind"] == "run":
                status, error, seconds = _run(ctx, config)
            else:
                status, error = _experiment(ctx, job["kind"], config)
            if status == "done":
                ctx.executor.finished()
        finally:
            ctx.executor.close()
    except Terminated:
        status, error, keep_going = "interrupted", "worker stopped by SIGTERM; resubmit to rerun", False
    except executors.PiecesLost as e:
        status, error = "interrupted", str(e)
    except StoreGone as e:  # nothing to record the job in: stop, leave no invisible worker behind
        _log(f"job {job['id']} stopped: {e}")
        return False
    except Exception as e:
        from engine.run import Stopped
        if isinstance(e, Stopped):
            status, error = "cancelled", None
        else:
            _quietly(traceback.print_exc)  # the log may be on the disk that is full
            status, error = "failed", queue.describe(e)
            if isinstance(e, StoreError) and e.kind in ("full", "io"):
                keep_going = False  # the next jobs would fail the same way: they stay queued
                error += " Resubmit once there is space."
    try:
        queue.finish(store, job["id"], status, error, seconds)
    except StoreError as e:
        reserve = reserve_path(store, os.getpid())
        if e.kind not in ("full", "io") or not reserve.exists():
            raise
        reserve.unlink()  # the space held for this last write
        queue.finish(store, job["id"], status, error, seconds)
        keep_going = False
    _quietly(_log, f"job {job['id']} {status}" + (f": {error}" if error else ""))
    return keep_going


def _quietly(fn, *args) -> None:
    """fn(*args), where a failure to write the log (its disk full) is no failure of the job."""
    try:
        fn(*args)
    except OSError:
        pass


def _run(ctx: queue.JobContext, config: dict):
    """A "run" job: its executor's run streaming into the store, then its summary."""
    cfg = RunConfig.from_dict(config)
    ctx.epochs_total, ctx.n_seeds, ctx.epoch_s = cfg.epochs, cfg.seeds, modelled_epoch(cfg)
    kept = []
    if ctx.executor.distributed:  # seeds an earlier attempt finished are kept (queue.submit); the pieces are shown
        kept = queue.finished_seeds(ctx.store.conn, ctx.job_id, cfg.epochs)
        ctx.executor.report = lambda rows: ctx.put_artifact("pieces", {"kept_seeds": kept, "pieces": rows})
    out = ctx.executor.run(cfg, on_epoch=ctx.on_epoch, should_stop=ctx.should_stop, skip_seeds=kept)
    result, data = out.result, out.data
    if ctx.executor.distributed:  # the store has every seed, those kept from an earlier attempt too
        seconds, stopped, result = result.seconds, result.stopped, ctx.store.result(ctx.job_id)
        result.seconds, result.device, result.stopped = seconds, "ray", stopped
    if out.lost:
        return "interrupted", str(executors.PiecesLost(out.lost)), result.seconds
    if result.scores is not None:  # the R x P aggregates, never per-epoch arrays (engine.training.scores)
        ctx.put_artifact("scores", result.scores.array())
        ctx.put_artifact("scores_meta", result.scores.meta())
    if result.stopped:  # also mid-run in a later chunk of seeds, where epochs_done is already T
        return "cancelled", None, result.seconds
    summ = summary(result, data)
    if kept:  # this attempt trained only the other seeds: its rate counts those alone
        trained = cfg.seeds - len(kept)
        summ["timing"]["run_epochs_per_second"] = trained * (cfg.epochs + 1) / result.seconds if trained else None
        summ["timing"]["kept_seeds"] = kept
    ctx.put_artifact("summary", summ)  # per-seed states, "diverged" included
    if result.diverged:
        seeds = ", ".join(f"{s} at {e}" for s, e in sorted(result.diverged.items()))
        return ("failed", f"diverged at epoch {min(result.diverged.values())} (seeds {seeds}): the loss grew above "
                          f"10x its initial value or stopped being finite, no inversion is claimed for these seeds; "
                          f"lower the learning rate", result.seconds)
    return "done", None, result.seconds


def modelled_epoch(cfg) -> float | None:
    """Modelled seconds of one epoch of this run on this machine (the ETA's prior), or
    None when the machine was never calibrated (then the ETA is the measured rate)."""
    calib = cached(device_of(cfg))
    return epoch_seconds(cfg, cfg.seeds, calib["coefficients"]) if calib else None


def _experiment(ctx: queue.JobContext, kind: str, config: dict):
    """An engine.experiments job: its result dict is kept as the artefact "result"."""
    if ctx.executor.distributed:
        ctx.executor.report = lambda rows: ctx.put_artifact("pieces", {"pieces": rows})
    result = queue.job_kinds()[kind](dict(config), ctx)
    if ctx.stopped:
        return "cancelled", None
    result = dict(result)
    result.setdefault("config", config)
    ctx.put_artifact("result", jsonable(result))
    return "done", None


def _log(message: str) -> None:
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} worker {os.getpid()}: {message}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
