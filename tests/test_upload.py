"""engine/data/upload.py: every bad file gets its own message; a good one is saved atomically
and read back by the engine (engine.data.sources.load_raw("user:<name>"))."""
import io
import zipfile

import numpy as np
import pytest

from engine.data.upload import (UploadError, check_name, list_user_datasets, load_user_dataset,
                                save_user_dataset, user_dataset_path, validate_npz)


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
    from engine.data.sources import load_raw
    arrays = validate_npz(npz(**good_arrays()))
    save_user_dataset("eng", arrays)  # default root: engine.data.sources.data_dir()/user
    assert (tmp_path / "user" / "eng.npz").exists()
    raw = load_raw("user:eng")
    np.testing.assert_array_equal(raw.x_train, arrays["x_train"])
    np.testing.assert_array_equal(raw.y_test, arrays["y_test"])


# --- hostile archives (issue 14, case 2): refused from the zip's directory and the .npy
# headers, before any array is read; every failure is an UploadError ------------------------
def _patch_member(data: bytes, member: str, offsets: dict) -> bytes:
    """Overwrite fields of `member`'s local header and central-directory entry:
    offsets maps (local offset, central offset, struct format) -> value."""
    import struct
    raw = bytearray(data)
    info = zipfile.ZipFile(io.BytesIO(data)).getinfo(member)
    central = data.index(b"PK\x01\x02")  # the first central-directory entry, then the next ones
    while data[central + 46:central + 46 + len(member)] != member.encode():
        central = data.index(b"PK\x01\x02", central + 4)
    for (local_at, central_at, fmt), value in offsets.items():
        if local_at is not None:
            struct.pack_into(fmt, raw, info.header_offset + local_at, value)
        struct.pack_into(fmt, raw, central + central_at, value)
    return bytes(raw)


def test_an_encrypted_member_is_refused():
    data = npz(**good_arrays())
    flag = zipfile.ZipFile(io.BytesIO(data)).getinfo("x_train.npy").flag_bits
    msg = message(_patch_member(data, "x_train.npy", {(6, 8, "<H"): flag | 0x1}))
    assert msg.startswith("x_train.npy is encrypted") and "np.savez" in msg


def test_an_unknown_compression_method_is_refused():
    data = npz(**good_arrays())
    msg = message(_patch_member(data, "y_test.npy", {(8, 10, "<H"): 99}))
    assert "y_test.npy is compressed with method 99" in msg and "np.savez_compressed" in msg


def test_declared_sizes_beyond_the_cap_are_refused_before_reading():
    from engine.data.upload import MAX_UNPACKED_MB
    data = npz(**good_arrays())  # stored members: claim 3 GB for one of them
    forged = _patch_member(data, "x_train.npy", {(22, 24, "<I"): 3 * 2**30})
    msg = message(forged)
    assert "unpacks to 3072 MB" in msg and f"the limit is {MAX_UNPACKED_MB} MB" in msg


def test_a_zip_bomb_is_refused_without_decompressing_it():
    import tracemalloc
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        a = good_arrays()
        for k in ("y_train", "x_test", "y_test"):
            with z.open(f"{k}.npy", "w") as f:
                np.lib.format.write_array(f, a[k])
        with z.open("x_train.npy", "w", force_zip64=True) as f:  # 64 MB of zeros, ~60 KB compressed
            np.lib.format.write_array_header_1_0(f, {"descr": "|u1", "fortran_order": False,
                                                     "shape": (2**20, 8, 8)})
            for _ in range(64):
                f.write(bytes(2**20))
    bomb = buf.getvalue()
    assert len(bomb) < 2**20
    tracemalloc.start()
    try:
        msg = message(bomb, max_unpacked=32 * 2**20)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "unpacks to 64 MB" in msg and "the limit is 32 MB" in msg
    assert peak < 4 * 2**20, peak  # nothing near the 64 MB was allocated


def _npz_with_header(key: str, header: dict, payload: bytes) -> bytes:
    a = good_arrays()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for k in KEYS_ORDER:
            with z.open(f"{k}.npy", "w") as f:
                if k == key:
                    np.lib.format.write_array_header_1_0(f, header)
                    f.write(payload)
                else:
                    np.lib.format.write_array(f, a[k])
    return buf.getvalue()


KEYS_ORDER = ("x_train", "y_train", "x_test", "y_test")


def test_an_npy_header_that_claims_more_than_the_member_holds_is_refused():
    msg = message(_npz_with_header("x_train", {"descr": "|u1", "fortran_order": False, "shape": (10**18,)},
                                   bytes(64)))
    assert msg.startswith("x_train declares shape (1000000000000000000) of uint8") and "64 bytes" in msg
    msg = message(_npz_with_header("y_train", {"descr": "<i8", "fortran_order": False, "shape": (40,)}, bytes(8)))
    assert "y_train declares" in msg and "320 bytes" in msg


def test_a_damaged_npy_header_is_an_upload_error():
    a = good_arrays()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for k in KEYS_ORDER:
            z.writestr(f"{k}.npy", b"\x93NUMPY\x01\x00\x10\x00{'descr': <bad" if k == "x_test" else
                       _npy(a[k]))
    assert message(buf.getvalue()).startswith("x_test cannot be read")


