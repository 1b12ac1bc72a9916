"""How fast this machine trains, measured once and kept: the coefficients of the
time model in engine.planning.estimate.

A short calibration trains small real ensembles (engine.training.loop on synthetic data of
chosen sizes) for a few epochs and times them: probes where the fixed cost of an
epoch dominates, where the elementwise passes over the hidden layer dominate, and
where the first layer's GEMMs dominate, plus one through autograd (deeper nets, the
CNN) and one with mini-batch SGD. A least-squares fit of

    seconds per epoch = fixed + elementwise * (R H n) + gemm * FLOPs

gives the three rates; the other probes give the factors of the other paths (autograd,
mini-batch SGD, and the GEMM precisions: bf16, and tf32 on CUDA). It
also times a fresh process importing what a worker imports (torch among it: what
a worker pays before it starts) and the standardisation of a dataset. All of it takes a few seconds and is
cached under <runs>/cache, keyed by this machine (host, CPU, cores, device) and the
torch version: another machine or another torch measures again.
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import socket
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import numpy as np

from engine.config import RunConfig
from engine.data.dataset import Dataset, _flatten, _pixel_stats, _standardise
from engine.environment import ROOT, runs_dir
from engine.files import atomic_write

VERSION = 2  # of the probes and the model: a change measures again
WARMUP, TIMED = 1, 3  # epochs per probe: the first allocate buffers, the next are timed

# (name, R, P, N, H, P_test, overrides of the run options)
PROBES = (
    ("fixed", 2, 256, 64, 8, 256, {}),
    ("elementwise", 8, 4096, 64, 64, 1024, {}),
    ("gemm", 16, 4096, 784, 20, 2048, {}),
    ("gemm-wide", 4, 2048, 784, 128, 1024, {}),
    ("autograd", 4, 2048, 784, 20, 1024, {"depth": 3}),
    ("sgd", 2, 1024, 64, 16, 256, {"optimizer": "sgd", "batch_size": 128}),
    ("gemm-bf16", 16, 4096, 784, 20, 2048, {"precision": "bf16"}),
)
CUDA_PROBES = (("gemm-tf32", 16, 4096, 784, 20, 2048, {"precision": "tf32"}),)


# --- what the model counts -------------------------------------------------------------------

def epoch_work(R: int, P: int, N: int, H: int, P_test: int, tested: float, depth: int = 2,
               patches: int = 1, batches: int = 0, eval_pass: bool = False) -> dict:
    """The work of one epoch of R seeds, in the model's three units.
    gemm: FLOPs of the matrix products: the first layer's forward and its weight
    gradient (4 P N H; no gradient is needed for the inputs), the layers behind it
    (6 P H'^2 each, H' = H * patches for the CNN), the readout, and a forward on the
    test set in a fraction `tested` of the epochs. elementwise: hidden-layer
    entries visited (R H' n). batches: mini-batch steps (SGD; then `eval_pass`: the
    epoch's metrics take one more forward over the training set)."""
    Hw = H * patches
    train = 4 * P * N * H + 6 * P * Hw * Hw * (depth - 2) + 6 * P * Hw * 2
    if eval_pass:
        train += 2 * P * N * H + 2 * P * Hw * 2
    test = 2 * P_test * N * H + 2 * P_test * Hw * Hw * (depth - 2) + 2 * P_test * Hw * 2
    return {"fixed": 1.0, "elementwise": float(R * Hw * (depth - 1) * (P + tested * P_test)),
            "gemm": float(R * (train + tested * test)), "batches": float(batches)}


# --- measuring --------------------------------------------------------------------------------

def _probe_data(P: int, N: int, P_test: int):
    rng = np.random.default_rng(0)
    side = int(round(N ** 0.5))
    classes = rng.integers(0, 10, P)
    classes_test = rng.integers(0, 10, P_test)
    return Dataset(name="calibration", x_train=rng.standard_normal((P, N), dtype=np.float32),
                   y_train=(classes % 2 == 0).astype(np.int64), classes_train=classes, index_train=np.arange(P),
                   x_test=rng.standard_normal((P_test, N), dtype=np.float32),
                   y_test=(classes_test % 2 == 0).astype(np.int64), classes_test=classes_test,
                   image_shape=(side, N // side), source="synthetic", md5={})


def time_probe(R, P, N, H, P_test, overrides: dict, device: str) -> float:
    """Seconds per epoch of a real ensemble of this size, testing every epoch: the
    median of TIMED epochs after WARMUP (on a machine shared with other work, what
    an epoch costs now, waits for the cores included)."""
    import torch

    from engine.training.loop import train
    config = RunConfig(dataset="digits", n_train=P, seeds=R, width=H, epochs=WARMUP + TIMED, device=device,
                       **overrides)
    data = _probe_data(P, N, P_test)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    times, last = [], None
    for rec in train(config, data):
        sync()
        now = time.perf_counter()
        if rec.epoch > WARMUP:
            times.append(now - last)
        last = now
    return float(np.median(times))


def probe_work(name, R, P, N, H, P_test, overrides) -> dict:
    depth = overrides.get("depth", 2)
    if overrides.get("optimizer") == "sgd":
        return epoch_work(R, P, N, H, P_test, 1.0, depth, batches=-(-P // overrides["batch_size"]),
                          eval_pass=True)
    return epoch_work(R, P, N, H, P_test, 1.0, depth)


def fit(measured: list[tuple[dict, float]]) -> dict:
    """Non-negative least squares of seconds = fixed + elementwise * n + gemm * FLOPs,
    each probe weighted by 1 / its time (relative errors count alike)."""
    from scipy.optimize import nnls
    A = np.array([[w["fixed"], w["elementwise"], w["gemm"]] for w, _ in measured])
    t = np.array([s for _, s in measured])
    scale = A.max(0)
    coef, _ = nnls(A / scale / t[:, None], np.ones(len(t)))
    coef = coef / scale
    predicted = A @ coef
    return {"fixed_s": float(coef[0]), "elementwise_s": float(coef[1]), "gemm_s": float(coef[2]),
            "fit_log_error": float(np.sqrt(np.mean(np.log(t / np.maximum(predicted, 1e-12)) ** 2)))}


def seconds_per_epoch(coef: dict, work: dict, precision: str = "fp32") -> float:
    """The model's seconds of one epoch of this work; a precision's GEMMs at its
    measured factor (1 for fp32, and for a precision never measured here)."""
    gemm = coef["gemm_s"] * coef.get(f"gemm_factor_{precision}", 1.0)
    return coef["fixed_s"] + coef["elementwise_s"] * work["elementwise"] + gemm * work["gemm"]


START_CODE = """
import json, time
start = time.perf_counter()
import engine.cli, engine.jobs.worker, engine.analysis.report, engine.run
imports = time.perf_counter() - start
start = time.perf_counter()
import sklearn.datasets
print(json.dumps({"imports": imports, "sklearn": time.perf_counter() - start}))
"""


def time_start() -> dict:
    """What a fresh process pays before its first epoch: Python, then the modules a
    worker or `python -m engine run` imports (torch among them), measured in a child
    process; and scikit-learn's import, which only the digits dataset needs."""
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", START_CODE], cwd=ROOT, check=True, capture_output=True, text=True,
                         timeout=600, env={**os.environ, "PYTHONPATH": str(ROOT)})
    whole = time.perf_counter() - start
    got = json.loads(out.stdout.strip().splitlines()[-1])
    return {"start_s": whole - got["sklearn"], "sklearn_s": got["sklearn"]}


def time_standardise(rows: int = 20000, N: int = 784) -> float:
    """Seconds per pixel value of reading and standardising a dataset (engine.data.dataset's
    own functions on a synthetic uint8 block)."""
    x = np.random.default_rng(0).integers(0, 256, (rows, N), dtype=np.uint8).reshape(rows, 28, N // 28)
    start = time.perf_counter()
    flat = _flatten(x.copy())
    _standardise(flat, *_pixel_stats(flat))
    return (time.perf_counter() - start) / (rows * N)


# A fit this far off its own probes (rms of log(measured / modelled)), or with no cost per
# FLOP at all, was measured while something else held the cores: measured again, the best kept
GOOD_FIT, MAX_ATTEMPTS = 0.15, 3


def _probe_and_fit(device: str) -> tuple[dict, dict]:
    measured, probes = [], {}
    for name, R, P, N, H, P_test, overrides in PROBES + (CUDA_PROBES if device.startswith("cuda") else ()):
        seconds = time_probe(R, P, N, H, P_test, overrides, device)
        probes[name] = {"seconds_per_epoch": seconds, "work": probe_work(name, R, P, N, H, P_test, overrides)}
        if not overrides:
            measured.append((probes[name]["work"], seconds))
    return probes, fit(measured)


def measure(device: str = "cpu") -> dict:
    """Run every probe on `device` and fit the model (a few seconds)."""
    import torch
    started = time.perf_counter()
    best = None
    for attempt in range(1, MAX_ATTEMPTS + 1):
        probes, coef = _probe_and_fit(device)
        if best is None or (coef["gemm_s"] > 0, -coef["fit_log_error"]) > (best[1]["gemm_s"] > 0,
                                                                         -best[1]["fit_log_error"]):
            best = probes, coef
        if coef["gemm_s"] > 0 and coef["fit_log_error"] <= GOOD_FIT:
            break
    probes, coef = best
    coef["attempts"] = attempt
    # the other paths, as factors on the same units: autograd keeps every activation and
    # goes through the graph; SGD adds a cost per mini-batch step
    auto = probes["autograd"]
    coef["autograd_factor"] = max(1.0, auto["seconds_per_epoch"] / seconds_per_epoch(coef, auto["work"]))
    sgd = probes["sgd"]
    full = seconds_per_epoch(coef, sgd["work"]) * coef["autograd_factor"]
    coef["batch_s"] = max(0.0, (sgd["seconds_per_epoch"] - full) / sgd["work"]["batches"])
    # a precision changes the GEMMs' time only: their share of the probe, over fp32's
    for precision in ("bf16", "tf32"):
        if f"gemm-{precision}" in probes:
            probe = probes[f"gemm-{precision}"]
            rest = probe["seconds_per_epoch"] - seconds_per_epoch({**coef, "gemm_s": 0.0}, probe["work"])
            fp32 = coef["gemm_s"] * probe["work"]["gemm"]
            coef[f"gemm_factor_{precision}"] = float(np.clip(rest / fp32, 0.1, 2.0)) if fp32 > 0 else 1.0
    coef.update(time_start())
    coef["standardise_s"] = time_standardise()

    return {"version": VERSION, "machine": machine(device), "device": device, "threads": torch.get_num_threads(),
            "measured_at": time.time(), "calibration_seconds": time.perf_counter() - started,
            "coefficients": coef, "probes": probes}


# --- this machine and the cache ------------------------------------------------------------------

def gpu_names() -> list[str]:
    """NVIDIA GPUs the driver lists (without importing torch)."""
    root = Path("/proc/driver/nvidia/gpus")
    names = []
    try:
        for info in sorted(root.glob("*/information")):
            for line in info.read_text().splitlines():
                if line.startswith("Model:"):
                    names.append(line.split(":", 1)[1].strip())
    except OSError:
        pass
    return names


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine(device: str = "cpu") -> dict:
    """What the calibration depends on: this host, its CPU and cores, the device
    and the torch version."""
    try:
        torch_version = metadata.version("torch")
    except metadata.PackageNotFoundError:
        torch_version = "none"
    gpus = gpu_names()
    return {"host": socket.gethostname(), "cpu": cpu_model(), "cores": os.cpu_count(), "torch": torch_version,
            "device": device if device == "cpu" else (gpus[0] if gpus else device), "version": VERSION}


FOLDER_ENV = "STRAGGLERS_CALIBRATION"  # one folder for several stores (the tests' many temporary ones)


def cache_path(device: str = "cpu", what: str = "calibration") -> Path:
    """<runs>/cache/<what>-<hash of machine()>.json, or under $STRAGGLERS_CALIBRATION."""
    key = hashlib.sha256(json.dumps(machine(device), sort_keys=True).encode()).hexdigest()[:16]
    folder = Path(os.environ.get(FOLDER_ENV) or runs_dir() / "cache")
    return folder / f"{what}-{key}.json"


def cached(device: str = "cpu", what: str = "calibration") -> dict | None:
    """The calibration of this machine and device if it was measured, else None."""
    try:
        return json.loads(cache_path(device, what).read_text())
    except (OSError, ValueError):
        return None


def calibration(device: str = "cpu", what: str = "calibration", measure_with=None) -> dict:
    """The cached calibration, measured now (a few seconds) when there is none.
    `what` and `measure_with(device)` name and measure another one (the experiments
    keep the speed of their fits and t-SNE maps this way)."""
    found = cached(device, what)
    if found is not None:
        return found
    result = (measure_with or measure)(device)
    path = cache_path(device, what)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, json.dumps(result, indent=2))
    return result
