"""SI Fig. 4: the cached t-SNE map and the stragglers' distance from class centres."""
import time

import numpy as np
import pytest

from engine.experiments import JOB_KINDS
from engine.experiments.context import LocalContext
from engine.experiments.embedding import cached_tsne, class_centre_distance, farther_test


@pytest.fixture
def runs_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("STRAGGLERS_RUNS", str(tmp_path))
    return tmp_path


def test_second_call_reads_the_cache(runs_dir):
    x = np.random.default_rng(0).normal(size=(300, 64)).astype(np.float32)
    kw = dict(n_iter=60, early_iter=40)
    first, info1 = cached_tsne(x, {"dataset": "t", "block": 0, "n_train": 300}, **kw)
    start = time.perf_counter()
    second, info2 = cached_tsne(x, {"dataset": "t", "block": 0, "n_train": 300}, **kw)
    assert time.perf_counter() - start < 0.2 and info2["cached"] and not info1["cached"]
    np.testing.assert_array_equal(first, second)
    assert first.shape == (300, 2)
    assert list((runs_dir / "cache").glob("tsne-*.npy"))
    _, info3 = cached_tsne(x, {"dataset": "t", "block": 1, "n_train": 300}, **kw)
    assert not info3["cached"]  # another block is another map


def test_distance_and_test_on_a_known_layout():
    rng = np.random.default_rng(0)
    classes = np.repeat(np.arange(3), 100)
    emb = rng.normal(size=(300, 2)) + classes[:, None] * 10.0
    far = np.zeros(300, bool)
    far[::10] = True
    emb[far] += 3.0  # move some points away from their class centre
    d = class_centre_distance(emb, classes)
    np.testing.assert_allclose(d[:100], np.linalg.norm(emb[:100] - emb[:100].mean(0), axis=1))
    assert farther_test(d, far)["p"] < 1e-6
    assert farther_test(d, ~far)["p"] > 0.5


def test_stragglers_are_farther_from_their_class_centre(runs_dir):
    r = JOB_KINDS["embed"](dict(dataset="digits", n_train=1024, epochs=120, seeds=5, device="cpu",
                                n_iter=100, early_iter=50, hidden_epoch=20), LocalContext())
    assert r["n_stragglers"] > 10
    assert r["hidden"]["p"] < 1e-3 and r["hidden"]["median_stragglers"] > r["hidden"]["median_rest"]
    assert r["inputs"]["effect"] > 0.5
