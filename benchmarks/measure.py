"""One benchmark case per process (`python -m benchmarks.measure CASE ...` prints
one JSON object), so that each case's peak memory and allocator state are its own.
benchmarks/run.py runs the cases and writes the table.

Timing: the machine may be shared, so every case is timed in several blocks and
the fastest block counts, for the engine, the naive baseline and the GEMM
roofline alike; the GEMM blocks are interleaved with the engine's.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import numpy as np
import torch

from engine.config import RunConfig
from engine.data.dataset import prepare


def machine() -> dict:
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "torch": torch.__version__, "threads": torch.get_num_threads(),
            "numpy": np.__version__, "python": platform.python_version(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "loadavg": os.getloadavg()}


# --- memory -----------------------------------------------------------------------------

def _status(key: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    return 0


def reset_peak() -> bool:
    """Reset the process's peak resident set (VmHWM); False where Linux refuses."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


# --- the GEMMs of one engine epoch --------------------------------------------------------

def gemm_flops(R: int, H: int, P: int, N: int, P_test: int, N_test: int | None = None) -> int:
    """The three GEMMs of an engine epoch: forward on the training set, forward on
    the test set, and the weight gradient X^T dZ (the rest is O(P R H)). N, N_test:
    the input columns the engine multiplies (it skips pixels that are 0 everywhere)."""
    N_test = N if N_test is None else N_test
    return 2 * R * H * (2 * P * N + P_test * N_test)


def engine_inputs(data) -> tuple[torch.Tensor, torch.Tensor]:
    """The training and test inputs as the engine's GEMMs see them."""
    from engine.training.models import used_columns
    from engine.training.loop import _Dense2
    x, x_test = torch.from_numpy(data.x_train), torch.from_numpy(data.x_test)
    if _Dense2.skip_zero_pixels:
        x, x_test = used_columns(x)[1], used_columns(x_test)[1]
    return x, x_test


def epoch_gemms(R: int, H: int, x: torch.Tensor, x_test: torch.Tensor, precision: str = "fp32"):
    """A function doing the engine's three GEMMs of one epoch, same shapes, layouts
    and precision (engine.training.loop._Dense2): float32 addmm, or bf16 products widened to
    float32 by the bias addition, and dL/dz cast to bf16 for the weight gradient."""
    from engine.training.precision import gemm_dtype
    (P, N), (P_test, N_test) = x.shape, x_test.shape
    dev, lo = x.device, gemm_dtype(precision)
    w, w_test = torch.randn(R * H, N, device=dev) * 0.03, torch.randn(R * H, N_test, device=dev) * 0.03
    b = torch.zeros(R * H, 1, device=dev)
    buf = torch.empty(R * H * max(P, P_test), device=dev)
    z, z_test = buf[: R * H * P].view(R * H, P), buf[: R * H * P_test].view(R * H, P_test)
    if lo is None:
        def gemms():
            torch.addmm(b, w, x.T, out=z)
            torch.addmm(b, w_test, x_test.T, out=z_test)
            torch.mm(z, x)
        return gemms
    x_lo, xt_lo = x.to(lo), x_test.to(lo)
    lo_buf = torch.empty(R * H * max(P, P_test), dtype=lo, device=dev)
    z_lo, zt_lo = lo_buf[: R * H * P].view(R * H, P), lo_buf[: R * H * P_test].view(R * H, P_test)

    def gemms():
        torch.add(b, torch.mm(w.to(lo), x_lo.T, out=z_lo), out=z)
        torch.add(b, torch.mm(w_test.to(lo), xt_lo.T, out=zt_lo), out=z_test)
        torch.mm(z_lo.copy_(z), x_lo).float()
    return gemms


