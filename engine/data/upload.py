"""User datasets: validate an uploaded .npz and save it where the engine finds it.

An upload is an .npz archive with four arrays, the same layout as the built-in
datasets' raw splits:

    x_train (N, H, W) or (N, H, W, C), C in {1, 3}; uint8 or float, all finite
    y_train (N,) integers in 0..9
    x_test  (M, same image shape)
    y_test  (M,) integers in 0..9

It is read with np.load(..., allow_pickle=False): an archive holding pickled
Python objects is rejected, never unpickled. Every problem raises UploadError
with a message that says what is wrong with the file. A valid dataset is saved
atomically as <data_dir>/user/<name>.npz (uint8 images stay uint8, floats become
float32, labels int64, a single channel is squeezed), so a half-written file
never appears under that name. Nothing here imports Streamlit.
"""
from __future__ import annotations

import io
import math
import os
import zipfile
import zlib
from pathlib import Path

import numpy as np

from engine.config import USER_NAME, USER_PREFIX
from engine.environment import data_dir
from engine.files import atomic_write

KEYS = ("x_train", "y_train", "x_test", "y_test")
N_CLASSES = 10
MAX_UPLOAD_BYTES = 200 * 2**20  # the default limit; the app passes its own (server.maxUploadSize)


class UploadError(ValueError):
    """What is wrong with an uploaded dataset, in words for the person who sent it."""


# What an archive may unpack to: four times the largest built-in dataset in float32
# (CIFAR-10 as RGB floats: 737 MB) rounded up. Checked on the zip's own directory
# before anything is decompressed, so a small file that unpacks to gigabytes (a zip
# bomb) is refused without being unpacked.
MAX_UNPACKED_MB = 1024
# the compression methods Python's zipfile reads; np.savez stores, np.savez_compressed deflates
ZIP_METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflate", zipfile.ZIP_BZIP2: "bzip2",
               zipfile.ZIP_LZMA: "lzma"}


def validate_npz(data: bytes, max_bytes: int | None = None, max_unpacked: int | None = None) -> dict[str, np.ndarray]:
    """The four arrays of a valid upload (normalised), or UploadError naming the problem.
    The archive's directory and each array's .npy header are checked before any
    array is read (sizes, encryption, compression method, declared shapes), so what
    is read is bounded by `max_unpacked` bytes (default MAX_UNPACKED_MB)."""
    limit = MAX_UPLOAD_BYTES if max_bytes is None else max_bytes
    if len(data) == 0:
        raise UploadError("The file is empty.")
    if len(data) > limit:
        raise UploadError(f"The file is {len(data) / 2**20:.1f} MB; the limit is {limit / 2**20:.0f} MB.")
    if data[:6] == b"\x93NUMPY":
        raise UploadError("This is a single .npy array, not an .npz archive: save the four arrays "
                          "with np.savez(path, x_train=..., y_train=..., x_test=..., y_test=...).")
    if data[:4] not in (b"PK\x03\x04", b"PK\x05\x06"):
        raise UploadError("This is not an .npz file (not a zip archive): save it with np.savez.")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, NotImplementedError) as e:
        raise UploadError(f"The .npz archive is corrupt and cannot be opened ({e}).") from None
    with archive:
        members = _members(archive, MAX_UNPACKED_MB * 2**20 if max_unpacked is None else max_unpacked)
        arrays = {k: _read(archive, members[k], k) for k in KEYS}
    out = {}
    for split in ("train", "test"):
        out[f"x_{split}"] = _images(f"x_{split}", arrays[f"x_{split}"])
        out[f"y_{split}"] = _labels(f"y_{split}", arrays[f"y_{split}"])
        nx, ny = len(out[f"x_{split}"]), len(out[f"y_{split}"])
        if nx != ny:
            raise UploadError(f"x_{split} has {nx} images but y_{split} has {ny} labels: they must match.")
    if out["x_train"].shape[1:] != out["x_test"].shape[1:]:
        raise UploadError(f"Training images are {_shape(out['x_train'].shape[1:])} but test images are "
                          f"{_shape(out['x_test'].shape[1:])}: they must have the same shape.")
    if len(out["y_train"]) < 2:
        raise UploadError("x_train has fewer than 2 images: a run needs at least 2 training points.")
    for key in ("x_train", "x_test"):
        if all_identical(out[key]):
            raise UploadError(f"{key}'s {len(out[key])} image{'s are' if len(out[key]) > 1 else ' is'} identical "
                              f"(no pixel varies): standardised pixel by pixel, {key} is all 0 and no run can "
                              "learn or measure anything on it; upload images that differ.")
    return out


def all_identical(x: np.ndarray, chunk: int = 4096) -> bool:
    """True when every image of `x` equals the first (then every pixel has zero variance,
    and standardised images are all 0), also for a single image. Compared in chunks:
    no copy of the whole array."""
    first = x[:1]
    return all(np.array_equal(x[i:i + chunk], np.broadcast_to(first, x[i:i + chunk].shape))
               for i in range(0, len(x), chunk))


