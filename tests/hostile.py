"""Helpers to make the places a hostile or unlucky user hands the lab: a folder
nobody may write, a disk that is full. Real file-system states, not mocks.

read_only(path): chmod a-w for an ordinary user; root writes through permission
bits, so as root the path is made immutable (chattr +i) instead. Skips the test
where neither works. small_disk(path, kib): a tmpfs of that size mounted at path
(root only; skips otherwise)."""
from __future__ import annotations

import os
import shutil
import stat
import subprocess
from contextlib import contextmanager
from pathlib import Path

import pytest


@contextmanager
def read_only(*paths):
    paths = [Path(p) for p in paths]
    root = os.geteuid() == 0
    done = []
    try:
        for p in paths:
            if root:
                if not shutil.which("chattr") or subprocess.run(["chattr", "+i", str(p)],
                                                                 capture_output=True).returncode:
                    pytest.skip("running as root without chattr +i: cannot make a read-only place")
            else:
                p.chmod(p.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
            done.append(p)
        yield
    finally:
        for p in reversed(done):
            if root:
                subprocess.run(["chattr", "-i", str(p)], check=True)
            else:
                p.chmod(p.stat().st_mode | stat.S_IWUSR)


@contextmanager
def small_disk(path, kib: int):
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={kib}k", "tmpfs", str(path)],
                                           capture_output=True).returncode:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=True)


@contextmanager
def read_only_disk(path, kib: int = 4096):
    """A small tmpfs at path, writable until disk.lock() remounts it read-only:
    with read_only_disk(p) as disk: <write what it holds>; disk.lock(); ...  (root only)."""
    with small_disk(path, kib) as folder:
        class Disk:
            path = folder

            @staticmethod
            def lock():
                subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)
        yield Disk


def fill(folder) -> None:
    """Write into `folder` until its disk is full."""
    f = open(Path(folder) / "filler", "wb", buffering=0)
    try:
        while True:
            f.write(bytes(4096))
    except OSError:  # ENOSPC
        pass
    finally:
        f.close()
