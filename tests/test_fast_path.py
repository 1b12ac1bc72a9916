"""The two-layer dense net trains on a hand-written backward (engine.training.loop._Dense2);
everything else goes through autograd. Both give the same runs as the single-seed
reference (tests/reference.py) for every full-batch optimiser and activation, with
pruned points and with per-seed training subsets."""
import numpy as np
import pytest

from engine.config import has_manual_backward
from engine.analysis.results import RunResult
from engine.training.loop import train
from reference import CURVES, assert_matches_reference



def _run(config, data, include=None):
    return RunResult.empty(config, config.seed_list, data.n_train).collect(train(config, data, include=include))


def _check(result, config, data):
    assert_matches_reference(result, config, data)


@pytest.mark.parametrize("activation", ["tanh", "relu", "leaky_relu", "linear"])
@pytest.mark.parametrize("opt", [dict(optimizer="gd", lr=0.2), dict(optimizer="momentum", lr=0.2, momentum=0.5),
                                 dict(optimizer="adam", lr=0.005), dict(optimizer="gd", lr=0.2, weight_decay=0.01)],
                         ids=["gd", "momentum", "adam", "weight_decay"])
def test_manual_backward_equals_single_seed_runs(activation, opt, digits_config, digits_data):
    config = digits_config.replace(epochs=10, seeds=2, activation=activation, **opt)
    assert has_manual_backward(config)
    _check(_run(config, digits_data), config, digits_data)


def test_manual_backward_equals_autograd_on_pruned_sets(digits_config, digits_data, monkeypatch):
    """A (P,) and an (R, P) training mask, and the test error every 3 epochs: the
    fast path and the autograd path agree."""
    import engine.training.loop as T
    config = digits_config.replace(epochs=8, seeds=3, test_every=3)
    rng = np.random.default_rng(0)
    for include in (rng.random(digits_data.n_train) > 0.2, rng.random((3, digits_data.n_train)) > 0.3):
        fast = _run(config, digits_data, include)
        monkeypatch.setattr(T, "has_manual_backward", lambda c: False)
        slow = _run(config, digits_data, include)
        monkeypatch.undo()
        for c in CURVES:
            np.testing.assert_allclose(fast.curves[c], slow.curves[c], rtol=2e-4, atol=2e-5, err_msg=c)
        np.testing.assert_array_equal(fast.masks, slow.masks)
    assert np.isnan(fast.curves["test_error"][:, 1]).all() and np.isfinite(fast.curves["test_error"][:, 3]).all()


def test_pixels_that_are_zero_everywhere_are_skipped_exactly(digits_config, digits_data):
    """The fast path drops input columns that are 0 for every training (or test)
    point from its GEMMs; with weight decay those weights still decay."""
    import dataclasses
    x, xt = digits_data.x_train.copy(), digits_data.x_test.copy()
    x[:, 5:30] = 0
    xt[:, 20:45] = 0
    data = dataclasses.replace(digits_data, x_train=x, x_test=xt)
    config = digits_config.replace(epochs=8, seeds=2, weight_decay=0.01)
    _check(_run(config, data), config, data)