def _members(archive: zipfile.ZipFile, max_unpacked: int) -> dict[str, zipfile.ZipInfo]:
    """The zip entries of the four arrays, after checking the whole directory: no
    encrypted entry, only methods zipfile reads, and a total unpacked size (as the
    directory declares it; zipfile never yields more than that) within the cap."""
    infos = archive.infolist()
    for info in infos:
        if info.flag_bits & 0x1:
            raise UploadError(f"{info.filename} is encrypted: archives with a password cannot be read. Save the "
                              "arrays with np.savez (no password).")
        if info.compress_type not in ZIP_METHODS:
            raise UploadError(f"{info.filename} is compressed with method {info.compress_type}, which cannot be "
                              "read: save the arrays with np.savez or np.savez_compressed.")
    unpacked = sum(info.file_size for info in infos)
    if unpacked > max_unpacked:
        raise UploadError(f"The archive unpacks to {unpacked / 2**20:.0f} MB; the limit is "
                          f"{max_unpacked / 2**20:.0f} MB: upload fewer or smaller images.")
    names = {info.filename[:-4] if info.filename.endswith(".npy") else info.filename: info for info in infos}
    missing = [k for k in KEYS if k not in names]
    if missing:
        found = ", ".join(sorted(names)) or "no arrays"
        raise UploadError(f"Missing {', '.join(missing)}: the archive must hold x_train, y_train, "
                          f"x_test and y_test (it holds {found}).")
    return {k: names[k] for k in KEYS}


def _header(archive: zipfile.ZipFile, info: zipfile.ZipInfo, key: str, f) -> tuple[tuple, np.dtype]:
    """(shape, dtype) from an entry's .npy header, checked against the entry's size:
    a header may declare any shape, and only the bytes that are there may be read."""
    fmt = np.lib.format
    version = fmt.read_magic(f)
    shape, _, dtype = fmt.read_array_header_1_0(f) if version == (1, 0) else fmt.read_array_header_2_0(f)
    if dtype.hasobject:
        raise UploadError(f"{key} is an object array (pickled Python objects), which is never loaded: "
                          "store plain numeric arrays.")
    declared = math.prod(shape) * dtype.itemsize
    held = info.file_size - f.tell()
    if declared != held:
        raise UploadError(f"{key} declares shape {_shape(shape)} of {dtype} ({declared} bytes) but the "
                          f"archive holds {held} bytes for it: the file is damaged or was not written by "
                          "np.savez.")
    return shape, dtype


def _read(archive: zipfile.ZipFile, info: zipfile.ZipInfo, key: str) -> np.ndarray:
    """One array, once its header checks out; every failure an UploadError."""
    try:
        with archive.open(info) as f:
            _header(archive, info, key, f)
            f.seek(0)  # read_array reads the header itself
            return np.lib.format.read_array(f, allow_pickle=False)
    except UploadError:
        raise
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as e:
        raise UploadError(f"The .npz archive is corrupt: {key} cannot be read ({e}).") from None
    except Exception as e:  # any other failure of a hostile file (RuntimeError, NotImplementedError, ...)
        raise UploadError(f"{key} cannot be read: {e}.") from None


def saved_shapes(name: str, root=None) -> list[tuple[tuple, np.dtype]]:
    """(shape, dtype) of x_train, y_train, x_test, y_test of a saved dataset, from
    the .npy headers only (for the checks before a run: no array is read)."""
    path = user_dataset_path(name, root)
    if not path.is_file():
        raise FileNotFoundError(f"no user dataset {name!r} at {path}")
    try:
        with zipfile.ZipFile(path) as archive:
            members = _members(archive, math.inf)  # its size was checked when it was uploaded
            out = []
            for k in KEYS:
                with archive.open(members[k]) as f:
                    out.append(_header(archive, members[k], k, f))
            return out
    except UploadError:
        raise
    except Exception as e:
        raise UploadError(f"the saved dataset {path} cannot be read ({e}): upload it again.") from None


def _images(key: str, x: np.ndarray) -> np.ndarray:
    if x.dtype == object:
        raise UploadError(f"{key} is an object array: store plain numeric arrays.")
    if x.dtype != np.uint8 and not np.issubdtype(x.dtype, np.floating):
        raise UploadError(f"{key} has dtype {x.dtype}: images must be uint8 (0..255) or float.")
    if x.ndim == 4 and x.shape[-1] == 1:
        x = x[..., 0]
    if not (x.ndim == 3 or (x.ndim == 4 and x.shape[-1] == 3)):
        raise UploadError(f"{key} has shape {_shape(x.shape)}: images must be (N, H, W) or (N, H, W, C) "
                          "with C = 1 or 3.")
    if x.shape[0] == 0:
        raise UploadError(f"{key} is empty (0 images).")
    if min(x.shape[1:3]) < 1:
        raise UploadError(f"{key} has shape {_shape(x.shape)}: images must be at least 1 x 1 pixels.")
    if x.dtype != np.uint8:
        bad = int(np.size(x) - np.count_nonzero(np.isfinite(x)))
        if bad:
            raise UploadError(f"{key} contains {bad} NaN or infinite value{'s' if bad > 1 else ''}: "
                              "every pixel must be a finite number.")
        x = x.astype(np.float32)
        if not np.isfinite(x).all():
            raise UploadError(f"{key} has values too large for float32.")
    return np.ascontiguousarray(x)


