"""Where the lab keeps things and what it computes on: the repository root, the
data folder, the runs folder (each overridable from the environment) and the
torch device. One home for these, so the CLI, the workers, the store and the
pages always agree on them."""
from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def data_dir() -> Path:
    """$STRAGGLERS_DATA if set, else <repo root>/data; created on demand."""
    path = Path(os.environ.get("STRAGGLERS_DATA") or ROOT / "data")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:  # read-only place: reading may still work, writing will say why
        pass
    return path


def runs_dir() -> Path:
    """$STRAGGLERS_RUNS if set, else <repo root>/runs: the store, worker log, caches."""
    return Path(os.environ.get("STRAGGLERS_RUNS") or ROOT / "runs")


def resolve_device(name: str):
    """The torch.device for a config's `device` option ("auto" prefers CUDA)."""
    import torch  # here, not at import: the pages and the CLI's parser never need torch
    if name == "cuda" and not torch.cuda.is_available():
        from .config import ConfigError  # a bad option like any other: one line, exit 2
        raise ConfigError("device", name, "no CUDA device is visible here: use --device auto or cpu")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)
