"""How much memory a training run needs, and splitting its seeds into chunks that fit.

`estimate_bytes` is the working set of engine.train.train for R seeds: what every
seed shares (the training and test inputs on the device) plus R times what one
seed needs (its parameters, gradients and optimiser state, and its share of the
hidden-layer buffers, which dominate: H * (P + max(P, P_test)) floats for the
two-layer net, more for deeper ones that go through autograd). The coefficients
are upper bounds checked against the measured peak (benchmarks/run.py reports
both). `chunk_seeds` splits a seed list into consecutive chunks whose estimate
fits a budget; the default budget is a fraction of the memory available now
(MemAvailable in /proc/meminfo, or torch.cuda.mem_get_info on a GPU).
"""
from __future__ import annotations

import os

import torch

from .environment import resolve_device
from .models import has_manual_backward

FLOAT = 4  # bytes; the engine trains in float32
DEFAULT_FRACTION = 0.5  # of the memory available when the run starts


def parameter_count(N: int, H: int, L: int) -> int:
    """Weights and biases of one seed's dense net with L weight layers and 2 outputs."""
    return N * H + H + (L - 2) * (H * H + H) + H * 2 + 2


def shared_bytes(P: int, N: int, n_test: int, precision: str = "fp32") -> int:
    """Inputs (twice: the two-layer path keeps a copy without the pixels that are 0
    everywhere; bf16 a third, rounded, copy), labels and the training mask, held once
    for all seeds."""
    inputs = (2 * FLOAT + (2 if precision == "bf16" else 0)) * (P + n_test) * N
    return inputs + 8 * (P + n_test) + 2 * FLOAT * P


def per_seed_bytes(P: int, N: int, H: int, L: int, n_test: int, autograd: bool | None = None,
                   precision: str = "fp32") -> int:
    """One seed's share of the working set (an upper bound, see the module doc).
    autograd: the run goes through autograd (default: L > 2; the CNN and mini-batch
    SGD also do). bf16 adds a buffer of bfloat16 products (half a float each)."""
    # parameters, gradients, up to two optimiser states (Adam) and the transposed copy of W1
    params = 5 * parameter_count(N, H, L)
    if not (L > 2 if autograd is None else autograd):
        # engine.train._Dense2: two hidden-layer buffers and ~24 per-point vectors
        hidden = H * (P + max(P, n_test)) + 24 * P + 8 * n_test
    else:  # autograd keeps z and h of every hidden layer, and their gradients
        hidden = 4 * (L - 1) * H * P + 2 * (L - 1) * H * n_test + 24 * P + 8 * n_test
    if precision == "bf16":
        hidden += (L - 1) * H * max(P, n_test) // 2
    return FLOAT * (params + hidden)


def estimate_bytes(P: int, N: int, H: int, L: int, R: int, n_test: int, device="cpu",
                   autograd: bool | None = None, precision: str = "fp32") -> int:
    """Bytes that training R seeds needs at once on `device`. The same count holds
    on a GPU, whose context (~0.5 GB) is outside the free memory mem_get_info reports."""
    return shared_bytes(P, N, n_test, precision) + R * per_seed_bytes(P, N, H, L, n_test, autograd, precision)


def available_bytes(device="cpu") -> int:
    """Memory free for a new run now: MemAvailable on the host, free memory on a GPU."""
    device = torch.device(device)
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


BUDGET_ENV = "STRAGGLERS_MEMORY_MB"  # a fixed budget instead: e.g. to share a machine


def default_budget(device="cpu", fraction: float = DEFAULT_FRACTION) -> int:
    fixed = os.environ.get(BUDGET_ENV)
    if fixed:
        return int(float(fixed) * 2**20)
    return int(fraction * available_bytes(device))


def chunk_seeds(seeds, P: int, N: int, H: int, L: int, n_test: int, budget: int,
                autograd: bool | None = None, precision: str = "fp32") -> list[list[int]]:
    """Consecutive chunks of `seeds`, each as large as fits `budget` bytes by
    estimate_bytes (at least one seed per chunk, however small the budget)."""
    seeds = list(seeds)
    room = budget - shared_bytes(P, N, n_test, precision)
    per_chunk = max(1, room // per_seed_bytes(P, N, H, L, n_test, autograd, precision)) if room > 0 else 1
    return [seeds[i:i + per_chunk] for i in range(0, len(seeds), per_chunk)]


def plan(config, data, seeds=None, budget: int | None = None) -> list[list[int]]:
    """chunk_seeds for a RunConfig and a Dataset (default budget: default_budget of
    the run's device)."""
    if budget is None:
        budget = default_budget(resolve_device(config.device))
    N, H = data.x_train.shape[1], config.width
    if config.model == "cnn":  # the hidden layer is channels x patches wide
        H *= (data.image_shape[0] // config.kernel_size) * (data.image_shape[1] // config.kernel_size)
    return chunk_seeds(config.seed_list if seeds is None else seeds, data.n_train, N, H, config.depth,
                       len(data.y_test), budget, autograd=not has_manual_backward(config),
                       precision=config.precision)
