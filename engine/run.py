"""One ensemble run from a config: validate, load data, train, collect. The single
entry point that the CLI, the job worker and the experiments share."""
from __future__ import annotations

from typing import Callable

from .config import RunConfig
from .data import Dataset, prepare
from .results import RunResult
from .train import EpochRecord, resolve_device, train_chunked


class Stopped(Exception):
    """Raised inside the loop when the consumer asks to stop (cancel)."""


def run(config: RunConfig, data: Dataset | None = None, include=None,
        on_epoch: Callable[[EpochRecord], None] | None = None,
        should_stop: Callable[[], bool] | None = None) -> tuple[RunResult, Dataset]:
    """Train config.seeds seeds for config.epochs epochs. `on_epoch` sees every
    record as it is made (the store writes it); `should_stop` is asked between
    epochs and ends the run early, keeping what was recorded. Seeds are trained in
    chunks that fit the memory available (engine.memory); usually one chunk."""
    config.validate()
    data = data if data is not None else prepare(config)
    device = resolve_device(config.device)
    result = RunResult.empty(config, config.seed_list, data.n_train, device=str(device))

    last_seed = config.seed_list[-1]

    def records():
        for rec in train_chunked(config, data, include=include):
            yield rec
            if should_stop is not None and should_stop():
                # a cancel after the last record of the last chunk changes nothing
                result.stopped = not (rec.epoch == config.epochs and rec.seeds[-1] == last_seed)
                return

    result.collect(records(), on_epoch=on_epoch)
    return result, data
