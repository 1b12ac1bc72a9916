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
from ..files import csv_text, jsonable, output_folder
from ..run import Stopped

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
    `on_progress(done, total)` (the CLI's bar), never asked to stop, artifacts kept
    in memory (and written by write_result)."""

    def __init__(self, on_progress=None):
        self.artifacts: dict = {}
        self._on_progress = on_progress

    def progress(self, done: int, total: int) -> None:
        if self._on_progress is not None:
            self._on_progress(done, total)

    def should_stop(self) -> bool:
        return False

    def put_artifact(self, name: str, obj) -> None:
        self.artifacts[name] = obj

    def on_epoch(self, record) -> None:
        pass


class Steps:
    """Epoch counter over all the runs of one experiment, so a job reports one
    progress bar and one cancel point, however many ensembles it trains."""

    def __init__(self, ctx, total: int):
        self.ctx, self.total, self.done = ctx, max(int(total), 1), 0

    def __call__(self, record=None) -> None:
        self.done += 1
        self.ctx.progress(min(self.done, self.total), self.total)

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
