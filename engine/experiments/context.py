"""What every experiment shares with the job system and the CLI: the flat config
dict (run options + experiment options), the job context, progress across many
runs, and result.json / CSV output.

A job's config is ONE flat dict: the RunConfig fields of the base run plus the
experiment's own options (e.g. "epsilons", "sigmas"). The job system stores it
as is; `split` turns it back into (RunConfig, options) and rejects unknown keys,
so a typo fails at submission instead of being silently ignored.
"""
from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np

from ..config import OPTIONS, ConfigError, RunConfig
from ..files import atomic_write, csv_text, jsonable
from ..run import Stopped

def split(config: dict, defaults: dict) -> tuple[RunConfig, dict]:
    """(validated RunConfig, experiment options filled from `defaults`)."""
    run = {k: v for k, v in config.items() if k in OPTIONS}
    extra = {k: v for k, v in config.items() if k not in OPTIONS}
    unknown = set(extra) - set(defaults)
    if unknown:
        name = sorted(unknown)[0]
        raise ConfigError(name, extra[name], "not an option of this experiment")
    return RunConfig.from_dict(run).validate(), {**defaults, **extra}


class LocalContext:
    """The job context for a run in this process (CLI, tests): progress goes to
    `on_progress(done, total, eta_s)` (the CLI's bar), never asked to stop, artifacts kept
    in memory (and written by write_result)."""

    def __init__(self, on_progress=None):
        self.artifacts: dict = {}
        self._on_progress = on_progress

    def progress(self, done: int, total: int, eta_s: float | None = None) -> None:
        if self._on_progress is not None:
            self._on_progress(done, total, eta_s)

    def should_stop(self) -> bool:
        return False

    def put_artifact(self, name: str, obj) -> None:
        self.artifacts[name] = obj

    def on_epoch(self, record) -> None:
        pass


class Steps:
    """Progress over all the ensembles of one experiment, so a job reports one
    progress bar, one ETA and one cancel point however many it trains.

    The experiment lists its phases up front (engine.estimate.Phase: rows x epochs
    each), so the total is known before the first epoch and never grows; progress is
    counted in seed-epochs (one row trained one epoch). The ETA weighs each epoch by
    its modelled seconds (engine.estimate, this machine's calibration when it has
    one), so a phase that costs more per epoch is not taken for a slowdown.
    `begin(k)` starts phase k, with its actual shape when it differs from the plan
    (e.g. fewer ε values than asked for: the total only shrinks)."""

    def __init__(self, ctx, phases: list, device: str | None = None):
        from ..calibration import cached
        from ..estimate import Clock, device_of, epoch_seconds
        self.ctx, self.phases = ctx, list(phases)
        calib = cached(device or device_of(self.phases[0].config))
        self._cost = (lambda p: epoch_seconds(p.config, p.rows, calib["coefficients"])) if calib else \
            (lambda p: float(p.rows))
        self.costs = [self._cost(p) for p in self.phases]
        self.clock = Clock(self.modelled_total if calib else None)
        self.index, self.done, self.done_s = 0, 0, 0.0

    @property
    def total(self) -> int:
        return sum(p.rows * (p.config.epochs + 1) for p in self.phases)

    @property
    def modelled_total(self) -> float:
        return sum(c * (p.config.epochs + 1) for p, c in zip(self.phases, self.costs))

    def begin(self, index: int, phase=None) -> "Steps":
        """Phase `index` starts (everything before it counts as done, e.g. after a
        divergence ended one early); `phase` replaces the planned one."""
        if phase is not None:
            self.phases[index], self.costs[index] = phase, self._cost(phase)
        before = self.phases[:index]
        self.index = index
        self.done = sum(p.rows * (p.config.epochs + 1) for p in before)
        self.done_s = sum(c * (p.config.epochs + 1) for p, c in zip(before, self.costs[:index]))
        return self

    def __call__(self, record=None) -> None:
        self.done += self.phases[self.index].rows
        self.done_s += self.costs[self.index]
        total = self.total
        self.ctx.progress(min(self.done, total), total, self.clock.update(self.done_s, self.modelled_total))

    def check(self) -> None:
        if self.ctx.should_stop():
            raise Stopped()


def write_result(out: Path, result: dict, artifacts: dict) -> list[Path]:
    """result.json plus one file per artifact: a list of row dicts -> CSV, an
    array -> .npy, anything else -> JSON. Every file is written atomically."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = [atomic_write(out / "result.json", json.dumps(jsonable(result), indent=2))]
    for name, obj in artifacts.items():
        if isinstance(obj, np.ndarray):
            buf = io.BytesIO()
            np.save(buf, obj)
            written.append(atomic_write(out / f"{name}.npy", buf.getvalue()))
        elif isinstance(obj, list) and obj and isinstance(obj[0], dict):
            written.append(atomic_write(out / f"{name}.csv", csv_text(obj)))
        else:
            written.append(atomic_write(out / f"{name}.json", json.dumps(jsonable(obj), indent=2)))
    return written
