"""Writing results so that readers can trust them: strict-JSON values, and files
and output folders that appear whole (written beside the target, then renamed) or
not at all."""
from __future__ import annotations

import csv
import ctypes
import errno
import glob
import io
import math
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np

from engine.config import ConfigError


def jsonable(obj):
    """numpy scalars/arrays -> Python; NaN and infinities -> None (strict JSON)."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, (np.bool_, bool)):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        return float(obj) if math.isfinite(obj) else None
    return obj


def atomic_write(path: Path, content: str | bytes) -> Path:
    """Write next to the target and rename: a reader or a crash never sees half a file."""
    path = Path(path)
    mode = "wb" if isinstance(content, bytes) else "w"
    # hidden name, so a glob of the folder never lists the half-written file
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode) as f:
            f.write(content)
        os.chmod(tmp, 0o644)  # mkstemp makes it 0600; results and data are meant to be readable
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _write_rows(f, rows, fields: list[str] | None) -> None:
    """CSV of row dicts into an open text file (columns in first-seen order unless
    `fields`); NaN, infinities and None are empty cells, numpy values plain numbers."""
    rows = iter(rows)
    if fields is None:  # needs every row to know the columns
        rows = list(rows)
        fields = list(dict.fromkeys(k for row in rows for k in row))
    w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for row in rows:
        w.writerow({k: "" if v is None else v for k, v in jsonable(dict(row)).items()})


def csv_text(rows, fields: list[str] | None = None) -> str:
    buf = io.StringIO()
    _write_rows(buf, rows, fields)
    return buf.getvalue()


def write_csv(path: Path, rows, fields: list[str] | None = None) -> Path:
    """The same CSV streamed into a file (a run's metrics: R x (T+1) rows, never all in memory)."""
    with open(path, "w", newline="") as f:
        _write_rows(f, rows, fields)
    return Path(path)
# --- output folders: all or nothing -------------------------------------------------------
# A run's or an export's folder is written whole into a hidden sibling, then swapped
# into place in one rename: a reader, a crash or a kill -9 at any moment sees the old
# folder or the complete new one, never job A's manifest beside job B's summary.
# Only a folder the lab wrote (it holds a manifest.json or a result.json, and no
# subfolder) or an empty one is ever replaced: --out ~ must not empty a home folder.
OURS = ("manifest.json", "result.json")


def check_output_folder(out, need_bytes: int = 0) -> Path:
    """ConfigError (option "out") unless `out` can take an output folder now: not a
    file, not a folder of other files, its parent writable, `need_bytes` free."""
    out = Path(os.path.abspath(out))
    cwd = Path.cwd()
    if out == cwd or out in cwd.parents:  # it would be replaced under this process's feet
        raise ConfigError("out", str(out), "the current folder or one above it: give a new subfolder")
    if out.exists() and not out.is_dir():
        raise ConfigError("out", str(out), "it is a file: give a folder (it is created if missing)")
    if out.is_dir() and not replaceable(out):
        shown = ", ".join(sorted(p.name for p in out.iterdir())[:3])
        raise ConfigError("out", str(out), f"a folder with other files in it ({shown}, ...): give a new or empty "
                                           "folder, or one a run or an export wrote (it is replaced whole)")
    parent = out.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise ConfigError("out", str(out), f"{parent} is a file, not a folder")
    try:  # the truest test of "writable": os.access says yes to root on a read-only mount
        Path(tempfile.mkdtemp(dir=parent, prefix=".stragglers-check-")).rmdir()
    except OSError as e:
        raise ConfigError("out", str(out), f"{parent} cannot be written ({e.strerror}): choose another folder") \
            from None
    free = shutil.disk_usage(parent).free
    if need_bytes > free:
        raise ConfigError("out", str(out), f"the outputs need about {need_bytes / 2**20:.1f} MiB and {parent} has "
                                           f"{free / 2**20:.1f} MiB free: free some space or choose another folder")
    return out


def replaceable(out: Path) -> bool:
    entries = list(Path(out).iterdir())
    return not entries or (any(p.name in OURS for p in entries) and not any(p.is_dir() for p in entries))


@contextmanager
def output_folder(out) -> Iterator[Path]:
    """Yield an empty hidden sibling of `out` to write into; when the block ends
    without error, it becomes `out` in one rename (the old folder, if any, is then
    deleted). On an error or a kill, `out` is untouched."""
    out = check_output_folder(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_siblings(out)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.{os.getpid()}.", suffix=".tmp"))
    try:
        yield tmp
        os.chmod(tmp, 0o755)  # mkdtemp makes it 0700; results are meant to be readable
        _swap_into_place(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # the new folder on error, the old one after a swap


def _swap_into_place(new: Path, out: Path) -> None:
    """`new` becomes `out`; the old `out` ends up at `new`'s name (to be deleted)."""
    try:
        os.rename(new, out)  # atomic when `out` is missing (or an empty folder)
        return
    except OSError as e:
        if e.errno not in (errno.ENOTEMPTY, errno.EEXIST):
            raise
    if _exchange(new, out):
        return
    # no atomic exchange here (not Linux, or a file system without it): two renames;
    # a kill between them leaves the old folder at a hidden name beside `out`
    old = out.with_name(f".{out.name}.{os.getpid()}.old.tmp")
    os.rename(out, old)
    os.rename(new, out)
    os.rename(old, new)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step (Linux renameat2 RENAME_EXCHANGE); False if unsupported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    AT_FDCWD, RENAME_EXCHANGE = -100, 2
    if renameat2(AT_FDCWD, os.fsencode(a), AT_FDCWD, os.fsencode(b), RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def _remove_stale_siblings(out: Path) -> None:
    """Hidden siblings left by a killed writer (its pid is in the name and gone)."""
    if not Path("/proc/self").exists():  # no cheap way to tell a dead pid: leave them
        return
    for p in out.parent.glob(f".{glob.escape(out.name)}.*.tmp"):
        pid = p.name[len(out.name) + 2:].split(".", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not Path(f"/proc/{pid}").exists() and p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
