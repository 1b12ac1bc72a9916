"""How much memory a training run needs, and splitting its seeds into chunks that fit.

`estimate_bytes` is the working set of engine.training.loop.train for R seeds: what every
seed shares (the training and test inputs on the device) plus R times what one
seed needs (its parameters, gradients and optimiser state, and its share of the
hidden-layer buffers, which dominate: H * (P + max(P, P_test)) floats for the
two-layer net, more for deeper ones that go through autograd). The coefficients
are upper bounds checked against the measured peak (benchmarks/run.py reports
both). `chunk_seeds` splits a seed list into consecutive chunks whose estimate
fits a budget; the default budget is a fraction of the memory available now
(MemAvailable in /proc/meminfo, or torch.cuda.mem_get_info on a GPU).

Besides the training working set, a run keeps its results (`result_bytes`: the
curves and packed masks of every epoch, grown as epochs arrive), prepares its data
(`preparation_bytes`) and computes its report (`report_bytes`); engine.planning.preflight
adds these up and refuses a run whose total the machine cannot give. Importing
this module does not import torch (the CLI and the pages estimate before any run).
"""
from __future__ import annotations

import os

from engine.config import has_manual_backward
from engine.environment import resolve_device

FLOAT = 4  # bytes; the engine trains in float32
DEFAULT_FRACTION = 0.5  # of the memory available when the run starts
N_CURVES = 6            # float64 numbers per seed and epoch: engine.analysis.results.CURVES
FIRST_CAPACITY = 64     # epochs a RunResult holds before it first grows
# A worker's interpreter once it has trained (torch with torch.optim, numpy,
# scikit-learn imported), without its data: 810 MB peak RSS measured here for a
# one-seed digits run (torch 2.x CUDA build, on the CPU; benchmarks/memory.py), about
# 100 MB less without scikit-learn. Counted for every run: the CLI's process, or a job's
# worker, which does not exist yet when the job is submitted.
PROCESS_BYTES = 800 * 2**20


def parameter_count(N: int, H: int, L: int) -> int:
    """Weights and biases of one seed's dense net with L weight layers and 2 outputs."""
    return N * H + H + (L - 2) * (H * H + H) + H * 2 + 2


# engine.training.grand works on blocks of this many floats (an (R, points, H) hidden layer, or
# per-example gradients) and holds about six such temporaries at the score epoch
SCORE_BLOCK_FLOATS = 1 << 20


def shared_bytes(P: int, N: int, n_test: int, precision: str = "fp32") -> int:
    """Inputs (twice: the two-layer path keeps a copy without the pixels that are 0
    everywhere; bf16 a third, rounded, copy), labels and the training mask, held once
    for all seeds; the GraNd blocks of the score epoch."""
    inputs = (2 * FLOAT + (2 if precision == "bf16" else 0)) * (P + n_test) * N
    return inputs + 8 * (P + n_test) + 2 * FLOAT * P + 6 * FLOAT * SCORE_BLOCK_FLOATS


def optimizer_states(optimizer: str) -> int:
    """Tensors of optimiser state per parameter: Adam's two moments, momentum's velocity."""
    return {"adam": 2, "momentum": 1}.get(optimizer, 0)


def per_seed_bytes(P: int, N: int, H: int, L: int, n_test: int, autograd: bool | None = None,
                   precision: str = "fp32", states: int = 2) -> int:
    """One seed's share of the working set (an upper bound, see the module doc).
    autograd: the run goes through autograd (default: L > 2; the CNN and mini-batch
    SGD also do). bf16 adds a buffer of bfloat16 products (half a float each)."""
    # parameters, gradients, the optimiser's `states` (optimizer_states) and the transposed copy of W1
    params = (3 + states) * parameter_count(N, H, L)
    if not (L > 2 if autograd is None else autograd):
        # engine.training.loop._Dense2: two hidden-layer buffers and ~24 per-point vectors
        hidden = H * (P + max(P, n_test)) + 24 * P + 8 * n_test
    else:  # autograd keeps z and h of every hidden layer, and their gradients
        hidden = 4 * (L - 1) * H * P + 2 * (L - 1) * H * n_test + 24 * P + 8 * n_test
    if precision == "bf16":
        hidden += (L - 1) * H * max(P, n_test) // 2
    return FLOAT * (params + hidden + SCORE_FLOATS_PER_POINT * P)


# engine.training.scores.ScoreAccumulator per point, in float32 units: three float64 totals (6),
# three float32 partial sums, four float32 counts, and the epoch's temporaries (~4)
SCORE_FLOATS_PER_POINT = 17


def estimate_bytes(P: int, N: int, H: int, L: int, R: int, n_test: int, device="cpu",
                   autograd: bool | None = None, precision: str = "fp32", states: int = 2) -> int:
    """Bytes that training R seeds needs at once on `device`. The same count holds
    on a GPU, whose context (~0.5 GB) is outside the free memory mem_get_info reports."""
    return shared_bytes(P, N, n_test, precision) + R * per_seed_bytes(P, N, H, L, n_test, autograd, precision, states)


def capacities(records: int) -> list[int]:
    """The capacities, in epochs, that a RunResult of `records` epochs (T + 1) grows
    through: FIRST_CAPACITY, doubled while short, the last one exactly `records`."""
    caps = [min(records, FIRST_CAPACITY)]
    while caps[-1] < records:
        caps.append(min(records, 2 * caps[-1]))
    return caps


