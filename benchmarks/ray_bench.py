"""`python -m benchmarks.ray_bench`: the Ray executor's speed-up on a 4-piece sweep,
and the per-piece cost that docs/cluster.md scales to the paper's Fig. 3e.

The sweep is `compare` over four disjoint MNIST blocks (Fig. 1c): four pieces of
equal work. It runs on a fresh local Ray with 1 CPU and with 2 CPUs (one CPU per
task, so 1 and 2 pieces at a time), and, beside them, with the local executor
(one process, one ensemble after the other, torch on both cores). Every case is
its own process; Ray's start and the workers' first start (importing torch) are
timed apart from the sweep, which is what a cluster pays per job vs once.
Each timing is the fastest of --repeats (the machine may be shared; the load
average is recorded). A "rate" case times one piece of depth 2 (hand-written
backward) and one of depth 4 (autograd) on 1 thread, as FLOP/s of the engine's
work model (`flops` below: the GEMMs of MNIST runs), for the Fig. 3e estimate.

Writes benchmarks/results/ray.json and prints a table.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SWEEP = dict(dataset="mnist", n_train=2048, seeds=10, epochs=150, device="cpu",
             variants={f"block={k}": {"block": k} for k in range(4)})
RATE = dict(dataset="mnist", n_train=2048, seeds=10, epochs=60, device="cpu")


def flops(config) -> float:
    """Work of an MNIST run, dominated by the first layer: forward + backward on the P
    training points (6 P N H), a forward on the test set when it is measured
    (2 P_test N H), per seed and epoch; deeper nets add their hidden-to-hidden layers."""
    N, P_test = 784, 10000
    deeper = 1 + (config.depth - 2) * config.width / N
    return (6 * config.n_train + 2 * P_test / config.test_every) * N * config.width * config.seeds * \
        (config.epochs + 1) * deeper


def case_sweep(executor: str, cpus: int) -> dict:
    import torch
    from engine.experiments import JOB_KINDS
    from engine.experiments.context import LocalContext
    ctx, out = LocalContext(), {"executor": executor, "cpus": cpus}
    if executor == "local":
        torch.set_num_threads(cpus)  # one process, the pieces one after the other
    else:
        import ray

        from engine.config import RunConfig
        from engine.experiments.pieces import Rows, run_pieces
        from engine.experiments.context import Steps
        from engine.jobs.executors import open_executor, spec
        t = time.perf_counter()
        ray.init(num_cpus=cpus, include_dashboard=False, object_store_memory=256 * 2**20, log_to_driver=False,
                 logging_level="ERROR")
        out["ray_init_s"] = time.perf_counter() - t
        ctx.executor = open_executor(spec("ray", cpus=1))
        t = time.perf_counter()  # the workers' first start: a tiny piece per CPU
        tiny = RunConfig(dataset="mnist", n_train=64, seeds=1, epochs=1, device="cpu")
        run_pieces(Steps(ctx, 1), [Rows(tiny, [s]) for s in range(cpus)])
        ctx.executor.finished()
        out["workers_start_s"] = time.perf_counter() - t
    t = time.perf_counter()
    result = JOB_KINDS["compare"](dict(SWEEP), ctx)
    out["sweep_s"] = time.perf_counter() - t
    out["phi_mean"] = {k: v["phi_mean"] for k, v in result["variants"].items()}
    if executor != "local":
        ctx.executor.finished()
    return out


def case_rate() -> dict:
    import torch

    from engine.config import RunConfig
    from engine.data.dataset import prepare
    from engine.experiments.ensemble import run_rows
    torch.set_num_threads(1)  # what a 1-CPU task gets
    out = {}
    for depth in (2, 4):
        c = RunConfig(**RATE, depth=depth)
        data = prepare(c)
        best = float("inf")
        for _ in range(2):
            t = time.perf_counter()
            run_rows(c, data, c.seed_list)
            best = min(best, time.perf_counter() - t)
        out[f"depth{depth}"] = {"seconds": best, "flops": flops(c), "flop_per_s": flops(c) / best}
    return out


def case_gpu() -> dict:
    """On a machine with a GPU: a run with --device cuda through a local Ray (tasks ask
    for the GPU) against the same run in this process, same numbers."""
    import numpy as np
    import ray

    from engine.config import RunConfig
    from engine.jobs.executors import check, open_executor, spec
    from engine.analysis.results import CURVES
    from engine.run import run
    c = RunConfig(dataset="mnist", n_train=8192, seeds=20, epochs=100, device="cuda")
    t = time.perf_counter()
    local, _ = run(c)
    local_s = time.perf_counter() - t
    ray.init(num_cpus=4, include_dashboard=False, object_store_memory=512 * 2**20, log_to_driver=False,
             logging_level="ERROR")
    executor = spec("ray")
    check(executor, c)
    ex, reports = open_executor(executor), []
    ex.report = reports.append
    t = time.perf_counter()
    out = ex.run(c)
    ray_s = time.perf_counter() - t
    diff = max(float(np.nanmax(np.abs(out.result.curves[k] - local.curves[k]))) for k in CURVES)
    return {"local_s": local_s, "ray_s": ray_s, "pieces": reports[-1], "max_abs_diff": diff,
            "masks_equal": bool((out.result.masks == local.masks).all()), "lost": out.lost}


def fig3e(rate: dict, nodes=(1, 4, 16), cores: int = 16, seeds: int = 20, epochs: int = 300) -> dict:
    """The paper's Fig. 3e as pieces (L in 2,4,8 x H in 10,20,40,80 x P in 4096..32768),
    each costing its FLOPs at the measured 1-thread rate (depth 2: hand-written backward;
    deeper: autograd), scheduled longest first on nodes x cores one-CPU tasks."""
    import heapq

    from engine.config import RunConfig
    from engine.training.memory import estimate_bytes
    pieces = []
    for L in (2, 4, 8):
        for H in (10, 20, 40, 80):
            for P in (4096, 8192, 16384, 32768):
                c = RunConfig(n_train=P, depth=L, width=H, seeds=seeds, epochs=epochs, lr=0.1, layer=1)
                per_s = rate["depth2" if L == 2 else "depth4"]["flop_per_s"]
                pieces.append({"L": L, "H": H, "P": P, "seconds": flops(c) / per_s,
                               "bytes": estimate_bytes(P, 784, H, L, seeds, 10000)})
    total = sum(p["seconds"] for p in pieces)
    out = {"pieces": len(pieces), "cpu_hours": total / 3600, "largest_piece_h": max(p["seconds"] for p in pieces) / 3600,
           "largest_piece_gib": max(p["bytes"] for p in pieces) / 2**30, "makespan_h": {}}
    for n in nodes:
        slots = [0.0] * (n * cores)  # a heap of the slots' busy time
        for p in sorted(pieces, key=lambda p: -p["seconds"]):  # longest first, onto the least busy slot
            heapq.heapreplace(slots, slots[0] + p["seconds"])
        out["makespan_h"][f"{n}x{cores}"] = max(slots) / 3600
    return out


def _in_process(args: list[str]) -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    p = subprocess.run([sys.executable, "-m", "benchmarks.ray_bench", *args], capture_output=True, text=True,
                       cwd=ROOT, env=env, timeout=1800)
    if p.returncode:
        raise RuntimeError(f"case {args} failed:\n{p.stderr[-3000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.ray_bench")
    ap.add_argument("--case", choices=("sweep", "rate", "gpu"))
    ap.add_argument("--executor", default="ray")
    ap.add_argument("--cpus", default="1,2", help="Ray CPUs to compare (comma list); the first is the reference")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--gpu", action="store_true", help="also the --device cuda check (needs a GPU)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "ray.json"))
    ap.add_argument("--estimate", action="store_true", help="only print Fig. 3e from the rates in --out")
    args = ap.parse_args(argv)
    if args.estimate:
        report = json.loads(Path(args.out).read_text())
        print(json.dumps(fig3e(report["rate"]), indent=2))
        return 0
    if args.case == "sweep":
        print(json.dumps(case_sweep(args.executor, int(args.cpus))))
        return 0
    if args.case in ("rate", "gpu"):
        print(json.dumps(case_rate() if args.case == "rate" else case_gpu()))
        return 0
    cpus = [int(c) for c in args.cpus.split(",")]
    load0 = os.getloadavg()
    # the local executor on 1 thread is the same work as one 1-CPU task, one piece after the other
    runs = {"local-1": [], **{f"ray-{c}": [] for c in cpus}}
    for _ in range(args.repeats):  # interleaved, so a burst of load hits every case alike
        for name in runs:
            executor, n = name.split("-")
            runs[name].append(_in_process(["--case", "sweep", "--executor", executor, "--cpus", n]))
    rate = _in_process(["--case", "rate"])
    best = {name: min(r, key=lambda x: x["sweep_s"]) for name, r in runs.items()}
    ref = f"ray-{cpus[0]}"
    phi_diff = max(abs(b["phi_mean"][v] - best["local-1"]["phi_mean"][v]) for b in best.values() for v in b["phi_mean"])
    report = {
        "machine": {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine(),
                    "python": platform.python_version(), "load_start": load0, "load_end": os.getloadavg()},
        "sweep": SWEEP, "rate_config": RATE, "runs": runs, "best": best,
        "speedup_vs_" + ref: {n: best[ref]["sweep_s"] / best[n]["sweep_s"] for n in best},
        "piece_s_1cpu": best["local-1"]["sweep_s"] / 4,
        "rate": rate, "phi_max_abs_diff_vs_local": phi_diff,
    }
    report["fig3e"] = fig3e(rate)
    if args.gpu:
        report["gpu"] = _in_process(["--case", "gpu"])
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2))
    print(f"4-piece sweep (compare, MNIST blocks 0-3, P = {SWEEP['n_train']}, {SWEEP['seeds']} seeds, "
          f"{SWEEP['epochs']} epochs) on {os.cpu_count()} cores; fastest of {args.repeats}; "
          f"load {load0[0]:.1f} -> {os.getloadavg()[0]:.1f}")
    for name, b in best.items():
        extra = f"  (Ray start {b['ray_init_s']:.1f} s, workers' first start {b['workers_start_s']:.1f} s)" \
            if "ray_init_s" in b else ""
        print(f"  {name:<8} {b['sweep_s']:7.1f} s  {report['speedup_vs_' + ref][name]:5.2f}x vs {ref}{extra}")
    print(f"  phi: largest difference from the local executor {phi_diff:.2g}")
    for k, v in rate.items():
        print(f"  one piece, 1 thread, {k}: {v['seconds']:.2f} s, {v['flop_per_s'] / 1e9:.2f} GFLOP/s")
    e = report["fig3e"]
    print(f"  Fig. 3e at these rates: {e['pieces']} pieces, {e['cpu_hours']:.0f} CPU-hours, largest piece "
          f"{e['largest_piece_h']:.1f} h; " + ", ".join(f"{k} cores: {v:.1f} h" for k, v in e["makespan_h"].items()))
    if args.gpu:
        g = report["gpu"]
        print(f"  --device cuda: local {g['local_s']:.1f} s, Ray {g['ray_s']:.1f} s in {len(g['pieces'])} piece(s); "
              f"max |diff| {g['max_abs_diff']:.2g}, masks equal {g['masks_equal']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
