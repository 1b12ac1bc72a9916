"""What a run needs beyond valid options, checked before any work, so that a request
the machine cannot serve is refused in one line (a ConfigError: exit status 2, a job
never queued) instead of failing after minutes of training, or taking the machine
down with it:

- the device exists (--device cuda where no GPU is visible);
- the dataset exists (an upload of that name) and its training split holds the
  block, with points of both classes;
- memory: everything the run holds at once (engine.training.memory: its data, the training
  working set of one seed, the curves and masks of every epoch, the report's
  temporaries) fits what this machine can give: the memory available now, the
  GPU's free memory, or STRAGGLERS_MEMORY_MB when set;
- disk: the output folder can be written and has room for the files; a job's store
  has room for its epochs.

The estimate needs the dataset's sizes only (engine.data.inventory.shape), never its data.
"""
from __future__ import annotations

import math
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from engine.config import USER_PREFIX, ConfigError, RunConfig, check_precision, has_manual_backward
from engine.environment import gpu_count, loaded_torch
from engine.training import memory

# Bytes a run's output folder takes (engine.analysis.report): metrics.csv has one line per
# seed and epoch, at most 8 numbers of <= 22 characters; stragglers.csv one line per
# training point; summary.json a few numbers per seed; manifest and headers.
CSV_LINE_BYTES, POINT_BYTES, SEED_BYTES, FIXED_BYTES = 180, 64, 1024, 64 * 2**10
# Bytes a job's epochs take in the store per seed and epoch, beyond its packed mask:
# 117-197 measured (metrics row, mask row, B-tree pages); masks of 1 KiB fill 16 KiB
# pages to ~94 %. Plus the write-ahead log, checkpointed every 1000 pages.
STORE_ROW_BYTES, STORE_MASK_FACTOR, WAL_BYTES = 256, 1.25, 16 * 2**20


class TooLarge(ConfigError):
    """A run the machine cannot hold; the message names the estimate, its biggest
    parts, the limit and where the limit comes from."""

    def __init__(self, option: str, value, message: str):
        self.option, self.value, self.allowed = option, value, message
        ValueError.__init__(self, f"--{option.replace('_', '-')}={value!r} is not valid: {message}")


@dataclass
class Estimate:
    """Bytes a run needs, before it starts."""
    device: str                       # "cpu" or "cuda"
    host: int                         # host memory, all phases (data, training on the CPU, results, report)
    on_device: int                    # GPU memory (0 on the CPU: counted in host)
    parts: dict = field(default_factory=dict)  # what the biggest phases hold, for the message
    output: int = 0                   # bytes of an output folder (engine.analysis.report)
    store: int = 0                    # bytes of a job's epochs in the store


def check_run(config: RunConfig, out=None, job: bool = False, shape=None) -> Estimate:
    """Every check above for `config` (validated here), the output folder `out` if
    given, and the store's disk when `job`; the estimate when all pass."""
    config.validate()
    device = device_kind(config)
    shape = shape or dataset_shape(config)
    from engine.data.dataset import check_block
    check_block(config, shape.n_train)
    _check_image(config, shape)
    _check_classes(config)
    est = check_fits(config, shape, job, device)
    if out is not None:
        from engine.files import check_output_folder
        check_output_folder(out, est.output)
    if job:
        from engine.environment import runs_dir
        _check_disk(config, runs_dir(), est.store, "the job's epochs in the store", fixed=WAL_BYTES)
    return est


def check_fits(config: RunConfig, shape, job: bool = False, device: str | None = None) -> Estimate:
    """The device and memory checks alone, for data already prepared (engine.run)."""
    est = estimate(config, shape, device or device_kind(config), job)
    check_memory(config, est)
    return est


def device_kind(config: RunConfig) -> str:
    """"cuda" or "cpu", as the run will resolve it; ConfigError for --device cuda
    where no GPU is visible (torch asked when it is loaded, the driver otherwise)."""
    if config.device == "cpu":
        return "cpu"
    torch = loaded_torch()
    n = int(torch.cuda.is_available()) * torch.cuda.device_count() if torch is not None else gpu_count()
    if config.device == "cuda" and n == 0:
        raise ConfigError("device", config.device, "no CUDA device is visible here: use --device auto or cpu")
    kind = "cuda" if n else "cpu"
    check_precision(config.precision, kind)  # --device auto that will be the CPU
    return kind


