"""engine/upload.py: every bad file gets its own message; a good one is saved atomically
and read back by the engine (engine.sources.load_raw("user:<name>"))."""
import io
import zipfile

import numpy as np
import pytest

from engine.upload import (UploadError, check_name, list_user_datasets, load_user_dataset, save_user_dataset,
                           user_dataset_path, validate_npz)


def npz(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def good_arrays(n=40, m=10, shape=(8, 8), dtype=np.uint8):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (n, *shape)) if dtype == np.uint8 else rng.normal(size=(n, *shape))
    xt = rng.integers(0, 256, (m, *shape)) if dtype == np.uint8 else rng.normal(size=(m, *shape))
    return {"x_train": x.astype(dtype), "y_train": np.arange(n) % 10, "x_test": xt.astype(dtype),
            "y_test": np.arange(m) % 10}


def message(data: bytes, **kw) -> str:
    with pytest.raises(UploadError) as e:
        validate_npz(data, **kw)
    return str(e.value)


def test_a_good_file_comes_back_normalised():
    a = good_arrays()
    out = validate_npz(npz(**a))
    np.testing.assert_array_equal(out["x_train"], a["x_train"])
    assert out["x_train"].dtype == np.uint8 and out["y_train"].dtype == np.int64
    # floats become float32, a single channel is squeezed
    f = good_arrays(shape=(6, 5, 1), dtype=np.float64)
    out = validate_npz(npz(**f))
    assert out["x_train"].shape == (40, 6, 5) and out["x_train"].dtype == np.float32
    rgb = good_arrays(shape=(4, 4, 3))
    assert validate_npz(npz(**rgb))["x_test"].shape == (10, 4, 4, 3)


def test_corrupt_zip():
    data = npz(**good_arrays())
    assert "corrupt" in message(data[: len(data) // 2])  # cut short: no central directory
    # central directory intact, a member's bytes damaged: caught when the array is read
    raw = bytearray(data)
    info = zipfile.ZipFile(io.BytesIO(data)).getinfo("x_train.npy")
    start = info.header_offset + 30 + len(info.filename) + 200
    raw[start:start + 50] = bytes(50)
    assert "corrupt" in message(bytes(raw)) and "x_train" in message(bytes(raw))


def test_not_an_npz_at_all():
    assert "not an .npz" in message(b"x_train,y_train\n1,2\n")
    buf = io.BytesIO()
    np.save(buf, np.zeros(3))
    assert "single .npy array" in message(buf.getvalue())
    assert message(b"") == "The file is empty."


def test_missing_keys_are_named():
    a = good_arrays()
    msg = message(npz(x_train=a["x_train"], y_train=a["y_train"], x_tst=a["x_test"]))
    assert msg.startswith("Missing x_test, y_test") and "x_tst" in msg


def test_pickled_object_array_is_refused_not_unpickled():
    a = good_arrays()
    a["y_train"] = np.array([{"evil": 1}] * 40, dtype=object)  # np.savez pickles object arrays
    msg = message(npz(**a))
    assert "y_train is an object array" in msg and "pickled" in msg


def test_nan_and_infinite_pixels():
    a = good_arrays(dtype=np.float32)
    a["x_test"][0, 0, :3] = [np.nan, np.inf, -np.inf]
    assert message(npz(**a)) == ("x_test contains 3 NaN or infinite values: every pixel must be a finite number.")


def test_labels_out_of_range_are_listed():
    a = good_arrays()
    a["y_train"][:3] = [-1, 10, 12]
    assert message(npz(**a)) == "y_train has labels out of range (-1, 10, 12): labels must be integers 0..9."


def test_wrong_dtypes():
    a = good_arrays()
    assert "y_test has dtype float64: labels must be integers" in message(npz(**{**a, "y_test": a["y_test"] * 1.0}))
    assert "x_train has dtype int64: images must be uint8" in message(
        npz(**{**a, "x_train": a["x_train"].astype(np.int64)}))
    assert "has dtype bool" in message(npz(**{**a, "y_test": a["y_test"] > 3}))


def test_wrong_shapes():
    a = good_arrays()
    assert "x_train has shape (40, 64): images must be (N, H, W)" in message(
        npz(**{**a, "x_train": a["x_train"].reshape(40, 64)}))
    assert message(npz(**{**a, "y_train": a["y_train"][:39]})) == \
        "x_train has 40 images but y_train has 39 labels: they must match."
    assert "Training images are (8, 8) but test images are (8, 7)" in message(
        npz(**{**a, "x_test": a["x_test"][:, :, :7]}))
    assert "y_test has shape (10, 1): labels must be one-dimensional" in message(
        npz(**{**a, "y_test": a["y_test"][:, None]}))
    assert "x_test is empty" in message(npz(**{**a, "x_test": a["x_test"][:0], "y_test": a["y_test"][:0]}))
    assert "fewer than 2" in message(npz(**{**a, "x_train": a["x_train"][:1], "y_train": a["y_train"][:1]}))


def test_size_limit():
    data = npz(**good_arrays())
    assert "the limit is" in message(data, max_bytes=len(data) - 1)
    validate_npz(data, max_bytes=len(data))


def test_save_is_atomic_and_refuses_to_overwrite(tmp_path):
    arrays = validate_npz(npz(**good_arrays()))
    path = save_user_dataset("mine", arrays, root=tmp_path)
    assert path == tmp_path / "mine.npz" and sorted(p.name for p in tmp_path.iterdir()) == ["mine.npz"]
    back = load_user_dataset("mine", root=tmp_path)
    np.testing.assert_array_equal(back["x_train"], arrays["x_train"])
    with pytest.raises(UploadError, match="already exists"):
        save_user_dataset("mine", arrays, root=tmp_path)
    save_user_dataset("mine", {**arrays, "y_test": arrays["y_test"][::-1].copy()}, root=tmp_path, overwrite=True)
    assert load_user_dataset("mine", root=tmp_path)["y_test"][0] == arrays["y_test"][-1]
    assert list_user_datasets(tmp_path) == ["mine"]  # no temporary file left behind


def test_a_failed_write_leaves_nothing(tmp_path):
    arrays = validate_npz(npz(**good_arrays()))
    with pytest.raises(KeyError):
        save_user_dataset("half", {k: v for k, v in arrays.items() if k != "y_test"}, root=tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("bad", ["", "../etc", "a/b", "-lead", "x" * 49, "name.npz", "spa ce"])
def test_unsafe_names_are_refused(bad, tmp_path):
    with pytest.raises(UploadError, match="not a valid dataset name"):
        check_name(bad)
    with pytest.raises(UploadError):
        user_dataset_path(bad, tmp_path)


def test_the_engine_loads_a_saved_upload(tmp_path, monkeypatch):
    monkeypatch.setenv("STRAGGLERS_DATA", str(tmp_path))
    from engine.sources import load_raw
    arrays = validate_npz(npz(**good_arrays()))
    save_user_dataset("eng", arrays)  # default root: engine.sources.data_dir()/user
    assert (tmp_path / "user" / "eng.npz").exists()
    raw = load_raw("user:eng")
    np.testing.assert_array_equal(raw.x_train, arrays["x_train"])
    np.testing.assert_array_equal(raw.y_test, arrays["y_test"])
