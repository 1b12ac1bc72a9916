"""The benchmark compares equal work: the naive baseline (benchmarks/naive.py, the
authors' procedure, one torch.nn model per seed) and the engine compute the same
loss, errors, R+-, D and misclassified sets, epoch by epoch. No timing here."""
import numpy as np

from benchmarks.naive import naive_train
from engine.results import RunResult
from engine.train import train

CURVES = ["loss", "train_error", "test_error", "r_plus", "r_minus", "distance"]


def test_naive_baseline_and_engine_compute_the_same_metrics(digits_config, digits_data):
    config = digits_config.replace(epochs=12, seeds=3, depth=2, optimizer="gd", lr=0.2)
    result = RunResult.empty(config, config.seed_list, digits_data.n_train).collect(train(config, digits_data))
    for r, seed in enumerate(config.seed_list):
        rows, masks = naive_train(config, digits_data, seed)
        ours = np.stack([result.curves[c][r] for c in CURVES], axis=1)
        np.testing.assert_allclose(ours, rows, rtol=2e-4, atol=2e-5, err_msg=f"seed {seed}")
        ours_masks = np.stack([result.misclassified(t)[r] for t in range(config.epochs + 1)])
        np.testing.assert_array_equal(ours_masks, masks, err_msg=f"seed {seed}")
    assert np.nanmin(result.curves["train_error"][:, -1]) < np.nanmax(result.curves["train_error"][:, 0])


def test_benchmark_counts_the_engine_flops_of_the_three_gemms():
    from benchmarks.measure import gemm_flops
    # forward on P training and P_test test points, and the weight gradient X^T dZ
    assert gemm_flops(R=2, H=3, P=5, N=7, P_test=11) == 2 * 7 * 2 * 3 * (5 + 11 + 5)
