"""The standardised inputs, cached on disk: a run's start-up reads two .npy files
instead of converting and standardising the images again (engine.data.dataset.prepare).

An entry is keyed by what determines it exactly: the md5 of the raw files (a
replaced or re-fetched file is another key), the slice of the split, the
standardisation and CACHE_VERSION (bumped when prepare's arithmetic changes). The
test set standardised on its own statistics does not depend on the training block,
so all P and blocks share one entry for it. Files are written whole or not at all
(engine.files.atomic_write); an unreadable entry is recomputed; without a writable
runs folder nothing is cached and the arrays are the same. The folder is kept under
MAX_BYTES by deleting the least recently used entries.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path
from typing import Callable

import numpy as np

from engine.environment import runs_dir
from engine.files import atomic_write

CACHE_VERSION = 1
MAX_BYTES = 1 << 30  # 1 GiB: the whole MNIST training split standardised is 188 MB


def cache_dir() -> Path:
    return runs_dir() / "cache" / "inputs"


def entry_key(md5: dict, **what) -> str | None:
    """The file name of an entry, None when the raw data has no md5 to key it by
    (scikit-learn's digits: small, prepared in milliseconds)."""
    if not md5:
        return None
    doc = {"md5": dict(sorted(md5.items())), "version": CACHE_VERSION, **what}
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:24] + ".npy"


def cached(key: str | None, compute: Callable[[], np.ndarray]) -> np.ndarray:
    """The array stored under `key`, or compute() stored there (float32, C order)."""
    if key is None:
        return compute()
    path = cache_dir() / key
    try:
        x = np.load(path, allow_pickle=False)
        os.utime(path)  # recently used: evicted last
        return x
    except (OSError, ValueError):  # missing, cut short or not an .npy: compute it again
        pass
    x = compute()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        buf = io.BytesIO()
        np.save(buf, np.ascontiguousarray(x), allow_pickle=False)
        atomic_write(path, buf.getvalue())
        _evict(path.parent, keep=path)
    except OSError:  # a read-only or full runs folder: run without the cache
        pass
    return x


def _evict(folder: Path, keep: Path) -> None:
    """Delete least recently used entries until the folder holds at most MAX_BYTES."""
    entries = sorted((p.stat().st_mtime, p.stat().st_size, p) for p in folder.glob("*.npy"))
    total = sum(size for _, size, _ in entries)
    for _, size, p in entries:
        if total <= MAX_BYTES:
            break
        if p != keep:
            p.unlink(missing_ok=True)
            total -= size
