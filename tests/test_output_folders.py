"""Output folders are all or nothing (issue 14, case 4): an export or a run writes
its folder whole into a hidden sibling and swaps it into place, so a kill at any
moment leaves the old folder or the complete new one, and a failed write (a full
disk) leaves the old one and no debris."""
import builtins
import hashlib
import os
import shutil
import tempfile
from pathlib import Path

import helpers
import numpy as np
import pytest

from engine import files
from hostile import fill, small_disk

RUN_FILES = {"summary.json", "metrics.csv", "stragglers.csv", "stragglers.npy", "manifest.json", "scores.csv",
             "scores.parquet", "scores.json"}


@pytest.fixture(scope="module")
def two_jobs(tmp_path_factory):
    with helpers.env_restored():
        store, a = helpers.seed_store(tmp_path_factory.mktemp("store"), n_train=64, seeds=2, epochs=12)
        b = helpers.run_job(store, "run", dict(helpers.SMALL, n_train=96, seeds=3, epochs=15))
    return store, a, b


def export(store, job, out, capsys=None):
    from engine.cli import main
    os.environ["STRAGGLERS_RUNS"] = str(store.path.parent)
    return main(["jobs", "export", str(job), "--out", str(out)])


def state(out: Path):
    """What a reader (or the user after a kill -9) finds at `out` now."""
    if not out.exists():
        return None
    return {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in sorted(out.iterdir())}


def test_a_kill_at_any_point_of_an_export_leaves_the_old_folder_or_the_whole_new_one(two_jobs, tmp_path,
                                                                                      monkeypatch):
    """A kill -9 runs no cleanup: the folder it leaves is the folder as it was at that
    instant. So the state of --out is recorded before and after every file-system step
    of the export; each one must be job A's complete folder or job B's."""
    store, a, b = two_jobs
    out = tmp_path / "out"
    assert export(store, a, out) == 0
    old = state(out)
    seen = []

    def watch(fn):
        def step(*args, **kwargs):
            seen.append(state(out))
            try:
                return fn(*args, **kwargs)
            finally:
                seen.append(state(out))
        return step
    for owner, name in ((builtins, "open"), (os, "rename"), (os, "chmod"), (shutil, "rmtree"),
                        (tempfile, "mkdtemp"), (np, "save"), (files, "_exchange")):
        monkeypatch.setattr(owner, name, watch(getattr(owner, name)))
    assert export(store, b, out) == 0
    monkeypatch.undo()
    new = state(out)
    assert set(new) == RUN_FILES and new != old
    assert len(seen) > 20 and {str(s) for s in seen} <= {str(old), str(new)}, \
        [s for s in seen if s not in (old, new)][:1]
    assert seen[0] == old and seen[-1] == new
    # job A's manifest never sits beside job B's summary, and nothing hidden is left behind
    import json
    assert json.loads((out / "manifest.json").read_text())["config"]["n_train"] == 96
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_a_write_that_fails_on_a_full_disk_leaves_the_old_folder_and_no_debris(two_jobs, tmp_path, capsys):
    store, a, b = two_jobs
    with small_disk(tmp_path / "disk", 1024) as disk:
        out = disk / "out"
        assert export(store, a, out) == 0
        old = state(out)
        fill(disk)
        rc = export(store, b, out)
        err = capsys.readouterr().err
        assert rc == 2 and "free" in err and "Traceback" not in err, err  # refused up front: no room
        # room for the check, not for the files: the write itself fails half way
        (disk / "filler").unlink()
        with open(disk / "filler", "wb") as f:
            f.write(bytes(shutil.disk_usage(disk).free - 96 * 1024))
        with pytest.raises(OSError):
            with files.output_folder(out) as tmp:
                (tmp / "summary.json").write_text("{}")
                (tmp / "metrics.csv").write_bytes(bytes(1 << 20))
        assert state(out) == old
        assert sorted(p.name for p in disk.iterdir()) == ["filler", "out"]


def test_a_folder_of_other_files_is_never_replaced(tmp_path):
    from engine.config import ConfigError
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    with pytest.raises(ConfigError, match="other files"):
        with files.output_folder(mine) as tmp:
            (tmp / "result.json").write_text("{}")
    assert state(mine) == {"notes.txt": hashlib.md5(b"keep").hexdigest()}
    with files.output_folder(tmp_path / "new") as tmp:  # a new folder, and an empty one, are fine
        (tmp / "result.json").write_text("{}")
    (tmp_path / "empty").mkdir()
    with files.output_folder(tmp_path / "empty") as tmp:
        (tmp / "result.json").write_text("{}")
    assert state(tmp_path / "empty") == state(tmp_path / "new")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "mine", "new"]


def test_debris_of_a_killed_writer_is_cleared_by_the_next_one(tmp_path):
    import subprocess
    import sys
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    debris = tmp_path / f".out.{dead.pid}.abc.tmp"
    debris.mkdir()
    (debris / "summary.json").write_text("half")
    mine = tmp_path / f".out.{os.getpid()}.xyz.tmp"  # this process's own (a writer in progress) stays
    mine.mkdir()
    with files.output_folder(tmp_path / "out") as tmp:
        (tmp / "result.json").write_text("{}")
    assert sorted(p.name for p in tmp_path.iterdir()) == [mine.name, "out"]
