"""Where the lab keeps things and what it computes on: the repository root, the
data folder, the runs folder (each overridable from the environment) and the
torch device. One home for these, so the CLI, the workers, the store and the
pages always agree on them."""
from __future__ import annotations

import os
import sys
from contextlib import contextmanager
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


def loaded_torch():
    """torch if this process has imported it, else None (never imports it). While
    another thread is still importing it (the pages' background measurement beside a
    click), sys.modules already holds a half-initialised torch without `cuda`: wait for
    that import to finish (the import system's lock) instead of reading it."""
    torch = sys.modules.get("torch")
    if torch is None:
        return None
    if getattr(getattr(torch, "__spec__", None), "_initializing", False):
        import torch  # blocks until the other thread's import of torch is complete
    return torch


def gpu_count() -> int:
    """GPUs visible, without importing torch in a process that has not (the pages, the CLI)."""
    torch = loaded_torch()
    if torch is not None:
        return torch.cuda.device_count()
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return len([v for v in visible.split(",") if v.strip() and not v.strip().startswith("-")])
    try:
        return len(os.listdir("/proc/driver/nvidia/gpus"))
    except OSError:
        return 0


def resolve_device(name: str):
    """The torch.device for a config's `device` option ("auto" prefers CUDA)."""
    import torch  # here, not at import: the pages and the CLI's parser never need torch
    if name == "cuda" and not torch.cuda.is_available():
        from engine.config import ConfigError  # a bad option like any other: one line, exit 2
        raise ConfigError("device", name, "no CUDA device is visible here: use --device auto or cpu")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


@contextmanager
def torch_threads(n: int = 1):
    """torch's intra-op threads set to `n` while the block runs, then restored: a tiny
    ensemble (the Home demo, the tests' runs) is ~10x faster on one thread of a busy
    2-core machine than on two that wait for each other."""
    import torch
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
