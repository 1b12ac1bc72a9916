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

from engine.config import OPTIONS, ConfigError, RunConfig
from engine.files import csv_text, jsonable, output_folder
from engine.planning.calibration import cached
from engine.planning.estimate import Clock, device_of
from engine.run import Stopped


def split(config: dict, defaults: dict) -> tuple[RunConfig, dict]:
    """(validated RunConfig, experiment options filled from `defaults`)."""
    run = {k: v for k, v in config.items() if k in OPTIONS}
    extra = {k: v for k, v in config.items() if k not in OPTIONS}
    unknown = set(extra) - set(defaults)
    if unknown:
        name = sorted(unknown)[0]
        raise ConfigError(name, extra[name], "not an option of this experiment")
    opts = {**defaults, **extra}
    if "horizon" in defaults:  # verdicts.HORIZON: how far past --epochs a run may go to be judged
        h = opts["horizon"]
        if isinstance(h, bool) or not isinstance(h, int) or h < 1:
            raise ConfigError("horizon", h, "an integer >= 1 (1: stop at --epochs)")
    return RunConfig.from_dict(run).validate(), opts


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

    The experiment lists its phases up front (engine.planning.estimate.Phase: rows x epochs
    each), so the total is known before the first epoch. Progress is counted in
    seed-epochs (one row trained one epoch), and the ETA weighs each by its modelled
    seconds (engine.planning.estimate, this machine's calibration when it has one), so an
    ensemble that costs more per epoch is not taken for a slowdown. The total moves
    only when the experiment learns something the plan could not know:
    `replan(k, phase)` (e.g. fewer variants or seeds than planned), `grow(...)` when an
    ensemble trains past its planned epochs (verdicts.HORIZON: a row undetermined)
    or stops before them (every row diverged)."""

    def __init__(self, ctx, phases: list, device: str | None = None):
        self.ctx, self.phases = ctx, list(phases)
        calib = cached(device or device_of(self.phases[0].config)) if self.phases else None
        self._coef = calib["coefficients"] if calib else None
        self._costs: dict = {}
        self.extra, self.extra_s = 0, 0.0  # seed-epochs and modelled seconds outside the plan
        self.clock = Clock(self.modelled_total if calib else None)
        self.done, self.done_s = 0, 0.0

    def cost(self, config, rows: int) -> float:
        """Modelled seconds of one epoch of `rows` rows of `config` (rows, without a calibration)."""
        key = (repr(config), int(rows))
        if key not in self._costs:
            from engine.planning.estimate import epoch_seconds
            self._costs[key] = epoch_seconds(config, rows, self._coef) if self._coef else float(rows)
        return self._costs[key]

    @property
    def total(self) -> int:
        return sum(p.seed_epochs for p in self.phases) + self.extra

    @property
    def modelled_total(self) -> float:
        return sum(self.cost(p.config, p.rows) * p.records for p in self.phases) + self.extra_s

    def replan(self, index: int, phase) -> "Steps":
        """Phase `index` has this shape after all (known only once earlier phases ran)."""
        self.phases[index] = phase
        return self

    def grow(self, config, rows: int, epochs: int) -> None:
        """An ensemble of `rows` rows trains `epochs` more epochs than planned (fewer if < 0)."""
        self.extra += rows * epochs
        self.extra_s += epochs * self.cost(config, rows)

    def count(self, config, rows: int, epochs: int = 1) -> None:
        """`epochs` epochs of an ensemble of `rows` rows of `config` are done."""
        self.done += rows * epochs
        self.done_s += epochs * self.cost(config, rows)
        total = self.total
        self.ctx.progress(min(self.done, total), total, self.clock.update(self.done_s, self.modelled_total))

    def check(self) -> None:
        if self.ctx.should_stop():
            raise Stopped()


def write_result(out: Path, result: dict, artifacts: dict) -> list[Path]:
    """result.json plus one file per artifact: a list of row dicts -> CSV, an
    array -> .npy, anything else -> JSON; one folder that appears whole or not at
    all (engine.files.output_folder)."""
    out = Path(out)
    files = {"result.json": json.dumps(jsonable(result), indent=2)}
    for name, obj in artifacts.items():
        if isinstance(obj, np.ndarray):
            buf = io.BytesIO()
            np.save(buf, obj)
            files[f"{name}.npy"] = buf.getvalue()
        elif isinstance(obj, list) and obj and isinstance(obj[0], dict):
            files[f"{name}.csv"] = csv_text(obj)
        else:
            files[f"{name}.json"] = json.dumps(jsonable(obj), indent=2)
    with output_folder(out) as tmp:
        for name, content in files.items():
            (tmp / name).write_bytes(content if isinstance(content, bytes) else content.encode())
    return [out / name for name in files]
