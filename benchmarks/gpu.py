"""GPU benchmark: R = 1000 seeds x 500 epochs at P = 8192 on one GPU, against the
naive baseline on the same GPU, in FP32 (and with --tf32, TF32 GEMMs as well).

    python -m benchmarks.gpu [--seeds 1000] [--epochs 500] [--tf32] [--device cuda]

Writes gpu.json to $OUT if set, else to benchmarks/results/. Without MNIST on the
machine it times random data of the same shape (the time does not depend on the
values) and says so. `--device cpu --seeds 4 --epochs 3` is a smoke test.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

from engine.config import RunConfig
from engine.data import Dataset, prepare
from engine.memory import estimate_bytes, per_seed_bytes
from engine.train import train

from .measure import engine_inputs, gemm_flops, machine
from .naive import naive_epoch_seconds


def mnist_or_synthetic(config: RunConfig) -> tuple[Dataset, str]:
    try:
        return prepare(config), "mnist"
    except Exception as e:  # DatasetUnavailable: no files and no network on the GPU machine
        rng = np.random.default_rng(0)
        P, n_test = config.n_train, 10000
        x, xt = rng.standard_normal((P, 784), np.float32), rng.standard_normal((n_test, 784), np.float32)
        y, yt = rng.integers(0, 2, P), rng.integers(0, 2, n_test)
        data = Dataset("synthetic", x, y, y, np.arange(P), xt, yt, yt, (28, 28), "random", {})
        return data, f"synthetic ({type(e).__name__}: MNIST not found)"


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def gemm_seconds(R, H, x, x_test, reps=3) -> float:
    """The engine's three GEMMs of one epoch, alone, fastest of `reps`."""
    device = x.device
    w, b = torch.randn(R * H, x.shape[1], device=device), torch.zeros(R * H, 1, device=device)
    w_test = torch.randn(R * H, x_test.shape[1], device=device)
    best = float("inf")
    for _ in range(reps + 1):
        sync(device)
        start = time.perf_counter()
        z = torch.addmm(b, w, x.T)
        torch.addmm(b, w_test, x_test.T)
        torch.mm(z, x)
        sync(device)
        best = min(best, time.perf_counter() - start)
    return best


def engine_case(config, data, device) -> dict:
    R = config.seeds
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    gen = train(config, data)
    next(gen)  # epoch 0: setup and the first forward
    sync(device)
    start = time.perf_counter()
    n = sum(1 for _ in gen)
    sync(device)
    seconds = (time.perf_counter() - start) / n
    P, N = data.x_train.shape
    x, x_test = (t.to(device) for t in engine_inputs(data))
    flops = gemm_flops(R, config.width, P, x.shape[1], len(x_test), x_test.shape[1])
    gemm = gemm_seconds(R, config.width, x, x_test)
    out = {"seeds": R, "epochs": n, "seconds_per_epoch": seconds, "run_epochs_per_s": R / seconds,
           "total_s": seconds * n, "flops_per_s": flops / seconds, "gemm_flops_per_s": flops / gemm,
           "fraction_of_gemm": gemm / seconds, "gemm_columns": [x.shape[1], x_test.shape[1]],
           "nominal_flops_per_s": gemm_flops(R, config.width, P, N, len(data.x_test)) / seconds,
           "estimate_bytes": estimate_bytes(P, N, config.width, config.depth, R, len(data.x_test)),
           "estimate_bytes_per_seed": per_seed_bytes(P, N, config.width, config.depth, len(data.x_test))}
    if device.type == "cuda":
        out["peak_bytes"] = torch.cuda.max_memory_allocated(device)
        out["peak_bytes_per_seed"] = out["peak_bytes"] / R
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.gpu")
    p.add_argument("--seeds", type=int, default=1000)
    p.add_argument("--epochs", type=int, default=500)
    p.add_argument("--tf32", action="store_true", help="also time with TF32 GEMMs")
    p.add_argument("--device", default="cuda")
    p.add_argument("--naive-seeds", type=int, default=3)
    p.add_argument("--naive-epochs", type=int, default=40)
    a = p.parse_args(argv)
    device = torch.device(a.device)
    config = RunConfig(seeds=a.seeds, epochs=a.epochs, device=device.type)
    data, source = mnist_or_synthetic(config)
    res = {"machine": machine(), "data": source, "P": data.n_train, "test": len(data.x_test)}
    print(f"data: {source}", file=sys.stderr)
    naive = naive_epoch_seconds(config, data, list(range(a.naive_seeds)), a.naive_epochs, device=device)
    naive["run_epochs_per_s"] = 1 / naive["seconds_per_epoch"]
    res["naive"] = naive
    print(f"naive: {naive['run_epochs_per_s']:.1f} run-epochs/s", file=sys.stderr)
    modes = ["fp32"] + (["tf32"] if a.tf32 else [])
    for mode in modes:
        torch.backends.cuda.matmul.allow_tf32 = mode == "tf32"
        torch.backends.cudnn.allow_tf32 = mode == "tf32"
        e = engine_case(config, data, device)
        e["vs_naive"] = e["run_epochs_per_s"] / naive["run_epochs_per_s"]
        res[mode] = e
        print(f"engine {mode}: R={a.seeds}, {e['epochs']} epochs, {1e3 * e['seconds_per_epoch']:.2f} ms/epoch, "
              f"{e['run_epochs_per_s']:.0f} run-epochs/s ({e['vs_naive']:.0f}x naive), "
              f"{e['flops_per_s'] / 1e12:.2f} TFLOP/s = {100 * e['fraction_of_gemm']:.0f}% of its GEMMs alone",
              file=sys.stderr)
    torch.backends.cuda.matmul.allow_tf32 = False
    out_dir = Path(os.environ.get("OUT") or Path(__file__).resolve().parent / "results")
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "gpu.json").write_text(json.dumps(res, indent=1, default=str))
    print(json.dumps({k: v for k, v in res.items() if k != "machine"}, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
