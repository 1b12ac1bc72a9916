"""What is in the data folder, checked cheaply and without loading a dataset:
`status()` (python -m engine data list, the Home page) and `shape()` (the sizes that
the checks before a run and the memory estimate need).

Cheap means: label files are read whole (60 KB) and checked against the official
md5 where it is known; image files only have their IDX header checked against their
size (a .gz against the uncompressed size its gzip trailer records), so a file cut
short is "damaged", never "ready"; CIFAR-10's pickles are md5-checked (as before
they are ever unpickled). Each verdict is kept per file (path, size, mtime): a page
that asks on every rerun reads nothing twice.
"""
from __future__ import annotations

import gzip
import hashlib
import math
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.config import USER_PREFIX
from engine.data.sources import (_CACHE, CIFAR_MD5, IDX_FILES, IDX_MD5, NAMES, SIZES, DatasetCorrupt,
                                 _corrupt, _fetchers, _how_to, _idx_paths, _missing, _parse_idx, _read,
                                 _target, data_dir)

IMAGE_SHAPES = {"mnist": (28, 28), "kmnist": (28, 28), "fashion": (28, 28), "cifar10": (32, 32), "digits": (8, 8)}
ITEMSIZE = {"cifar10": 4}  # bytes per pixel of the raw split: CIFAR-10 is averaged to float32, the rest uint8


@dataclass(frozen=True)
class Shape:
    """A dataset's sizes, known without loading it."""
    n_train: int          # points in the training split
    n_test: int
    image_shape: tuple    # (h, w) or (h, w, c)
    itemsize: int = 1     # bytes per pixel of the raw split

    @property
    def pixels(self) -> int:
        """N: the length of one flattened image."""
        return math.prod(self.image_shape)

    @property
    def raw_bytes(self) -> int:
        return (self.n_train + self.n_test) * self.pixels * self.itemsize


def shape(name: str) -> Shape:
    """The sizes of `name`: an upload's from its .npy headers (UploadError if it is
    not there or not readable), a built-in's from the files in the data folder when
    they are there and sound, else the official ones (what a fetch brings)."""
    if name.startswith(USER_PREFIX):
        from engine.data.upload import saved_shapes
        x_train, y_train, x_test, y_test = saved_shapes(name[len(USER_PREFIX):])
        image = x_train[0][1:]
        image = image[:-1] if len(image) == 3 and image[-1] == 1 else image  # a single channel is squeezed
        return Shape(y_train[0][0], y_test[0][0], tuple(image), x_train[1].itemsize)
    if name not in NAMES:
        raise ValueError(f"unknown dataset {name!r}: choose one of {', '.join(NAMES)}")
    ready, counts, _ = (True, SIZES[name], None) if name == "digits" else present(name)
    return Shape(*(counts if ready else SIZES[name]), IMAGE_SHAPES[name], ITEMSIZE.get(name, 1))


def train_labels(name: str):
    """The classes (0..9) of the training split when they can be read cheaply: the
    IDX label file (60 KB) when it is there and sound, scikit-learn's digits, an
    upload's y_train; None otherwise (CIFAR-10's labels are inside its pickles)."""
    if name.startswith(USER_PREFIX):
        from engine.data.upload import user_dataset_path
        try:
            with np.load(user_dataset_path(name[len(USER_PREFIX):]), allow_pickle=False) as f:
                return f["y_train"]
        except Exception:  # not there or unreadable: the checks before a run say so
            return None
    if name == "digits":
        from engine.data.sources import load_raw
        return load_raw("digits").y_train
    if name == "cifar10" or name not in NAMES or not present(name)[0]:
        return None
    return _parse_idx(_read(_idx_paths(name)[0][IDX_FILES[1]]), "labels")


