"""One ensemble run from a config: validate, load data, train, collect. The single
entry point that the CLI, the job worker and the experiments share."""
from __future__ import annotations

from typing import Callable, Iterator

import numpy as np

from engine.analysis.results import RunResult
from engine.config import RunConfig, check_precision
from engine.data.dataset import Dataset, prepare
from engine.environment import resolve_device
from engine.planning.preflight import check_fits, check_run, shape_of
from engine.training.loop import train
from engine.training.memory import plan
from engine.training.records import EpochRecord
from engine.training.scores import ScoreCollector


class Stopped(Exception):
    """Raised inside the loop when the consumer asks to stop (cancel)."""


class EpochsDone:
    """Progress in epochs of a run whose seeds may train in chunks (engine.training.memory):
    for each record, the epoch a one-chunk run would be at after the same work.
    With one chunk that is record.epoch; with several, the count goes on across
    chunks instead of restarting, so bars and ETAs stay true."""

    def __init__(self, n_seeds: int | None, epochs: int):
        self.n_seeds, self._epochs1 = n_seeds, epochs + 1
        self._finished = 0  # seeds of the chunks already finished
        self._chunk = None  # (first seed, size) of the chunk under way

    def __call__(self, record) -> int:
        chunk = (int(record.seeds[0]), len(record.seeds))
        if self._chunk is not None and chunk != self._chunk:
            self._finished += self._chunk[1]
        self._chunk = chunk
        if not self.n_seeds or chunk[1] >= self.n_seeds:
            return int(record.epoch)
        # run-epochs done (chunk by chunk) / seeds, minus the initialisation record
        run_epochs = self._finished * self._epochs1 + chunk[1] * (int(record.epoch) + 1)
        return max(0, run_epochs // self.n_seeds - 1)


def train_chunked(config: RunConfig, data: Dataset, include: np.ndarray | None = None,
                  budget: int | None = None, device=None) -> Iterator[EpochRecord]:
    """train() over consecutive chunks of config.seed_list, each small enough to fit
    `budget` bytes (engine.training.memory; default: a fraction of the memory available).
    Records come chunk after chunk, each with its own `seeds`; a divergence stops
    only its own chunk. With one chunk this is exactly train()."""
    chunks = plan(config, data, budget=budget)
    include = None if include is None else np.asarray(include, dtype=bool)
    start = 0
    for seeds in chunks:
        rows = include if include is None or include.ndim == 1 else include[start:start + len(seeds)]
        yield from train(config, data, include=rows, seeds=seeds, device=device)
        start += len(seeds)


def check_device(config: RunConfig):
    """The run's torch.device; ConfigError, before any work, when the device or the
    precision cannot be had here (--device cuda without a GPU, tf32 on the CPU)."""
    device = resolve_device(config.device)
    check_precision(config.precision, device.type)
    return device


def run(config: RunConfig, data: Dataset | None = None, include=None,
        on_epoch: Callable[[EpochRecord], None] | None = None,
        should_stop: Callable[[], bool] | None = None, scores: bool = True,
        budget: int | None = None, checked=None) -> tuple[RunResult, Dataset]:
    """Train config.seeds seeds for config.epochs epochs. `on_epoch` sees every
    record as it is made (the store writes it); `should_stop` is asked between
    epochs and ends the run early, keeping what was recorded. Seeds are trained in
    chunks that fit `budget` bytes (default: a fraction of the memory available,
    engine.training.memory); usually one chunk. A run the machine cannot hold at all is
    refused (engine.planning.preflight.TooLarge) before its data is prepared. With `scores`,
    result.scores holds the difficulty scores (engine.training.scores). `checked`: the
    engine.planning.preflight.Estimate of a caller that ran check_run on this config
    (the CLI, the queue); the checks are then not repeated."""
    if checked is None:
        if data is None:
            check_run(config)  # also the dataset, its block and classes, before loading it
        else:
            check_fits(config, shape_of(data))
        device = check_device(config)
    else:  # device_kind checked the device and the precision; only the index is left to resolve
        device = resolve_device(config.device)
    data = data if data is not None else prepare(config)
    result = RunResult.empty(config, config.seed_list, data.n_train, device=str(device))
    collector = ScoreCollector(config, data) if scores else None

    last_seed = config.seed_list[-1]

    def records():
        for rec in train_chunked(config, data, include=include, budget=budget, device=device):
            if collector is not None:
                collector.update(rec)
            yield rec
            if should_stop is not None and should_stop():
                # a cancel after the last record of the last chunk changes nothing
                result.stopped = not (rec.epoch == config.epochs and rec.seeds[-1] == last_seed)
                return

    result.collect(records(), on_epoch=on_epoch)
    if collector is not None:
        result.scores = collector.finish()
    return result, data

