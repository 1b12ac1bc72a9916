"""How good the estimates are on this machine: each case's estimate (the one the Run
form, the pages and `--dry-run` show) against the measured time, and the ETA of an
experiment job as it went. Prints one JSON line per case and a summary; writes
benchmarks/results/estimate.json.

    python -m benchmarks.estimate [--fresh] [--quick] [--device cpu|cuda] [--load 0,1,2]

Runs go through `python -m engine run` in a child process (start-up, data and
training all counted, as a worker pays them); experiments run here through the
same Steps/Clock a job uses, so their ETA trace is the one a page would show
(their estimate is compared without the start-up). --fresh measures the machine
again first; --quick takes the small cases only. --load 0,1,2 runs every case once per
level with that many cores kept busy by spinning processes (a synthetic load, started
before the estimate so that it sees them as it would see a browser or a video call)
and ends with a table: each case's measured / estimated time at each load.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNS = [  # (name, run options)
    ("quick preset", "--dataset mnist --n-train 2048 --seeds 10 --epochs 150 --test-every 5"),
    ("digits demo", "--dataset digits --n-train 512 --seeds 10 --epochs 60 --lr 1.0"),
    ("wide net", "--dataset mnist --n-train 2048 --seeds 4 --epochs 40 --width 200"),
    ("deeper net", "--dataset mnist --n-train 2048 --seeds 5 --epochs 40 --depth 3"),
    ("paper Fig. 1b, 60 epochs", "--dataset mnist --n-train 8192 --seeds 20 --epochs 60"),
    ("paper Fig. 1b", "--dataset mnist --n-train 8192 --seeds 20 --epochs 300"),
    ("paper Fig. 1b, bf16", "--dataset mnist --n-train 8192 --seeds 20 --epochs 300 --precision bf16"),
]
QUICK = {"quick preset", "digits demo", "wide net", "deeper net"}
EXPERIMENTS = [  # (kind, flat config overrides)
    ("prune", dict(dataset="mnist", n_train=1024, seeds=5, epochs=200)),
    ("sweep", dict(dataset="digits", n_train=512, seeds=5, epochs=60, lr=1.0, n_grid=4)),
    ("scaling", dict(dataset="digits", n_train=512, seeds=4, epochs=60, lr=1.0, n_trains=[128, 256, 512],
                     n_boot=50)),
]


def run_case(name: str, flags: str, device: str) -> dict:
    args = flags.split() + ["--device", device]
    est = json.loads(subprocess.run([sys.executable, "-m", "engine", "run", *args, "--dry-run", "--json"], cwd=ROOT,
                                    capture_output=True, text=True, check=True).stdout)
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "engine", "run", *args, "--out", out], cwd=ROOT, capture_output=True,
                       check=True)
        actual = time.perf_counter() - start
    return {"case": name, "estimate_s": est["seconds"], "actual_s": round(actual, 1),
            "ratio": round(actual / est["seconds"], 2)}


def experiment_case(kind: str, overrides: dict, device: str) -> dict:
    from engine.config import RunConfig
    from engine.experiments import JOB_KINDS
    from engine.experiments.context import LocalContext
    from engine.experiments.estimate import estimate_job
    config = {**RunConfig(device=device).to_dict(), **overrides}
    est = estimate_job(kind, config)
    trace = []
    start = time.perf_counter()
    ctx = LocalContext(on_progress=lambda done, total, eta: trace.append((time.perf_counter() - start, done,
                                                                          total, eta)))
    JOB_KINDS[kind](dict(config), ctx)
    actual = time.perf_counter() - start
    expected = est["seconds"] - est["start_s"]
    # the finish time the ETA promised at each report; a later one is a jump backwards
    promised = [t + eta for t, _, _, eta in trace if eta is not None]
    later = max((b - a for a, b in zip(promised, promised[1:])), default=0.0)
    return {"case": kind, "estimate_s": round(expected, 1), "actual_s": round(actual, 1),
            "ratio": round(actual / expected, 2), "totals": list(dict.fromkeys(tot for _, _, tot, _ in trace)),
            # > the planned total: an ensemble trained on past its epochs (a row undetermined: --horizon)
            "horizon_grew": max(tot for _, _, tot, _ in trace) > trace[0][2],
            # the estimate scaled by the final total over the planned one: the plan once it grew
            "ratio_to_grown_plan": round(actual / expected * trace[0][2] / trace[-1][2], 2),
            "first_eta_s": round(trace[0][3], 1), "largest_backward_jump_s": round(later, 1),
            "jump_over_estimate": round(later / expected, 2), "error_factor": est["error"],
            "eta_trace": [(round(t, 1), d, round(e, 1)) for t, d, _, e in trace[:: max(1, len(trace) // 12)]]}


@contextlib.contextmanager
def busy_cores(n: int):
    """n processes spinning on a core each, for the time of the block."""
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]
    try:
        time.sleep(3 if n else 0)  # long enough for /proc/stat to count them (engine.planning.load)
        yield
    finally:
        for proc in spinners:
            proc.kill()
            proc.wait()


def cases(a) -> list[dict]:
    rows = []
    for name, flags in RUNS:
        if a.quick and name not in QUICK:
            continue
        rows.append(run_case(name, flags, a.device))
        print(json.dumps(rows[-1]), flush=True)
    for kind, overrides in EXPERIMENTS:
        # horizon 1: the planned work alone (what the estimate counts); then the default
        # horizon, where undetermined ensembles train on (the total grows, said by the ETA)
        for horizon in (1, None):
            extra = {} if horizon is None else {"horizon": horizon}
            try:
                rows.append({**experiment_case(kind, {**overrides, **extra}, a.device),
                             "horizon": horizon or "default"})
            except ValueError as e:  # e.g. NoInversion: the case is too short for its verdict
                rows.append({"case": kind, "horizon": horizon or "default", "error": str(e)})
            print(json.dumps(rows[-1]), flush=True)
    return rows


def table(by_load: dict) -> str:
    """case x load: measured / estimated (the planned work: horizon 1 for experiments)."""
    loads = list(by_load)
    names = [r["case"] for r in by_load[loads[0]] if r.get("horizon", 1) == 1]
    lines = ["| case | " + " | ".join(f"{n} busy core{'s' if n != 1 else ''}" for n in loads) + " |",
             "|---|" + "---|" * len(loads)]
    for name in names:
        cells = []
        for n in loads:
            row = next((r for r in by_load[n] if r["case"] == name and r.get("horizon", 1) == 1), {})
            cells.append(f"{row['ratio']:.2f} ({row['actual_s']:.0f}/{row['estimate_s']:.0f} s)" if "ratio" in row
                         else "error")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.estimate")
    p.add_argument("--fresh", action="store_true", help="measure the machine again first")
    p.add_argument("--quick", action="store_true", help="the small cases only")
    p.add_argument("--device", default="cpu")
    p.add_argument("--load", default=None, help="comma list of busy cores to add, e.g. 0,1,2 (a table at the end)")
    a = p.parse_args(argv)
    from engine.planning import calibration
    if a.fresh:
        calibration.cache_path(a.device).unlink(missing_ok=True)
    start = time.perf_counter()
    calib = calibration.calibration(a.device)
    print(json.dumps({"calibration": calib["coefficients"], "calibration_s": round(calib["calibration_seconds"], 1),
                      "asked_s": round(time.perf_counter() - start, 1)}), flush=True)
    if a.load is not None:
        by_load = {}
        for n in [int(v) for v in a.load.split(",")]:
            with busy_cores(n):
                by_load[n] = cases(a)
        print(table(by_load), flush=True)
        out = ROOT / "benchmarks" / "results" / f"estimate-load-{a.device}.json"
        out.write_text(json.dumps({"calibration": calib, "by_load": by_load, "table": table(by_load)}, indent=2))
        return 0
    rows = cases(a)
    ratios = [r["ratio"] for r in rows if r.get("horizon", 1) == 1 and "ratio" in r]  # what the estimate counts
    summary = {"device": a.device, "cores": os.cpu_count(), "load_1min": os.getloadavg()[0],
               "ratios": ratios, "within_2x": sum(0.5 <= r <= 2 for r in ratios), "cases": len(ratios)}
    print(json.dumps(summary), flush=True)
    out = ROOT / "benchmarks" / "results" / f"estimate-{a.device}.json"
    out.write_text(json.dumps({"summary": summary, "calibration": calib, "cases": rows}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
