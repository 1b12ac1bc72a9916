"""The memory model against the measured peak: for a grid of runs (R, P, H, depth,
precision, data set), the estimate that `--dry-run`, the Run form and the refusal all
show (engine.planning.preflight.estimate) beside the peak resident set of the real
`python -m engine run` process (the kernel's own count, os.wait4). Goal: estimate /
measured within 1.5x, never below 0.9x.

    python -m benchmarks.memory [--quick]

Writes benchmarks/results/memory.json and prints the table with the machine's load.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from engine.config import RunConfig
from engine.planning.preflight import check_run, fmt_bytes

ROOT = Path(__file__).resolve().parent.parent
GRID = [  # run options; small enough that the grid takes a few minutes on 2 cores
    "--dataset digits --n-train 200 --seeds 1 --epochs 10",
    "--dataset digits --n-train 200 --seeds 5000 --epochs 10",
    "--dataset digits --n-train 200 --seeds 20000 --epochs 10",
    "--dataset digits --n-train 1000 --seeds 200 --epochs 20 --width 2000",
    "--dataset digits --n-train 1000 --seeds 2000 --epochs 20 --depth 3",
    "--dataset mnist --n-train 2048 --seeds 20 --epochs 20",
    "--dataset mnist --n-train 8192 --seeds 100 --epochs 10",
    "--dataset mnist --n-train 8192 --seeds 100 --epochs 10 --precision bf16",
    "--dataset mnist --n-train 4096 --seeds 20 --epochs 10 --width 400 --depth 4",
    "--dataset mnist --n-train 20000 --seeds 10 --epochs 30",
    "--dataset mnist --n-train 2048 --seeds 20 --epochs 10 --model cnn",
]
QUICK = GRID[:3] + GRID[5:7]


def config_of(options: str) -> RunConfig:
    words = options.split()
    kw = {w[2:].replace("-", "_"): v for w, v in zip(words[::2], words[1::2])}
    types = {f.name: f.type for f in RunConfig.__dataclass_fields__.values()}
    conv = {k: (int(v) if "int" in str(types.get(k)) else float(v) if "float" in str(types.get(k)) else v)
            for k, v in kw.items()}
    return RunConfig(**conv).validate()


def peak_rss(options: str) -> tuple[int, int]:
    """(peak RSS in bytes, exit status) of `python -m engine run OPTIONS --out TMP`."""
    with tempfile.TemporaryDirectory() as out:
        proc = subprocess.Popen([sys.executable, "-m", "engine", "run", *options.split(), "--device", "cpu",
                                 "--out", out], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        return usage.ru_maxrss * 1024, proc.returncode


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.memory")
    p.add_argument("--quick", action="store_true", help="five cases only")
    a = p.parse_args(argv)
    rows = []
    load0 = os.getloadavg()[0]
    for options in QUICK if a.quick else GRID:
        est = check_run(config_of(options))
        measured, rc = peak_rss(options)
        rows.append({"options": options, "estimate_bytes": est.host, "measured_bytes": measured,
                     "ratio": est.host / measured, "exit": rc, "parts": est.parts})
        print(f"{est.host / measured:6.2f}  est {fmt_bytes(est.host):>10}  measured {fmt_bytes(measured):>10}  "
              f"{options}" + (f"  (exit {rc})" if rc else ""), flush=True)
    ratios = sorted(r["ratio"] for r in rows)
    summary = {"median": ratios[len(ratios) // 2], "min": ratios[0], "max": ratios[-1],
               "load_start": load0, "load_end": os.getloadavg()[0], "cores": os.cpu_count()}
    print(f"estimate / measured: median {summary['median']:.2f}, min {summary['min']:.2f}, max {summary['max']:.2f} "
          f"(goal 0.9 to 1.5); load average {load0:.1f} -> {summary['load_end']:.1f} on {os.cpu_count()} cores")
    out = ROOT / "benchmarks" / "results" / "memory.json"
    out.write_text(json.dumps({"rows": rows, "summary": summary}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
