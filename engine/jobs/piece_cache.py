"""Finished pieces of an experiment, kept on the driver's disk (runs/pieces/) until
its job is done, so a resubmit after a lost node or a cancel trains only the pieces
that are missing. A piece is named by what it computes (its science config, rows
and options), never by where it ran, so the same piece of another job is reused."""
from __future__ import annotations

import hashlib
import io
import pickle
from pathlib import Path

import numpy as np

from engine.environment import runs_dir
from engine.files import atomic_write


def key(piece) -> str:
    """What the piece computes (not where): its science config, rows and options."""
    science = {k: v for k, v in piece.config.to_dict().items() if k != "device"}
    include = None if piece.include is None else np.packbits(np.asarray(piece.include, bool)).tobytes()
    h = hashlib.sha256(pickle.dumps((sorted(science.items()), [int(s) for s in piece.seeds],
                                     include, tuple(piece.keep_epochs), piece.masks)))
    return h.hexdigest()[:24]


def path(key: str) -> Path:
    return runs_dir() / "pieces" / f"{key}.pt"


def load(key: str):
    import torch
    file = path(key)
    if not file.exists():
        return None
    try:
        return torch.load(file, weights_only=False)  # written by _cache_save in this lab's runs folder
    except Exception:
        return None


def save(key: str, value) -> None:
    import torch
    buf = io.BytesIO()
    torch.save(value, buf)
    path(key).parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path(key), buf.getvalue())


def drop(key: str) -> None:
    try:
        path(key).unlink()
    except OSError:
        pass