def sync(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def gemm_seconds(R: int, H: int, x: torch.Tensor, x_test: torch.Tensor, reps: int = 2,
                 precision: str = "fp32") -> float:
    """Fastest time of the engine's three GEMMs, same shapes, layouts and precision,
    alone: the roofline an epoch cannot beat on this machine with this BLAS."""
    from engine.training.precision import matmul_mode
    gemms = epoch_gemms(R, H, x, x_test, precision)
    best = float("inf")
    with matmul_mode(precision, x.device):
        gemms()  # the first call of a shape and dtype sets up kernels: not timed
        for _ in range(reps):
            sync(x.device)
            start = time.perf_counter()
            gemms()
            sync(x.device)
            best = min(best, time.perf_counter() - start)
    return best


def sgemm_rate(P: int = 8192, N: int = 784, cols: int = 400, reps: int = 5, dtype=torch.float32) -> float:
    """FLOP/s of one (P x N) @ (N x cols) GEMM in `dtype`, fastest of `reps`."""
    a, b = torch.randn(P, N).to(dtype), torch.randn(N, cols).to(dtype)
    a @ b
    best = float("inf")
    for _ in range(reps):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * P * N * cols / best


# --- cases --------------------------------------------------------------------------------

def short_run_peak(config: RunConfig, data, epochs: int = 2) -> float:
    """Peak resident bytes of a short training run above the resident set before it
    (after a warm-up that pages in the libraries' code and BLAS workspaces)."""
    import gc
    from engine.training.loop import train
    for _ in train(config.replace(seeds=1, epochs=1), data):
        pass
    gc.collect()
    if not reset_peak():
        return float("nan")
    base = _status("VmRSS")
    for _ in train(config.replace(epochs=epochs), data):
        pass
    peak = _status("VmHWM") - base
    gc.collect()
    return peak


def case_engine(seeds: int, epochs: int, blocks: int, profile: bool = False, precision: str = "fp32") -> dict:
    """Run-epochs/s of engine.training.loop.train at R = seeds (MNIST, P = 8192, the paper's
    net, test error and geometry every epoch), its FLOP/s against the GEMM
    roofline measured here, in the same precision."""
    from engine.training.loop import train
    config = RunConfig(seeds=seeds, epochs=blocks * epochs + 3, device="cpu", precision=precision)
    data = prepare(config)
    P, N = data.x_train.shape
    x, x_test = engine_inputs(data)
    # time: blocks of `epochs` epochs, each followed by the same GEMMs alone
    gen = train(config, data)
    next(gen), next(gen)  # epoch 0 (setup) and one warm step
    engine_s, roof_s = [], []
    for _ in range(blocks):
        start = time.perf_counter()
        for _ in range(epochs):
            next(gen)
        engine_s.append((time.perf_counter() - start) / epochs)
        roof_s.append(gemm_seconds(seeds, config.width, x, x_test, precision=precision))
    out = {
        "seeds": seeds, "precision": precision, "epochs_timed": blocks * epochs, "seconds_per_epoch": min(engine_s),
        "block_seconds": engine_s, "run_epochs_per_s": seeds / min(engine_s),
        "gemm_seconds_per_epoch": min(roof_s), "gemm_columns": [x.shape[1], x_test.shape[1]],
        "flops_per_epoch": gemm_flops(seeds, config.width, P, x.shape[1], len(x_test), x_test.shape[1]),
        "nominal_flops_per_epoch": gemm_flops(seeds, config.width, P, N, len(x_test)),
    }
    out["flops_per_s"] = out["flops_per_epoch"] / out["seconds_per_epoch"]
    out["nominal_flops_per_s"] = out["nominal_flops_per_epoch"] / out["seconds_per_epoch"]
    out["gemm_flops_per_s"] = out["flops_per_epoch"] / out["gemm_seconds_per_epoch"]
    out["fraction_of_gemm"] = out["flops_per_s"] / out["gemm_flops_per_s"]
    if profile:
        out["profile"] = profile_epochs(gen, epochs=2)
    return out


def profile_epochs(gen, epochs: int) -> dict:
    """Self CPU time per operator over `epochs` epochs, grouped: where an epoch goes."""
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        start = time.perf_counter()
        for _ in range(epochs):
            next(gen)
        wall = time.perf_counter() - start
    events = prof.key_averages()
    ops = {e.key: e.self_cpu_time_total / 1e6 / epochs for e in events}
    groups = {
        "gemm (addmm, mm)": ("aten::addmm", "aten::mm"),
        "tanh + sigmoid": ("aten::tanh_", "aten::tanh", "aten::sigmoid"),
        "readout + class sums (bmm)": ("aten::bmm", "aten::baddbmm"),
    }
    seconds = {g: sum(ops.get(k, 0.0) for k in keys) for g, keys in groups.items()}
    # engine.training.optimizers: torch's foreach kernels (torch.optim's own step has the same ones)
    seconds["optimizer step"] = sum(v for k, v in ops.items() if k.startswith("aten::_foreach_"))
    seconds["other elementwise + overhead"] = wall / epochs - sum(seconds.values())
    top = sorted(ops.items(), key=lambda kv: -kv[1])[:12]
    return {"seconds_per_epoch": wall / epochs, "groups": seconds, "top_ops": top}


def case_memory(seeds: int, precision: str = "fp32") -> dict:
    """Peak resident memory of training R seeds, per seed: (peak at R - peak at 1) /
    (R - 1), so that what all seeds share (the inputs, the engine's copies of them
    without the zero pixels) is not counted per seed; and engine.training.memory's estimate.
    Run with MALLOC_MMAP_THRESHOLD_ set (benchmarks/run.py does) so that freed
    buffers go back to the system and the resident set follows the live tensors."""
    from engine.training.memory import estimate_bytes, per_seed_bytes
    config = RunConfig(seeds=seeds, device="cpu", precision=precision)
    data = prepare(config)
    (P, N), n_test = data.x_train.shape, len(data.x_test)
    peak1 = short_run_peak(config.replace(seeds=1), data)
    peak = short_run_peak(config, data) if seeds > 1 else peak1
    return {"seeds": seeds, "peak_bytes": peak, "peak_bytes_one_seed": peak1,
            "peak_bytes_per_seed": (peak - peak1) / (seeds - 1) if seeds > 1 else float("nan"),
            "estimate_bytes": estimate_bytes(P, N, config.width, config.depth, seeds, n_test, precision=precision),
            "estimate_bytes_per_seed": per_seed_bytes(P, N, config.width, config.depth, n_test,
                                                      precision=precision),
            "mmap_threshold": os.environ.get("MALLOC_MMAP_THRESHOLD_")}


def case_scores(seeds: int, epochs: int, blocks: int, run_epochs: int = 300) -> dict:
    """What the difficulty scores (engine.training.scores) cost: the engine's epoch at R seeds
    (MNIST, P = 8192) without and with the accumulator's update, side by side in one
    process, blocks interleaved (fastest block counts); plus the one-off EL2N/GraNd
    read at the score epoch; and their ratio for a whole `run_epochs`-epoch run."""
    from engine.training import grand
    from engine.training.scores import ScoreAccumulator
    from engine.training.loop import train
    config = RunConfig(seeds=seeds, epochs=blocks * epochs + 4, device="cpu")
    data = prepare(config)
    plain, scored = train(config, data), train(config, data)
    acc = ScoreAccumulator(config.replace(score_epoch=config.epochs), data, config.seed_list)  # read at the end
    next(plain), next(plain)  # set-up (epoch 0) and one warm step, as case_engine
    for _ in range(2):
        acc.update(next(scored))
    times = {"without": [], "with": [], "update": []}
    for _ in range(blocks):
        start = time.perf_counter()
        for _ in range(epochs):
            next(plain)
        times["without"].append((time.perf_counter() - start) / epochs)
        start, update = time.perf_counter(), 0.0
        for _ in range(epochs):
            rec = next(scored)
            t = time.perf_counter()
            acc.update(rec)
            update += time.perf_counter() - t
        times["with"].append((time.perf_counter() - start) / epochs)
        times["update"].append(update / epochs)
    rec = next(scored)
    acc.update(rec)
    x, y = torch.from_numpy(data.x_train), torch.from_numpy(data.y_train)
    once = []
    for _ in range(3):  # EL2N is one elementwise pass; GraNd one forward in closed form
        start = time.perf_counter()
        grand.grand(config, rec.params, x, y, data.image_shape)
        once.append(time.perf_counter() - start)
    without, with_ = min(times["without"]), min(times["with"])
    acc_bytes = sum(t.numel() * t.element_size() for t in (acc.part, acc.total, acc.n_correct, acc.forgotten,
                                                           acc.streak, acc.was_correct, acc.shift))
    P = data.n_train
    return {"seeds": seeds, "n_train": P, "epochs_per_block": epochs, "blocks": blocks,
            "seconds_per_epoch_without": without, "seconds_per_epoch_with": with_,
            "block_seconds": times, "epoch_ratio": with_ / without, "grand_once_seconds": min(once),
            # the accumulator's own time per epoch, timed alone: less noisy than the difference
            "update_seconds": min(times["update"]), "update_ratio": 1 + min(times["update"]) / without,
            "run_epochs": run_epochs,
            "run_ratio": (run_epochs * with_ + min(once)) / (run_epochs * without),
            "accumulator_bytes": acc_bytes, "accumulator_bytes_per_seed_and_point": acc_bytes / (seeds * P),
            "grand_method": grand.method(config)}


def case_naive(seeds: int, epochs: int) -> dict:
    from .naive import naive_epoch_seconds
    config = RunConfig(seeds=seeds, epochs=epochs, device="cpu")
    data = prepare(config)
    out = naive_epoch_seconds(config, data, config.seed_list, epochs)
    out["run_epochs_per_s"] = 1 / out["seconds_per_epoch"]
    P, N = data.x_train.shape
    # 3 training forwards + 1 on the classes + the step's forward and weight gradient, + the test forward
    out["flops_per_epoch"] = 2 * N * config.width * (6 * P + len(data.x_test))
    out["flops_per_s"] = out["flops_per_epoch"] / out["seconds_per_epoch"]
    return out


def case_side_by_side(seeds: int, epochs: int, blocks: int, precisions: list[str]) -> dict:
    """The naive baseline (one seed) and the engine at R = seeds in each precision,
    in ONE process, block by block in turn, the fastest block of each counting: on a
    shared machine a busy spell slows all of them alike, so the ratios hold even
    when the absolute rates do not."""
    from engine.training.loop import train
    from .naive import NaiveRun
    config = RunConfig(seeds=seeds, epochs=blocks * epochs + 3, device="cpu")
    data = prepare(config)
    naive = NaiveRun(config, data, 0)
    naive.measure()
    gens = {}
    for p in precisions:
        gens[p] = train(config.replace(precision=p), data)
        next(gens[p]), next(gens[p])  # set-up and one warm epoch
    best = {"naive": float("inf"), **{p: float("inf") for p in precisions}}
    for _ in range(blocks):
        start = time.perf_counter()
        for _ in range(epochs):
            naive.step()
            naive.measure()
        best["naive"] = min(best["naive"], (time.perf_counter() - start) / epochs)
        for p, gen in gens.items():
            start = time.perf_counter()
            for _ in range(epochs):
                next(gen)
            best[p] = min(best[p], (time.perf_counter() - start) / epochs)
    rate = {"naive": 1 / best["naive"], **{p: seeds / best[p] for p in precisions}}
    return {"seeds": seeds, "epochs_per_block": epochs, "blocks": blocks, "threads": torch.get_num_threads(),
            "seconds_per_epoch": best, "run_epochs_per_s": rate,
            "vs_naive": {p: rate[p] / rate["naive"] for p in precisions}}


def case_tsne(n_points: int = 8192) -> dict:
    """Wall time of a 2-D t-SNE of n_points MNIST images after PCA to 50, per
    library, with the settings of engine/experiments/embedding.py (openTSNE
    Barnes-Hut and FFT: 250 exaggerated + 500 iterations; scikit-learn
    Barnes-Hut: 750 iterations), every core."""
    from sklearn.decomposition import PCA
    data = prepare(RunConfig(n_train=n_points))
    start = time.perf_counter()
    y = PCA(n_components=50, random_state=0).fit_transform(data.x_train.astype(np.float64))
    out = {"n_points": n_points, "pca_s": time.perf_counter() - start}
    from openTSNE import TSNE
    for method in ("bh", "fft"):  # the engine takes BH below 10^4 points, FFT above
        start = time.perf_counter()
        TSNE(n_components=2, perplexity=30, n_iter=500, early_exaggeration_iter=250,
             negative_gradient_method=method, n_jobs=-1, random_state=0).fit(y)
        out[f"opentsne_{method}_s"] = time.perf_counter() - start
    from sklearn.manifold import TSNE as SKTSNE
    start = time.perf_counter()
    SKTSNE(n_components=2, perplexity=30, max_iter=750, method="barnes_hut", random_state=0,
           n_jobs=-1).fit_transform(y)
    out["sklearn_barnes_hut_s"] = time.perf_counter() - start
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.measure")
    p.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's own)")
    sub = p.add_subparsers(dest="case", required=True)
    e = sub.add_parser("engine")
    e.add_argument("--seeds", type=int, required=True)
    e.add_argument("--epochs", type=int, default=5, help="epochs per timed block")
    e.add_argument("--blocks", type=int, default=4)
    e.add_argument("--profile", action="store_true")
    e.add_argument("--precision", default="fp32", choices=("fp32", "bf16"))
    n = sub.add_parser("naive")
    n.add_argument("--seeds", type=int, default=3)
    n.add_argument("--epochs", type=int, default=20)
    sc = sub.add_parser("scores")
    sc.add_argument("--seeds", type=int, default=20)
    sc.add_argument("--epochs", type=int, default=3, help="epochs per timed block")
    sc.add_argument("--blocks", type=int, default=5)
    m = sub.add_parser("memory")
    m.add_argument("--seeds", type=int, required=True)
    m.add_argument("--precision", default="fp32", choices=("fp32", "bf16"))
    sbs = sub.add_parser("side")
    sbs.add_argument("--seeds", type=int, default=20)
    sbs.add_argument("--epochs", type=int, default=2, help="epochs per block")
    sbs.add_argument("--blocks", type=int, default=8)
    sbs.add_argument("--precisions", default="fp32,bf16")
    sub.add_parser("tsne")
    sub.add_parser("sgemm")
    a = p.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    if a.case == "engine":
        out = case_engine(a.seeds, a.epochs, a.blocks, a.profile, a.precision)
    elif a.case == "scores":
        out = case_scores(a.seeds, a.epochs, a.blocks)
    elif a.case == "memory":
        out = case_memory(a.seeds, a.precision)
    elif a.case == "naive":
        out = case_naive(a.seeds, a.epochs)
    elif a.case == "side":
        out = case_side_by_side(a.seeds, a.epochs, a.blocks, a.precisions.split(","))
    elif a.case == "tsne":
        out = case_tsne()
    else:
        out = {"sgemm_8192x784x400_flops_per_s": sgemm_rate(),
               "bf16_8192x784x400_flops_per_s": sgemm_rate(dtype=torch.bfloat16)}
    out["machine"] = machine()
    json.dump(out, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
