"""Golden equivalence: R seeds trained as one batched ensemble give the same
per-epoch metrics and misclassified sets as R independent single-seed runs with a
plain torch.nn model and torch.optim (tests/reference.py)."""
import numpy as np
import pytest

from engine.analysis.results import RunResult
from engine.training.loop import train
from reference import assert_matches_reference


OPTIMISERS = {
    "gd": dict(optimizer="gd", lr=0.2),
    "momentum": dict(optimizer="momentum", lr=0.2, momentum=0.5),
    "weight_decay": dict(optimizer="gd", lr=0.2, weight_decay=0.01),
    "adam": dict(optimizer="adam", lr=0.005),
    "sgd": dict(optimizer="sgd", lr=0.05, batch_size=64),
}


@pytest.mark.parametrize("name", list(OPTIMISERS))
def test_ensemble_equals_single_seed_runs(name, digits_config, digits_data):
    config = digits_config.replace(epochs=20, seeds=3, depth=3, layer=1, **OPTIMISERS[name])
    result = RunResult.empty(config, config.seed_list, digits_data.n_train).collect(train(config, digits_data))
    assert_matches_reference(result, config, digits_data, label=name)


def test_seed_gives_same_run_alone_or_in_an_ensemble(digits_config, digits_data):
    config = digits_config.replace(epochs=10, seeds=4)
    together = RunResult.empty(config, config.seed_list, digits_data.n_train).collect(train(config, digits_data))
    alone = RunResult.empty(config, [2], digits_data.n_train).collect(train(config, digits_data, seeds=[2]))
    np.testing.assert_allclose(together.curves["r_plus"][2], alone.curves["r_plus"][0], rtol=1e-5)
    np.testing.assert_array_equal(together.masks[2], alone.masks[0])