def _labels(key: str, y: np.ndarray) -> np.ndarray:
    if y.dtype == object:
        raise UploadError(f"{key} is an object array: store plain integer labels.")
    if not np.issubdtype(y.dtype, np.integer) or y.dtype == np.bool_:
        raise UploadError(f"{key} has dtype {y.dtype}: labels must be integers 0..9.")
    if y.ndim != 1:
        raise UploadError(f"{key} has shape {_shape(y.shape)}: labels must be one-dimensional (N,).")
    if len(y) == 0:
        raise UploadError(f"{key} is empty (0 labels).")
    bad = np.unique(y[(y < 0) | (y >= N_CLASSES)])
    if len(bad):
        shown = ", ".join(str(int(v)) for v in bad[:5]) + (", ..." if len(bad) > 5 else "")
        raise UploadError(f"{key} has labels out of range ({shown}): labels must be integers 0..9.")
    return y.astype(np.int64)


def _shape(shape) -> str:
    return "(" + ", ".join(str(int(s)) for s in shape) + ")"


def describe(arrays: dict) -> dict:
    """What the page shows about a validated dataset."""
    ytr = arrays["y_train"]
    return {
        "n_train": int(len(ytr)), "n_test": int(len(arrays["y_test"])),
        "image_shape": list(arrays["x_train"].shape[1:]), "dtype": str(arrays["x_train"].dtype),
        "class_counts_train": {int(c): int(n) for c, n in zip(*np.unique(ytr, return_counts=True))},
        "even_fraction_train": float(np.mean(ytr % 2 == 0)),
    }


def check_name(name: str) -> str:
    if not isinstance(name, str) or not USER_NAME.fullmatch(name):
        raise UploadError(f"{name!r} is not a valid dataset name: use 1-48 letters, digits, '-' or '_', "
                          "starting with a letter or digit.")
    return name


def user_dir(root: str | os.PathLike | None = None) -> Path:
    """<data_dir>/user, where user datasets live."""
    if root is not None:
        return Path(root)
    return Path(data_dir()) / "user"


def user_dataset_path(name: str, root=None) -> Path:
    return user_dir(root) / f"{check_name(name)}.npz"


def data_version(dataset: str) -> str | None:
    """What changes when an uploaded dataset is replaced under the same name (its
    size and modification time), for job hashes and caches; None for the built-in
    datasets, whose files never change (sources.py checks their md5)."""
    if not dataset.startswith(USER_PREFIX):
        return None
    try:
        st = user_dataset_path(dataset[len(USER_PREFIX):]).stat()
    except (OSError, UploadError):
        return None
    return f"{st.st_size}-{st.st_mtime_ns}"


def list_user_datasets(root=None) -> list[str]:
    d = user_dir(root)
    return sorted(p.stem for p in d.glob("*.npz") if USER_NAME.fullmatch(p.stem)) if d.is_dir() else []


def save_user_dataset(name: str, arrays: dict, root=None, overwrite: bool = False) -> Path:
    """Write <root>/<name>.npz atomically (temporary file + rename) and return its path.
    `arrays` is what validate_npz returned; refuses to replace an existing dataset
    unless overwrite=True."""
    path = user_dataset_path(name, root)
    if path.exists() and not overwrite:
        raise UploadError(f"A dataset named {name!r} already exists: choose another name.")
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    np.savez(buf, **{k: arrays[k] for k in KEYS})
    return atomic_write(path, buf.getvalue())


def load_user_dataset(name: str, root=None) -> dict[str, np.ndarray]:
    """The four arrays of a saved user dataset (for engine.data.sources.load_raw("user:<name>")).
    A file damaged since it was saved (a disk error, a copy cut short, an edit by hand)
    is an UploadError that says so, not numpy's or zipfile's own exception."""
    path = user_dataset_path(name, root)
    if not path.exists():
        raise FileNotFoundError(f"no user dataset {name!r} at {path}")
    try:
        with np.load(path, allow_pickle=False) as f:
            return {k: f[k] for k in KEYS}
    except (ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error) as e:
        # ValueError: not a zip, so np.load would unpickle it and refuses; KeyError: an array is missing
        raise UploadError(f"the saved dataset {path} cannot be read ({e}): upload it again.") from None


def damage(name: str, root=None) -> str | None:
    """Why a saved dataset cannot be used, in words (its file was damaged since it was
    saved), or None when it looks sound. Reads the zip's directory and the .npy
    headers only (saved_shapes), so a whole folder of datasets is checked quickly."""
    try:
        saved_shapes(name, root)
    except (UploadError, OSError) as e:
        return str(e)
    return None