def result_bytes(R: int, epochs: int, P: int) -> int:
    """Peak bytes of a RunResult of R seeds and epochs 0..T: per seed and epoch the
    N_CURVES numbers and ceil(P/8) mask bytes, at the worst moment of its growth (the
    old and the new arrays both held while one is copied into the other)."""
    caps = capacities(epochs + 1)
    rows = max([caps[0]] + [a + b for a, b in zip(caps, caps[1:])])
    return R * rows * (N_CURVES * 8 + (P + 7) // 8)


# engine.training.scores: each finished chunk keeps its N_SCORES (R, P) float32 aggregates
# until the run ends, and ScoreCollector.finish concatenates them (a second copy)
N_SCORES = 8


def scores_bytes(R: int, P: int) -> int:
    """The difficulty scores of every seed, kept across chunks (and copied once at the end)."""
    return 2 * N_SCORES * FLOAT * R * P


def report_bytes(R: int, epochs: int, P: int) -> int:
    """engine.analysis.report's temporaries: learned_epoch unpacks one seed's masks of up to
    LEARNED_BLOCK (256) epochs at a time (bytes, a bool copy, the reversed columns
    for argmax), and keeps (R, P) float64 arrays (first epochs, their median) and
    S(t*) per seed."""
    return 3 * min(epochs + 1, 256) * P + 24 * R * P


def preparation_bytes(P: int, N: int, n_test: int) -> int:
    """engine.data.dataset.prepare's float64 temporaries: the block and the test split
    flattened, the centred, scaled and masked copies of the block."""
    return 8 * N * (4 * P + n_test)


def available_bytes(device="cpu") -> int:
    """Memory free for a new run now: MemAvailable on the host, free memory on a GPU."""
    if str(device).startswith("cuda"):
        import torch  # only here: the host's memory (the pages' estimate) needs no torch
        return int(torch.cuda.mem_get_info(torch.device(device))[0])
    host = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    host = int(line.split()[1]) * 1024
    except OSError:
        pass
    if host is None:
        host = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    room = cgroup_room()  # in a container, MemAvailable is the host's: its own limit comes first
    return host if room is None else min(host, room)


def cgroup_room() -> int | None:
    """Bytes this process's memory cgroup can still take (its limit minus its usage,
    reclaimable page cache not counted as used); None without a limit."""
    try:
        with open("/proc/self/cgroup") as f:
            lines = [ln.rstrip("\n").split(":", 2) for ln in f]
    except OSError:
        return None
    for _, controllers, path in lines:
        if controllers == "":  # v2
            files, root = ("memory.max", "memory.current", "inactive_file"), "/sys/fs/cgroup"
        elif "memory" in controllers.split(","):  # v1
            files, root = ("memory.limit_in_bytes", "memory.usage_in_bytes", "total_inactive_file"), \
                "/sys/fs/cgroup/memory"
        else:
            continue
        for folder in (root + path, root):  # a namespaced container sees its own group at the root
            try:
                with open(f"{folder}/{files[0]}") as f:
                    limit = f.read().strip()
                with open(f"{folder}/{files[1]}") as f:
                    used = int(f.read())
                with open(f"{folder}/memory.stat") as f:
                    stat = dict(line.split() for line in f if line.strip())
            except (OSError, ValueError):
                continue
            if limit == "max" or int(limit) >= 2**60:
                break
            return int(limit) - used + int(stat.get(files[2], 0))
    return None


BUDGET_ENV = "STRAGGLERS_MEMORY_MB"  # a fixed budget instead: e.g. to share a machine


def default_budget(device="cpu", fraction: float = DEFAULT_FRACTION) -> int:
    fixed = os.environ.get(BUDGET_ENV)
    if fixed:
        return int(float(fixed) * 2**20)
    return int(fraction * available_bytes(device))


def limit_bytes(device="cpu") -> tuple[int, str]:
    """(the most a run may use on `device`, where that number comes from): the
    fixed budget when one is set, else all the memory available now."""
    fixed = os.environ.get(BUDGET_ENV)
    if fixed:
        return int(float(fixed) * 2**20), f"{BUDGET_ENV}={fixed}"
    where = "free on the GPU now" if str(device).startswith("cuda") else "memory available now"
    return available_bytes(device), where


def seeds_per_chunk(P: int, N: int, H: int, L: int, n_test: int, budget: int,
                    autograd: bool | None = None, precision: str = "fp32", states: int = 2) -> int:
    """How many seeds' training fits `budget` bytes by estimate_bytes (at least one)."""
    room = budget - shared_bytes(P, N, n_test, precision)
    return max(1, room // per_seed_bytes(P, N, H, L, n_test, autograd, precision, states)) if room > 0 else 1


def chunk_seeds(seeds, P: int, N: int, H: int, L: int, n_test: int, budget: int,
                autograd: bool | None = None, precision: str = "fp32", states: int = 2) -> list[list[int]]:
    """Consecutive chunks of `seeds`, each as large as fits `budget` bytes by
    estimate_bytes (at least one seed per chunk, however small the budget)."""
    seeds = list(seeds)
    per_chunk = seeds_per_chunk(P, N, H, L, n_test, budget, autograd, precision, states)
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
                       precision=config.precision, states=optimizer_states(config.optimizer))
