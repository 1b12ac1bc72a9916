"""engine.training.memory: the estimate is linear in the number of seeds, and training in
chunks that fit a tiny budget gives the same run as one chunk."""
import numpy as np

from engine.training.memory import chunk_seeds, estimate_bytes, per_seed_bytes, plan
from engine.analysis.results import RunResult
from engine.run import train_chunked
from engine.training.loop import train


def test_estimate_grows_linearly_with_the_number_of_seeds():
    for L in (2, 3):
        e = [estimate_bytes(P=8192, N=784, H=20, L=L, R=R, n_test=10000) for R in range(1, 6)]
        steps = np.diff(e)
        assert (steps > 0).all() and (steps == steps[0]).all()
        assert steps[0] == per_seed_bytes(8192, 784, 20, L, 10000)
        assert estimate_bytes(8192, 784, 20, L, 100, 10000) == e[0] + 99 * steps[0]


def test_chunks_fit_the_budget():
    per, shared = per_seed_bytes(100, 10, 5, 2, 50), estimate_bytes(100, 10, 5, 2, 0, 50)
    assert chunk_seeds(range(10), 100, 10, 5, 2, 50, budget=shared + 3 * per) == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]
    assert chunk_seeds(range(3), 100, 10, 5, 2, 50, budget=1) == [[0], [1], [2]]
    assert chunk_seeds(range(3), 100, 10, 5, 2, 50, budget=10**12) == [[0, 1, 2]]


def test_chunked_training_gives_the_same_result_as_one_chunk(digits_config, digits_data):
    config = digits_config.replace(epochs=6, seeds=4)
    include = np.random.default_rng(0).random((4, digits_data.n_train)) > 0.25
    assert len(plan(config, digits_data, budget=1)) == 4
    assert len(plan(config, digits_data)) == 1  # the default budget holds 4 seeds of digits
    for inc in (None, include):
        one = RunResult.empty(config, config.seed_list, digits_data.n_train).collect(
            train(config, digits_data, include=inc))
        chunked = RunResult.empty(config, config.seed_list, digits_data.n_train).collect(
            train_chunked(config, digits_data, include=inc, budget=1))
        for c in one.curves:
            np.testing.assert_allclose(chunked.curves[c], one.curves[c], rtol=1e-5, atol=1e-7, err_msg=c)
        np.testing.assert_array_equal(chunked.masks, one.masks)


def test_a_cancel_in_a_later_chunk_is_a_stopped_run_and_one_after_the_last_record_is_not(
        digits_config, digits_data, monkeypatch):
    from engine.run import run
    config = digits_config.replace(epochs=5, seeds=3)
    seen = []

    def stop_in_chunk_2():  # asked after every record; the second chunk is seed 1
        seen.append(1)
        return len(seen) == (config.epochs + 1) + 2
    result, _ = run(config, data=digits_data, should_stop=stop_in_chunk_2, budget=1)  # a seed per chunk
    assert result.stopped and result.epochs_done == config.epochs  # chunk 1 ran to the end
    assert np.isnan(result.curves["loss"][2]).all()               # chunk 3 never started
    seen.clear()

    def stop_after_the_last_record():
        seen.append(1)
        return len(seen) == 3 * (config.epochs + 1)
    result, _ = run(config, data=digits_data, should_stop=stop_after_the_last_record, budget=1)
    assert len(seen) == 3 * (config.epochs + 1)
    assert not result.stopped and np.isfinite(result.curves["loss"]).all()
