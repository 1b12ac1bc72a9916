"""The standardised inputs cached on disk (engine.data.input_cache): the same bits as
computing them, read back instead of recomputed, recomputed when an entry is
damaged, keyed apart when the raw files or the slice differ, harmless without a
writable runs folder, and kept under its size cap."""
import os

import numpy as np
import pytest

import engine.data.dataset as D
import engine.data.input_cache as C
from engine.config import RunConfig
from engine.data.sources import DatasetUnavailable, load_raw


@pytest.fixture(scope="module")
def mnist():
    try:
        return load_raw("mnist")
    except DatasetUnavailable as e:
        pytest.fail(f"MNIST is needed for this test and could not be loaded: {e}")


@pytest.fixture()
def runs(tmp_path, monkeypatch):
    monkeypatch.setenv("STRAGGLERS_RUNS", str(tmp_path / "runs"))
    return tmp_path / "runs"


def _uncached(raw, config):
    start, stop = config.block * config.n_train, (config.block + 1) * config.n_train
    xtr, xte = D._flatten(raw.x_train[start:stop]), D._flatten(raw.x_test)
    mean, std = D._pixel_stats(xtr)
    test_stats = D._pixel_stats(xte) if config.test_standardisation == "own" else (mean, std)
    return D._standardise(xtr, mean, std), D._standardise(xte, *test_stats)


@pytest.mark.parametrize("standardisation", ["own", "train"])
def test_cached_inputs_are_the_computed_ones_and_are_read_back(mnist, runs, monkeypatch, standardisation):
    config = RunConfig(n_train=512, block=3, test_standardisation=standardisation)
    x_train, x_test = _uncached(mnist, config)
    first = D.prepare(config, raw=mnist)
    assert len(list((runs / "cache" / "inputs").glob("*.npy"))) == 2
    monkeypatch.setattr(D, "_standardise", lambda *a: pytest.fail("recomputed instead of read"))
    again = D.prepare(config, raw=mnist)
    for d in (first, again):
        assert np.array_equal(d.x_train, x_train) and np.array_equal(d.x_test, x_test)
        assert d.x_train.dtype == np.float32 and d.x_train.flags.c_contiguous and d.x_train.flags.writeable


def test_keys_differ_with_the_raw_files_and_the_slice(mnist, runs):
    D.prepare(RunConfig(n_train=256), raw=mnist)
    D.prepare(RunConfig(n_train=256, block=1), raw=mnist)  # its own training entry, the same test entry
    assert len(list((runs / "cache" / "inputs").glob("*.npy"))) == 3
    key = C.entry_key(mnist.md5, part="train", start=0, stop=256)
    other = dict(mnist.md5, **{"train-images-idx3-ubyte": "0" * 32})
    assert key != C.entry_key(other, part="train", start=0, stop=256)
    assert C.entry_key({}, part="train", start=0, stop=256) is None  # no md5 (digits): not cached


def test_a_damaged_entry_is_recomputed(mnist, runs):
    config = RunConfig(n_train=256)
    D.prepare(config, raw=mnist)
    for path in (runs / "cache" / "inputs").glob("*.npy"):
        path.write_bytes(path.read_bytes()[:1000])  # cut short, as by a full disk
    d = D.prepare(config, raw=mnist)
    x_train, x_test = _uncached(mnist, config)
    assert np.array_equal(d.x_train, x_train) and np.array_equal(d.x_test, x_test)
    assert all(p.stat().st_size > 1000 for p in (runs / "cache" / "inputs").glob("*.npy"))  # rewritten whole


def test_no_writable_runs_folder_means_no_cache_and_the_same_arrays(mnist, tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("STRAGGLERS_RUNS", str(blocker / "runs"))
    d = D.prepare(RunConfig(n_train=256), raw=mnist)
    assert np.array_equal(d.x_train, _uncached(mnist, RunConfig(n_train=256))[0])


def test_least_recently_used_entries_go_past_the_cap(runs, monkeypatch):
    entry = 2000 * 4 + 128  # bytes of one .npy of 2000 float32
    monkeypatch.setattr(C, "MAX_BYTES", 3 * entry + 100)
    for i in range(3):
        C.cached(f"e{i}.npy", lambda: np.zeros(2000, np.float32))
        os.utime(C.cache_dir() / f"e{i}.npy", (1000 + i, 1000 + i))  # e0 oldest
    assert C.cached("e0.npy", lambda: pytest.fail("e0 is there")).shape == (2000,)  # read: now the most recent
    C.cached("e3.npy", lambda: np.ones(2000, np.float32))  # a fourth entry: past the cap
    assert sorted(p.name for p in C.cache_dir().glob("*.npy")) == ["e0.npy", "e2.npy", "e3.npy"]
