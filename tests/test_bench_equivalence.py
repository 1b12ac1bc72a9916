"""The benchmark compares equal work: the naive baseline (benchmarks/naive.py, the
authors' procedure, one torch.nn model per seed) and the engine compute the same
loss, errors, R+-, D and misclassified sets, epoch by epoch. No timing here."""
import numpy as np

from benchmarks.naive import naive_train
from engine.analysis.results import RunResult
from engine.training.loop import train
from reference import assert_matches_reference



def test_naive_baseline_and_engine_compute_the_same_metrics(digits_config, digits_data):
    config = digits_config.replace(epochs=12, seeds=3, depth=2, optimizer="gd", lr=0.2)
    result = RunResult.empty(config, config.seed_list, digits_data.n_train).collect(train(config, digits_data))
    assert_matches_reference(result, config, digits_data, reference=naive_train, label="naive baseline")
    assert np.nanmin(result.curves["train_error"][:, -1]) < np.nanmax(result.curves["train_error"][:, 0])


def test_benchmark_counts_the_engine_flops_of_the_three_gemms():
    from benchmarks.measure import gemm_flops
    # forward on P training and P_test test points, and the weight gradient X^T dZ
    assert gemm_flops(R=2, H=3, P=5, N=7, P_test=11) == 2 * 7 * 2 * 3 * (5 + 11 + 5)