def dataset_shape(config: RunConfig):
    """engine.data.inventory.shape, an upload that is not there a ConfigError naming the fix."""
    from engine.data.inventory import shape
    from engine.data.upload import UploadError, list_user_datasets
    try:
        return shape(config.dataset)
    except FileNotFoundError:
        name = config.dataset.split(":", 1)[1]
        have = ", ".join(list_user_datasets()) or "none"
        raise ConfigError("dataset", config.dataset,
                          f"no uploaded dataset {name!r} (uploaded: {have}): upload it on the Your data page or "
                          f"python -m engine data import {name} FILE.npz") from None
    except UploadError as e:
        raise ConfigError("dataset", config.dataset, str(e)) from None


def estimate(config: RunConfig, shape, device: str = "cpu", job: bool = False, at_once: int | None = None) -> Estimate:
    """The one memory model: the peak bytes of this config's process on a dataset of
    this shape, what --dry-run, the Run form and the refusal all show. Training counts
    `at_once` rows; by default the chunk engine.run will train at once (as many seeds
    as fit engine.training.memory.default_budget, at most all of them). Beside it the
    process holds the interpreter with torch, the raw data, every epoch's curves and
    masks and every seed's scores; benchmarks/memory.py checks it against the
    measured peak."""
    P, N, n_test, R, T = config.n_train, shape.pixels, shape.n_test, config.seeds, config.epochs
    H = config.width
    if config.model == "cnn":  # the hidden layer is channels x patches wide
        H *= (shape.image_shape[0] // config.kernel_size) * (shape.image_shape[1] // config.kernel_size)
    autograd, states = not has_manual_backward(config), memory.optimizer_states(config.optimizer)
    rows = at_once is not None  # an experiment's ensemble: its rows train at once, no chunks
    if at_once is None:  # the chunk engine.run will train at once: as many seeds as fit its budget
        at_once = min(R, memory.seeds_per_chunk(P, N, H, config.depth, n_test, memory.default_budget(device),
                                                autograd, config.precision, states))
    training = memory.estimate_bytes(P, N, H, config.depth, at_once, n_test, autograd=autograd,
                                     precision=config.precision, states=states)
    trained = "one seed at a time" if at_once == 1 else f"{at_once} rows at once" if rows else \
        f"{at_once} seeds at once" if at_once < R else "all seeds at once"
    results = memory.result_bytes(R, T, P) + memory.scores_bytes(R, P)
    data = shape.raw_bytes
    phases = {"preparing the data": memory.preparation_bytes(P, N, n_test),
              "the report": memory.report_bytes(R, T, P)}
    process = memory.PROCESS_BYTES  # the interpreter that trains (torch imported): the CLI's own, or a job's worker
    if device == "cuda":
        phases["the data on the host"] = 4 * N * (P + n_test)
        host = process + data + results + max(phases.values())
        on_device = training
    else:
        phases[f"training, {trained}"] = training
        host = process + data + results + max(phases.values())
        on_device = 0
    biggest = max(phases, key=phases.get)
    parts = {f"curves, masks and scores of {R} seeds x {T + 1} epochs": results, "the dataset": data,
             biggest: phases[biggest]}
    parts["the process (Python, torch)"] = process
    if device == "cuda":
        parts[f"training on the GPU, {trained}"] = training
    output = output_bytes(R, T, P)
    store = int(R * (T + 1) * (STORE_MASK_FACTOR * ((P + 7) // 8) + STORE_ROW_BYTES)) + WAL_BYTES
    return Estimate(device, host, on_device, parts, output, store)


def output_bytes(R: int, epochs: int, P: int) -> int:
    """An upper bound of the bytes of a run's output folder (engine.analysis.report)."""
    return R * (epochs + 1) * CSV_LINE_BYTES + P * POINT_BYTES + R * SEED_BYTES + FIXED_BYTES


def check_memory(config: RunConfig, est: Estimate) -> None:
    """TooLarge when the host or the GPU part of `est` exceeds what can be given."""
    needs = [(est.host, "cpu")] + ([(est.on_device, "cuda")] if est.device == "cuda" else [])
    for need, where in needs:
        limit, source = memory.limit_bytes(where)
        if need > limit:
            raise _too_large(config, est, need, limit, source, where)


def check_rows(config: RunConfig, data, rows: int) -> None:
    """For an experiment that trains `rows` (seed, subset) rows as ONE ensemble
    (engine.experiments.ensemble, no chunks): TooLarge before anything is allocated
    when they do not fit."""
    wide = config.replace(seeds=rows)
    check_memory(wide, estimate(wide, shape_of(data), device_kind(config), at_once=rows))


def shape_of(data):
    """The sizes of an already prepared engine.data.dataset.Dataset."""
    from engine.data.inventory import Shape
    image = tuple(data.image_shape)
    if math.prod(image) != data.x_train.shape[1]:  # colour channels, flattened into the pixels
        image += (data.x_train.shape[1] // math.prod(image),)
    return Shape(data.n_train, len(data.y_test), image, 4)


def _too_large(config, est, need, limit, source, where) -> TooLarge:
    parts = "; ".join(f"{name}: {fmt_bytes(b)}" for name, b in sorted(est.parts.items(), key=lambda kv: -kv[1]))
    top = max((k for k in est.parts if not k.startswith("the process")), key=est.parts.get)
    if top.startswith("curves") or top == "the report":
        option, fix = ("epochs" if config.epochs + 1 >= config.seeds else "seeds"), "--epochs or --seeds"
    elif top == "the dataset" or top.startswith("preparing"):
        option, fix = "n_train", "--n-train"
    else:
        option, fix = "width", "--width, --depth or --n-train"
    place = "the GPU" if where == "cuda" else "this machine"
    return TooLarge(option, getattr(config, option),
                    f"this run needs about {fmt_bytes(need)} of {'GPU ' if where == 'cuda' else ''}memory ({parts}) "
                    f"and {place} can give {fmt_bytes(limit)} ({source}): lower {fix}")


def _check_image(config: RunConfig, shape) -> None:
    if config.model == "cnn" and config.kernel_size > min(shape.image_shape[:2]):
        raise ConfigError("kernel_size", config.kernel_size,
                          f"at most the image side ({min(shape.image_shape[:2])} pixels for {config.dataset})")


def _check_classes(config: RunConfig) -> None:
    """Both classes in the training block, when the labels can be read cheaply
    (engine.data.dataset.prepare checks it again, before training, in every case)."""
    from engine.data.dataset import binary_labels, check_block, check_classes
    from engine.data.inventory import train_labels
    classes = train_labels(config.dataset)
    if classes is None:
        return
    start, stop = check_block(config, len(classes))
    block = classes[start:stop]
    check_classes(config, binary_labels(config, block, block[:1])[0], start)
    if config.dataset.startswith(USER_PREFIX):  # an upload's images, read now: a block of copies is refused
        from engine.data.dataset import check_images  # here, not in a worker (built-in sets always vary)
        from engine.data.upload import load_user_dataset
        arrays = load_user_dataset(config.dataset[len(USER_PREFIX):])
        check_images(config, arrays["x_train"][start:stop], arrays["x_test"], start)


class NoRoom(ConfigError):
    """The store's folder cannot take a job whatever its options: a read-only file system,
    or too little space for the store's fixed part. Named by the place, not an option."""

    def __init__(self, folder: Path, message: str):
        self.option, self.value, self.allowed = "runs", str(folder), message
        ValueError.__init__(self, message)


def _check_disk(config: RunConfig, folder: Path, need: int, what: str, fixed: int = 0) -> None:
    """ConfigError when `folder`'s disk has less than `need` bytes free; `fixed` of them
    no option changes (the store's write-ahead log), so only the rest blames --epochs/--seeds."""
    folder = Path(folder)
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if os.statvfs(folder).f_flag & os.ST_RDONLY:
        raise NoRoom(folder, f"{folder} is on a read-only file system, so no job can be stored there: set "
                             "STRAGGLERS_RUNS to a writable folder (or remount it read-write)")
    free = shutil.disk_usage(folder).free
    if need <= free:
        return
    if free <= fixed:  # no --epochs or --seeds would make it fit: not theirs to blame
        raise NoRoom(folder, f"{what} need about {fmt_bytes(need)} ({fmt_bytes(fixed)} of it the store's "
                             f"write-ahead log, whatever the options) and {folder} has {fmt_bytes(free)} free: "
                             "free some space on its disk or set STRAGGLERS_RUNS to a folder on another disk")
    option = "epochs" if config.epochs + 1 >= config.seeds else "seeds"
    raise ConfigError(option, getattr(config, option), f"{what} need about {fmt_bytes(need)} and {folder} has "
                                                       f"{fmt_bytes(free)} free: free some space or lower "
                                                       "--epochs or --seeds")


def fmt_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
