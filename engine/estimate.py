"""Time and memory of a run before it starts, on this machine.

Time: the run's FLOP count (dominated by the first layer's GEMMs) at a rate this
machine has shown: the median of the last finished runs on the same device when
there are some, else the GEMM rate measured here once times an efficiency.
Memory: engine.memory's working-set bound plus what the run keeps (curves and the
packed misclassified masks of every epoch). The Run form shows this; the CLI can too.
"""
from __future__ import annotations

import math
import time

from .config import ConfigError, RunConfig
from .memory import estimate_bytes

INPUT_DIM = {"mnist": 784, "kmnist": 784, "fashion": 784, "cifar10": 3072, "digits": 64}
TEST_SIZE = {"mnist": 10000, "kmnist": 10000, "fashion": 10000, "cifar10": 10000, "digits": 360}
EFFICIENCY = 0.5  # activations, geometry and the optimiser: about half the GEMM rate (no runs to learn from)
GPU_SPEEDUP = 50  # before any GPU run here: a GPU's rate as a multiple of this CPU's (a guess, said so)
START_S = 3.0     # starting a worker and loading the data

_RATE: dict = {}


def gemm_rate(seconds: float = 0.15) -> float:
    """float32 GEMM rate of this machine's CPU through torch (measured once per process)."""
    if "cpu" not in _RATE:
        import torch
        a, b = torch.randn(512, 784), torch.randn(784, 256)
        a @ b
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            a @ b
            n += 1
        _RATE["cpu"] = 2 * 512 * 784 * 256 * n / (time.perf_counter() - start)
    return _RATE["cpu"]


def flops(config: RunConfig) -> float:
    """Work of a run, dominated by the first layer: forward + backward on the P training
    points (6 P N H), a forward on the test set when it is measured (2 P_test N H), per
    seed and epoch; deeper nets add their hidden-to-hidden layers."""
    N = INPUT_DIM.get(config.dataset, 784)
    P_test = TEST_SIZE.get(config.dataset, 10000)
    deeper = 1 + (config.depth - 2) * config.width / N
    return (6 * config.n_train + 2 * P_test / config.test_every) * N * config.width * config.seeds * \
        (config.epochs + 1) * deeper


def rate_from_history(finished: list[dict], device: str = "cpu", last: int = 5) -> tuple[float, str]:
    """FLOP/s this machine achieves: the median over the newest finished run jobs (job
    dicts, newest first) on this device, or, before any, the GEMM rate times EFFICIENCY."""
    rates = []
    for job in finished:
        if len(rates) >= last:
            break
        seconds = job.get("seconds")
        if not seconds or seconds < 1 or not str(job.get("device") or "cpu").startswith(device):
            continue
        try:
            rates.append(flops(RunConfig.from_dict(job["config"])) / seconds)
        except (ConfigError, TypeError):
            continue
    if rates:
        return float(sorted(rates)[len(rates) // 2]), f"from the last {len(rates)} finished run(s) here"
    return gemm_rate() * EFFICIENCY, "from a GEMM rate measured here"


def estimate(config: RunConfig, rate: float | None = None, finished: list[dict] = ()) -> dict:
    """{"seconds", "bytes", "flops", "how"} of a run on this machine, before it starts."""
    import torch
    on_gpu = config.device != "cpu" and torch.cuda.is_available()
    how = "given rate"
    if rate is None:
        rate, how = rate_from_history(list(finished), "cuda" if on_gpu else "cpu")
        if on_gpu and "finished run" not in how:
            rate *= GPU_SPEEDUP
    N = INPUT_DIM.get(config.dataset, 784)
    P_test = TEST_SIZE.get(config.dataset, 10000)
    P, H, R, T, L = config.n_train, config.width, config.seeds, config.epochs, config.depth
    kept = R * (T + 1) * math.ceil(P / 8) + 8 * 6 * R * (T + 1)
    work = flops(config)
    return {"seconds": work / rate + START_S, "bytes": estimate_bytes(P, N, H, L, R, P_test, precision=config.precision) + kept, "flops": work,
            "how": f"FLOP count at {rate / 1e9:.1f} GFLOP/s, {how}"}
