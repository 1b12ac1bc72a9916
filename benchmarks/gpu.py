"""GPU benchmark, one command (benchmarks/gpu.sh): the engine at R = 1000 seeds x 500
epochs, P = 8192 MNIST, in fp32, tf32 and bf16; the naive baseline on the same GPU;
and the fidelity check of tf32 and bf16 against fp32 (20 seeds x 300 epochs).

    python -m benchmarks.gpu [--seeds 1000] [--epochs 500] [--precisions fp32,tf32,bf16]
                             [--fidelity-seeds 20] [--fidelity-epochs 300] [--budget-s 390] [--device cuda]

Every case runs in its own process under a hard timeout, so a hang or an
out-of-memory in one leaves the others; a case that no longer fits in --budget-s
is skipped and says so. Writes gpu.json and gpu.txt to $OUT if set, else to
benchmarks/results/. Without MNIST on the machine the speed cases time random
data of the same shape (the time does not depend on the values) and say so; the
fidelity case then reports that it could not run. `--device cpu --seeds 4
--epochs 3 --fidelity-seeds 3 --fidelity-epochs 40 --precisions fp32,bf16` is the
smoke test.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# seconds each case may take at most (on an H200 they take a fraction of this)
TIMEOUT_S = {"naive": 60, "fp32": 110, "tf32": 70, "bf16": 70, "fidelity": 90}
TARGET_S = 15.0  # the goal for 1000 seeds x 500 epochs


# --- cases (each in its own process: `python -m benchmarks.gpu case KIND ...`) -------------

def mnist_or_synthetic(config):
    import numpy as np
    from engine.data.dataset import Dataset, prepare
    try:
        return prepare(config), "mnist"
    except Exception as e:  # DatasetUnavailable: no files and no network on the GPU machine
        rng = np.random.default_rng(0)
        P, n_test = config.n_train, 10000
        x, xt = rng.standard_normal((P, 784), np.float32), rng.standard_normal((n_test, 784), np.float32)
        y, yt = rng.integers(0, 2, P), rng.integers(0, 2, n_test)
        data = Dataset("synthetic", x, y, y, np.arange(P), xt, yt, yt, (28, 28), "random", {})
        return data, f"synthetic ({type(e).__name__}: MNIST not found)"


def case_engine(precision: str, seeds: int, epochs: int, device: str) -> dict:
    """engine.run.run of R seeds x T epochs in `precision`: the whole call (set-up,
    every epoch's host copy, the RunResult), the steady time per epoch, and its
    GEMM FLOP/s against the same GEMMs alone."""
    import torch
    from engine.config import RunConfig
    from engine.training.memory import estimate_bytes, plan
    from engine.run import run
    from .measure import engine_inputs, gemm_flops, gemm_seconds, sync
    config = RunConfig(seeds=seeds, epochs=epochs, device=device, precision=precision)
    data, source = mnist_or_synthetic(config)
    dev = torch.device(device)
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    stamps = []
    sync(dev)
    start = time.perf_counter()
    result, _ = run(config, data=data, on_epoch=lambda rec: stamps.append(time.perf_counter()))
    sync(dev)
    total = time.perf_counter() - start
    chunks = len(plan(config, data))
    # each record is one device->host copy, so its time stamp follows the device
    steady = (stamps[-1] - stamps[1]) / (len(stamps) - 2) if chunks == 1 and len(stamps) > 2 else total / epochs
    P, N = data.x_train.shape
    x, x_test = (t.to(dev) for t in engine_inputs(data))
    flops = gemm_flops(seeds, config.width, P, x.shape[1], len(x_test), x_test.shape[1])
    gemm = gemm_seconds(seeds, config.width, x, x_test, reps=3, precision=precision)
    out = {"precision": precision, "seeds": seeds, "epochs": epochs, "data": source, "chunks": chunks,
           "total_s": total, "seconds_per_epoch": steady, "first_epochs_s": stamps[1] - start if stamps else None,
           "run_epochs_per_s": seeds / steady, "run_epochs_per_s_total": seeds * epochs / total,
           "flops_per_s": flops / steady, "gemm_seconds_per_epoch": gemm, "fraction_of_gemm": gemm / steady,
           "estimate_bytes": estimate_bytes(P, N, config.width, config.depth, seeds, len(data.x_test),
                                            precision=precision),
           "epochs_recorded": int(result.epochs_done), "diverged": len(result.diverged)}
    if dev.type == "cuda":
        out["peak_bytes"] = torch.cuda.max_memory_allocated(dev)
    return out


def case_naive(seeds: int, epochs: int, device: str) -> dict:
    """The authors' procedure on the same device (fp32), seconds per epoch per seed."""
    from engine.config import RunConfig
    from .naive import naive_epoch_seconds
    config = RunConfig(seeds=seeds, epochs=epochs, device=device)
    data, source = mnist_or_synthetic(config)
    out = naive_epoch_seconds(config, data, config.seed_list, epochs, device=device)
    out.update(run_epochs_per_s=1 / out["seconds_per_epoch"], data=source)
    return out


def case_fidelity(precisions: list[str], seeds: int, epochs: int, device: str) -> dict:
    """Each precision against fp32, same seeds, on MNIST (engine.analysis.fidelity)."""
    from engine.config import RunConfig
    from engine.data.dataset import prepare
    from engine.analysis.fidelity import compare, lines
    from engine.run import run
    config = RunConfig(seeds=seeds, epochs=epochs, device=device)
    data = prepare(config)  # MNIST or nothing: the check means nothing on random data
    start = time.perf_counter()
    ref, _ = run(config, data=data)
    out = {"seeds": seeds, "epochs": epochs, "fp32_s": time.perf_counter() - start}
    for p in precisions:
        start = time.perf_counter()
        other, _ = run(config.replace(precision=p), data=data)
        check = compare(ref, other)
        out[p] = {"check": check, "seconds": time.perf_counter() - start, "lines": lines(check, p)}
    return out


# --- the orchestrator ---------------------------------------------------------------------

def launch(args: list[str], timeout: float) -> dict:
    """One case in its own process; its JSON, or why there is none."""
    start = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, "-m", "benchmarks.gpu", "case", *args], cwd=ROOT,
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s", "wall_s": time.perf_counter() - start}
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["failed"])[-1], "wall_s": wall,
                "stderr_tail": proc.stderr[-2000:]}
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["wall_s"] = wall
    return out