def _npy(a) -> bytes:
    b = io.BytesIO()
    np.save(b, a)
    return b.getvalue()


def test_the_page_validates_an_upload_once(monkeypatch):
    from dashboard import upload as page_upload
    from engine.data import upload as engine_upload
    calls = []
    real = engine_upload.validate_npz
    monkeypatch.setattr(page_upload, "validate_npz", lambda data, **kw: calls.append(1) or real(data, **kw))
    data = npz(**good_arrays())
    first = page_upload.check(data, key="file-1")
    again = page_upload.check(data, key="file-1")  # the page's next rerun, same uploaded file
    assert first.ok and again is first and len(calls) == 1
    page_upload.check(data, key="file-2")
    assert len(calls) == 2


def test_data_import_from_the_command_line(tmp_path, monkeypatch, capsys):
    from engine.cli import main
    monkeypatch.setenv("STRAGGLERS_DATA", str(tmp_path / "data"))
    good = tmp_path / "good.npz"
    good.write_bytes(npz(**good_arrays()))
    assert main(["data", "import", "mine", str(good)]) == 0
    assert "user:mine" in capsys.readouterr().out
    assert load_user_dataset("mine")["x_train"].shape == (40, 8, 8)
    # the same checks and messages as the page, one line, exit 2
    bad = tmp_path / "bad.npz"
    bad.write_bytes(npz(**{**good_arrays(), "y_test": np.arange(10.0)}))
    assert main(["data", "import", "other", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.strip() == f"error: {bad}: y_test has dtype float64: labels must be integers 0..9."
    assert main(["data", "import", "mine", str(good)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["data", "import", "mine", str(good), "--replace"]) == 0
    assert main(["data", "import", "x", str(tmp_path / "missing.npz")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["data", "import", "../evil", str(good)]) == 2
    assert "not a valid dataset name" in capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "data" / "user").iterdir()) == ["mine.npz"]


# --- images that never vary (issue 22, case 6): standardised they are all 0, and every run
# on them crashed ("cannot reshape tensor of 0 elements"); refused at import and before a run ---
@pytest.mark.parametrize("split", ["x_train", "x_test"])
@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_a_split_whose_images_never_vary_is_refused_at_import(split, dtype):
    a = good_arrays(dtype=dtype)
    a[split] = np.full_like(a[split], 7)
    text = message(npz(**a))
    assert split in text and "identical" in text and len(text.splitlines()) == 1, text
    a[split][3, 2, 2] += 1  # one pixel of one image differs: accepted
    validate_npz(npz(**a))


def test_a_constant_upload_is_refused_by_data_import(tmp_path, monkeypatch, capsys):
    from engine.cli import main
    monkeypatch.setenv("STRAGGLERS_DATA", str(tmp_path / "data"))
    flat = tmp_path / "flat.npz"
    flat.write_bytes(npz(**{**good_arrays(), "x_train": np.zeros((40, 8, 8), np.uint8)}))
    assert main(["data", "import", "flat", str(flat)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {flat}: ") and "x_train" in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "data" / "user" / "flat.npz").exists()


@pytest.fixture
def block_of_copies(tmp_path, monkeypatch):
    """An upload whose whole split varies but whose first 20 training images are one image."""
    monkeypatch.setenv("STRAGGLERS_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("STRAGGLERS_RUNS", str(tmp_path / "runs"))
    a = good_arrays()
    a["x_train"][:20] = a["x_train"][0]
    save_user_dataset("copies", validate_npz(npz(**a)))
    return tmp_path


def test_a_training_block_of_identical_images_stops_run_and_submit_before_any_work(block_of_copies, capsys,
                                                                                    monkeypatch):
    from engine.cli import main
    out = block_of_copies / "o"
    monkeypatch.setattr("engine.run.train", _no_training)
    args = ["--dataset", "user:copies", "--n-train", "20", "--epochs", "2", "--seeds", "2"]
    assert main(["run", *args, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "--n-train=20 is not valid" in err and "identical" in err and "--block" in err, err
    assert len(err.splitlines()) == 1 and not out.exists()
    assert main(["jobs", "submit", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert "identical" in err and len(err.splitlines()) == 1, err
    assert not (block_of_copies / "runs").exists()  # nothing queued
    with pytest.raises(TrainingStarted):  # the next block varies: it passes every check and trains
        main(["run", *args, "--block", "1", "--out", str(out)])


def test_prepare_refuses_a_constant_block_of_an_upload_saved_before_the_check(block_of_copies):
    from engine.config import ConfigError, RunConfig
    from engine.data.dataset import prepare
    with pytest.raises(ConfigError, match="identical"):
        prepare(RunConfig(dataset="user:copies", n_train=20))
    assert prepare(RunConfig(dataset="user:copies", n_train=20, block=1)).x_train.any()


class TrainingStarted(Exception):
    pass


def _no_training(*args, **kwargs):
    raise TrainingStarted()
