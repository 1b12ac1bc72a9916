"""`python -m benchmarks.store_bench`: what the store costs a run, and how stale the
pages' view of it is. Writes benchmarks/results/store.json.

- latency: a writer PROCESS streams epochs through JobContext.on_epoch (the
  worker's path) at a fixed epoch period; this process polls the job's progress
  as a page would, but without sleeping between polls, and records when each epoch
  first becomes visible. Delay = first seen - the moment the writer had the epoch
  (before its write). A page polling every k ms adds up to k ms on top.
- write cost per epoch at R = 20 and 200 seeds, P = 8192 (one transaction: R
  metric rows + R packed masks + progress), alone and with a reader polling.
- size: bytes the store file grows per 1,000 run-epochs (one seed, one epoch),
  after a checkpoint, at P = 8192.
- read cost: metrics_frame and result() of the 200-seed job.
Synthetic records (random masks, no training) so that only the store is measured.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from engine.config import RunConfig
from engine.jobs.queue import JobContext, normalise
from engine.jobs.store import Store
from engine.training.records import EpochRecord

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "results" / "store.json"
P = 8192


def synthetic(epoch: int, R: int, P: int, rng) -> EpochRecord:
    wrong = rng.random((R, P)) < 0.05
    nums = rng.random((6, R))
    return EpochRecord(epoch=epoch, seeds=np.arange(R), loss=nums[0], train_error=wrong.mean(1), test_error=nums[2],
                       r_plus=nums[3], r_minus=nums[4], distance=nums[5], misclassified=np.packbits(wrong, axis=-1),
                       diverged=np.zeros(R, bool))


def new_job(store: Store, R: int, T: int) -> int:
    cfg = RunConfig(dataset="mnist", n_train=P, seeds=R, epochs=T, device="cpu").to_dict()
    config, digest, total = normalise("run", cfg)
    with store.write() as c:
        return c.execute("INSERT INTO jobs (kind, config, config_hash, status, total, created, started) VALUES "
                         "('run',?,?,'running',?,?,?)", (json.dumps(config), digest, total, time.time(),
                                                          time.time())).lastrowid


def stats_ms(values) -> dict:
    v = np.asarray(values) * 1e3
    return {"median_ms": round(float(np.median(v)), 3), "p95_ms": round(float(np.percentile(v, 95)), 3),
            "max_ms": round(float(v.max()), 3), "n": len(v)}


def write_cost(path: Path, R: int, T: int, with_reader: bool) -> tuple[dict, int]:
    store = Store(path)
    job = new_job(store, R, T)
    rng = np.random.default_rng(R)
    recs = [synthetic(t, R, P, rng) for t in range(T + 1)]  # made before timing: only the store is timed
    ctx = JobContext(store, job, epochs_total=T)
    stop = threading.Event()

    def reader():  # a page on its own connection (thread-local), polling
        while not stop.is_set():
            store.get_job(job)
            store.metrics_frame(job).tail(1)
            time.sleep(0.01)

    thread = threading.Thread(target=reader)
    if with_reader:
        thread.start()
    times = []
    for rec in recs:
        start = time.perf_counter()
        ctx.on_epoch(rec)
        times.append(time.perf_counter() - start)
    stop.set()
    if with_reader:
        thread.join()
    return stats_ms(times), job


def size_per_1000(path: Path, R: int, T: int) -> dict:
    """File growth per 1,000 run-epochs from a store with one job of R seeds x T+1 epochs."""
    store = Store(path)
    store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    base = path.stat().st_size
    job = new_job(store, R, T)
    ctx = JobContext(store, job, epochs_total=T)
    rng = np.random.default_rng(0)
    for t in range(T + 1):
        ctx.on_epoch(synthetic(t, R, P, rng))
    store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    grown = path.stat().st_size - base
    run_epochs = R * (T + 1)
    mask_bytes = (P + 7) // 8
    return {"P": P, "run_epochs": run_epochs, "bytes_per_1000_run_epochs": round(grown / run_epochs * 1000),
            "mask_bytes_per_run_epoch": mask_bytes,
            "overhead_vs_raw_masks": round(grown / (run_epochs * mask_bytes), 3)}


def writer_main(path: str, job: int, R: int, T: int, period_s: float, times_out: str) -> None:
    """The writer process: one epoch every period_s, the time each epoch was ready."""
    store = Store(path)
    ctx = JobContext(store, job, epochs_total=T)
    rng = np.random.default_rng(1)
    recs = [synthetic(t, R, P, rng) for t in range(T + 1)]
    ready = []
    next_at = time.time() + 0.5  # let the reader start polling
    for rec in recs:
        time.sleep(max(0.0, next_at - time.time()))
        ready.append(time.time())
        ctx.on_epoch(rec)
        next_at += period_s
    Path(times_out).write_text(json.dumps(ready))


def latency(path: Path, R: int = 20, T: int = 200, period_s: float = 0.02) -> dict:
    store = Store(path)
    job = new_job(store, R, T)
    times_file = path.parent / "ready.json"
    writer = subprocess.Popen([sys.executable, "-m", "benchmarks.store_bench", "--writer", str(path), str(job), str(R),
                               str(T), str(period_s), str(times_file)], cwd=ROOT)
    seen, last = {}, 0  # epochs 1..T are timed (the progress row starts at 0)
    deadline = time.time() + 120 + T * period_s
    while last < T and time.time() < deadline:
        epoch = store.conn.execute("SELECT epoch FROM jobs WHERE id=?", (job,)).fetchone()[0]
        now = time.time()
        for e in range(last + 1, epoch + 1):
            seen[e] = now
        last = max(last, epoch)
    writer.wait(timeout=60)
    ready = json.loads(times_file.read_text())
    delays = [seen[e] - ready[e] for e in range(1, T + 1) if e in seen]
    return {"R": R, "P": P, "epoch_period_ms": period_s * 1e3, "reader": "tight poll of the job's progress row",
            **stats_ms(delays)}


def read_cost(path: Path, job: int) -> dict:
    store = Store(path)
    out = {}
    for name, fn in (("metrics_frame", store.metrics_frame), ("result", store.result)):
        times = []
        for _ in range(3):
            start = time.perf_counter()
            fn(job)
            times.append(time.perf_counter() - start)
        out[name + "_ms"] = round(min(times) * 1e3, 1)
    return out


def main() -> None:
    T = 100
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        result = {"machine": {"python": platform.python_version(), "sqlite": __import__("sqlite3").sqlite_version,
                              "cpus": os.cpu_count(), "platform": platform.platform(),
                              "load_average_at_start": [round(x, 2) for x in os.getloadavg()]},
                  "latency": latency(tmp / "latency.sqlite"), "write_cost_per_epoch": {}}
        for R in (20, 200):
            alone, job = write_cost(tmp / f"write{R}.sqlite", R, T, with_reader=False)
            busy, _ = write_cost(tmp / f"write{R}r.sqlite", R, T, with_reader=True)
            result["write_cost_per_epoch"][f"R={R}"] = {"P": P, "epochs": T + 1, "alone": alone,
                                                        "with_reader_polling_10ms": busy}
            if R == 200:
                result["read_cost_R200_T100"] = read_cost(tmp / f"write{R}.sqlite", job)
        result["size"] = size_per_1000(tmp / "size.sqlite", 20, 200)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2))
    lat, size = result["latency"], result["size"]
    print(f"epoch -> reader delay: median {lat['median_ms']} ms, p95 {lat['p95_ms']} ms (R={lat['R']}, P={P})")
    for key, v in result["write_cost_per_epoch"].items():
        print(f"write per epoch {key}, P={P}: median {v['alone']['median_ms']} ms, p95 {v['alone']['p95_ms']} ms; "
              f"with a reader: median {v['with_reader_polling_10ms']['median_ms']} ms")
    print(f"store growth: {size['bytes_per_1000_run_epochs'] / 1e6:.2f} MB per 1,000 run-epochs at P={P} "
          f"({size['overhead_vs_raw_masks']}x the raw masks)")
    print(f"reads (R=200, {T + 1} epochs): {result['read_cost_R200_T100']}")
    print(f"written to {OUT}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--writer", nargs=6, metavar=("STORE", "JOB", "R", "T", "PERIOD_S", "TIMES_OUT"))
    args = parser.parse_args()
    if args.writer:
        path, job, R, T, period, out = args.writer
        writer_main(path, int(job), int(R), int(T), float(period), out)
    else:
        main()