def table(res: dict) -> str:
    m = res.get("machine", {})
    naive = res.get("naive", {})
    base = naive.get("run_epochs_per_s")
    lines = [f"device: {m.get('cuda') or m.get('cpu')}, torch {m.get('torch')}; data: "
             f"{res.get('fp32', {}).get('data', naive.get('data', '?'))}",
             f"{'case':<22}{'total s':>9}{'ms/epoch':>10}{'run-epochs/s':>14}{'vs naive':>10}{'TFLOP/s':>9}"
             f"{'% GEMM':>8}{'peak GB':>9}"]
    if base:
        lines.append(f"{'naive, 1 seed, fp32':<22}{'':>9}{1e3 * naive['seconds_per_epoch']:>10.2f}{base:>14.1f}"
                     f"{1.0:>9.1f}x")
    elif "error" in naive:
        lines.append(f"naive: {naive['error']}")
    for p in res["precisions"]:
        e = res.get(p, {})
        if "error" in e or "skipped" in e:
            lines.append(f"engine {p}: {e.get('error') or e.get('skipped')}")
            continue
        ratio = f"{e['run_epochs_per_s'] / base:>9.0f}x" if base else f"{'-':>10}"
        peak = f"{e['peak_bytes'] / 1e9:>9.1f}" if "peak_bytes" in e else f"{'-':>9}"
        lines.append(f"{'engine ' + p + ', R=' + str(e['seeds']):<22}{e['total_s']:>9.1f}"
                     f"{1e3 * e['seconds_per_epoch']:>10.2f}{e['run_epochs_per_s']:>14.0f}{ratio}"
                     f"{e['flops_per_s'] / 1e12:>9.1f}{100 * e['fraction_of_gemm']:>7.0f}%{peak}")
    lines.append("total s: the whole engine.run call for R seeds x T epochs (set-up, a host copy per epoch, the "
                 "RunResult); ms/epoch: steady state; % GEMM: the epoch's 3 GEMMs alone / the epoch")
    fid = res.get("fidelity", {})
    if "error" in fid or "skipped" in fid:
        lines.append(f"fidelity: {fid.get('error') or fid.get('skipped')}")
    fit = {}
    for p in res["precisions"]:
        if p in fid:
            fit[p] = fid[p]["check"]["fit"]
            lines.append(f"fidelity {p} vs fp32 ({fid['seeds']} seeds x {fid['epochs']} epochs):")
            lines += ["  " + line for line in fid[p]["lines"]]
    fit["fp32"] = True
    ok = [p for p in res["precisions"] if fit.get(p) and "total_s" in res.get(p, {})]
    if ok:
        best = min(ok, key=lambda p: res[p]["total_s"])
        t = res[best]["total_s"]
        lines.append(f"fastest precision that passes the fidelity check: {best}, {res[best]['seeds']} seeds x "
                     f"{res[best]['epochs']} epochs in {t:.1f} s (goal <= {TARGET_S:.0f} s: "
                     f"{'met' if t <= TARGET_S else 'NOT met'})")
    lines.append(f"benchmark wall time {res.get('seconds', 0):.0f} s")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.gpu")
    p.add_argument("--seeds", type=int, default=1000)
    p.add_argument("--epochs", type=int, default=500)
    p.add_argument("--precisions", default="fp32,tf32,bf16")
    p.add_argument("--device", default="cuda")
    p.add_argument("--naive-seeds", type=int, default=3)
    p.add_argument("--naive-epochs", type=int, default=40)
    p.add_argument("--fidelity-seeds", type=int, default=20)
    p.add_argument("--fidelity-epochs", type=int, default=300)
    p.add_argument("--budget-s", type=float, default=390, help="stop launching cases past this (seconds)")
    a = p.parse_args(argv)
    from .measure import machine
    start = time.perf_counter()
    precisions = a.precisions.split(",")
    res = {"machine": machine(), "precisions": precisions, "budget_s": a.budget_s}

    def run_case(name: str, args: list[str]) -> dict:
        left = a.budget_s - (time.perf_counter() - start)
        if left < 10:
            return {"skipped": f"not run: {left:.0f} s of the {a.budget_s:.0f} s budget left"}
        print(f"{name} ...", file=sys.stderr, flush=True)
        out = launch(args, min(TIMEOUT_S.get(name, 90), left))
        done = out.get("error") or f"{out.get('wall_s', 0):.1f} s"
        print(f"{name}: {done}", file=sys.stderr, flush=True)
        return out

    dev = ["--device", a.device]
    res["naive"] = run_case("naive", ["naive", "--seeds", str(a.naive_seeds), "--epochs", str(a.naive_epochs), *dev])
    for prec in precisions:
        res[prec] = run_case(prec, ["engine", "--precision", prec, "--seeds", str(a.seeds), "--epochs",
                                    str(a.epochs), *dev])
    others = [q for q in precisions if q != "fp32"]
    if others:
        res["fidelity"] = run_case("fidelity", ["fidelity", "--precisions", ",".join(others), "--seeds",
                                                str(a.fidelity_seeds), "--epochs", str(a.fidelity_epochs), *dev])
    res["seconds"] = time.perf_counter() - start
    text = table(res)
    out_dir = Path(os.environ.get("OUT") or ROOT / "benchmarks" / "results")
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "gpu.json").write_text(json.dumps(res, indent=1, default=str))
    (out_dir / "gpu.txt").write_text(text + "\n")
    print(text)
    return 0


def case_main(argv) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.gpu case")
    p.add_argument("kind", choices=("engine", "naive", "fidelity"))
    p.add_argument("--precision", default="fp32")
    p.add_argument("--precisions", default="tf32,bf16")
    p.add_argument("--seeds", type=int, required=True)
    p.add_argument("--epochs", type=int, required=True)
    p.add_argument("--device", default="cuda")
    a = p.parse_args(argv)
    if a.kind == "engine":
        out = case_engine(a.precision, a.seeds, a.epochs, a.device)
    elif a.kind == "naive":
        out = case_naive(a.seeds, a.epochs, a.device)
    else:
        out = case_fidelity(a.precisions.split(","), a.seeds, a.epochs, a.device)
    print(json.dumps(out, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(case_main(sys.argv[2:]) if sys.argv[1:2] == ["case"] else main())