def status() -> list[dict]:
    """One row per built-in dataset, from what is on disk now; never downloads.
    `problem` names a damaged file (then `ready` is False)."""
    rows = []
    for name in NAMES:
        cached = _CACHE.get((name, str(data_dir())))
        ready, counts, problem = (True, SIZES[name], None) if name == "digits" else present(name)
        source = cached.source if cached else "scikit-learn" if name == "digits" else \
            "data folder" if ready else ", ".join(label for label, _ in _fetchers(name))
        rows.append({"name": name, "ready": ready, "source": source, "n_train": counts[0],
                     "n_test": counts[1], "how_to_fetch": _how_to(name), "problem": problem})
    return rows


def present(name: str) -> tuple[bool, tuple, str | None]:
    """(all files there and sound, the split sizes, what is wrong with a damaged file)."""
    if name == "cifar10":
        if _missing(name):
            return False, SIZES[name], None
        try:
            for f, expected in CIFAR_MD5.items():
                _verified(_target(name) / f, lambda p, e=expected: _md5_is(p, p.read_bytes(), e))
        except (DatasetCorrupt, OSError) as e:
            return False, SIZES[name], _why(e)
        return True, SIZES[name], None
    paths, missing = _idx_paths(name)
    if missing:
        return False, SIZES[name], None
    try:
        n = {f: _verified(paths[f], lambda p, f=f: _idx_count(name, f, p)) for f in IDX_FILES}
        for images, labels in (IDX_FILES[:2], IDX_FILES[2:]):
            if n[images] != n[labels]:
                raise _corrupt(paths[images], f"{n[images]} images but {n[labels]} labels in {paths[labels].name}")
    except (DatasetCorrupt, OSError) as e:
        return False, SIZES[name], _why(e)
    return True, (n[IDX_FILES[1]], n[IDX_FILES[3]]), None


_VERDICTS: dict = {}  # (path, size, mtime_ns) -> the check's result


def _verified(path: Path, check):
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _VERDICTS:
        _VERDICTS[key] = check(path)  # a DatasetCorrupt is not kept: the next call says it again
    return _VERDICTS[key]


def _idx_count(name: str, f: str, path: Path) -> int:
    """The number of items of one IDX file: labels read whole (and md5-checked when
    the official md5 is known), images by header against size."""
    if "labels" in f:
        data = _read(path)
        expected = IDX_MD5.get(name, {}).get(f)
        if expected:
            _md5_is(path, data, expected)
        return len(_parse_idx(data, path))
    if path.suffix == ".gz":
        try:
            with gzip.open(path) as g:
                head = g.read(16)
        except (OSError, EOFError, zlib.error) as e:
            raise _corrupt(path, f"not a gzip file ({e})") from None
        with open(path, "rb") as raw:  # ISIZE: the uncompressed size mod 2^32, the last 4 bytes
            raw.seek(-4, 2)
            size = struct.unpack("<I", raw.read(4))[0]
    else:
        with open(path, "rb") as raw:
            head = raw.read(16)
        size = path.stat().st_size
    if len(head) < 4 or head[:3] != b"\x00\x00\x08" or not 1 <= head[3] <= 4 or len(head) < 4 + 4 * head[3]:
        raise _corrupt(path, "bad magic number: not an IDX file of unsigned bytes")
    dims = struct.unpack(f">{head[3]}I", head[4:4 + 4 * head[3]])
    need = 4 + 4 * len(dims) + math.prod(dims)
    if size != (need % 2**32 if path.suffix == ".gz" else need):
        raise _corrupt(path, f"cut short or too long: its header {dims} needs {need} bytes"
                             + (" uncompressed" if path.suffix == ".gz" else f", the file has {size}"))
    return dims[0]


def _md5_is(path: Path, data: bytes, expected: str) -> None:
    got = hashlib.md5(data).hexdigest()
    if got != expected:
        raise _corrupt(path, f"md5 {got}, the official file's is {expected}")


def _why(e: Exception) -> str:
    """'<path>: <what is wrong>' from a DatasetCorrupt's message (or an OSError)."""
    text = str(e)
    return text.split(". Delete it")[0].replace(" is corrupt: ", ": ", 1) if isinstance(e, DatasetCorrupt) else text
