"""The precision option: bf16 GEMMs on every training path (the hand-written
two-layer backward, autograd, the CNN, mini-batch SGD), close to fp32 but not
equal to it; the fidelity check on a small MNIST slice, where bf16 passes, and
the check's criteria each failing when their number moves past the threshold."""
import copy

import numpy as np
import pytest

from engine.config import ConfigError, RunConfig, has_manual_backward
from engine.analysis.fidelity import MAX_DPHI, compare, jaccard
from engine.analysis.results import RunResult
from engine.run import run
from engine.data.sources import DatasetUnavailable, load_raw
from engine.training.loop import train

PATHS = {
    "two-layer, hand-written backward": dict(),
    "two-layer, adam, pruned per seed": dict(optimizer="adam", lr=0.005),
    "depth 3, autograd": dict(depth=3),
    "cnn": dict(model="cnn"),
    "mini-batch sgd": dict(optimizer="sgd", lr=0.05, batch_size=128),
}


def _run(config, data, include=None):
    return RunResult.empty(config, config.seed_list, data.n_train).collect(train(config, data, include=include))


@pytest.mark.parametrize("name", list(PATHS))
def test_bf16_runs_on_every_path_and_stays_close_to_fp32(name, digits_config, digits_data):
    config = digits_config.replace(epochs=12, seeds=3, **{"lr": 1.0, **PATHS[name]})
    include = np.random.default_rng(0).random((3, digits_data.n_train)) > 0.2 if "pruned" in name else None
    fp32, bf16 = _run(config, digits_data, include), _run(config.replace(precision="bf16"), digits_data, include)
    assert has_manual_backward(config) == (name.startswith("two-layer"))
    # bf16 is in force: the first forward already differs (inputs rounded to 8 mantissa bits)
    assert np.abs(bf16.curves["loss"][:, 0] - fp32.curves["loss"][:, 0]).max() > 0
    # and close: rounding errors of bf16's unit roundoff (2^-8), not another run
    for c, tol in (("loss", 2e-3), ("r_plus", 3e-3), ("r_minus", 3e-3), ("distance", 3e-3),
                   ("train_error", 0.02), ("test_error", 0.02)):
        diff = np.nanmax(np.abs(bf16.curves[c] - fp32.curves[c]))
        assert diff <= tol, f"{name}: {c} differs by {diff}"


@pytest.fixture(scope="module")
def mnist_pair():
    """fp32 and bf16 runs of the same 4 seeds on 2048 MNIST points, through engine.run."""
    try:
        raw = load_raw("mnist")
    except DatasetUnavailable as e:
        pytest.fail(f"MNIST is needed for this test and could not be loaded: {e}")
    from engine.data.dataset import prepare
    config = RunConfig(n_train=2048, seeds=4, epochs=120, test_every=20, device="cpu")
    data = prepare(config, raw=raw)
    return run(config, data=data)[0], run(config.replace(precision="bf16"), data=data)[0]


def test_bf16_passes_the_fidelity_check_on_mnist(mnist_pair):
    fp32, bf16 = mnist_pair
    assert all(i.present for i in fp32.inversions())  # there is an inversion to reproduce
    check = compare(fp32, bf16)
    assert check["fit"], check
    assert check["dphi"] <= MAX_DPHI and check["dt_straggler_epoch"] <= 2 and check["jaccard_consensus"] >= 0.9
    assert check["consensus_count"]["reference"] > 50  # a real set of stragglers, not two empty ones
    assert compare(fp32, fp32)["jaccard_consensus"] == 1.0 and compare(fp32, fp32)["dphi"] == 0.0


def _shifted(result, epochs: int):
    """The same run with every curve and mask delayed by `epochs` (t* moves by as much)."""
    out = copy.deepcopy(result)
    for c in out.curves:
        out.curves[c][:, epochs:] = result.curves[c][:, :-epochs]
    out.masks[:, epochs:] = result.masks[:, :-epochs]
    return out


def test_each_criterion_fails_past_its_threshold(mnist_pair):
    fp32, _ = mnist_pair
    late = compare(fp32, _shifted(fp32, 3))  # t* three epochs later
    assert not late["fit"] and late["dt_straggler_epoch"] == 3
    assert compare(fp32, _shifted(fp32, 2))["dt_straggler_epoch"] == 2
    worse = copy.deepcopy(fp32)
    worse.curves["train_error"] += 2 * MAX_DPHI  # phi moves by 0.006
    check = compare(fp32, worse)
    assert not check["fit"] and check["dphi"] == pytest.approx(2 * MAX_DPHI)
    others = copy.deepcopy(fp32)
    others.masks = np.roll(fp32.masks, 7, axis=-1)  # other points misclassified, same counts
    check = compare(fp32, others)
    assert not check["fit"] and check["jaccard_consensus"] < 0.9 and check["dphi"] == 0


def test_jaccard():
    a, b = np.array([1, 1, 0, 0], bool), np.array([1, 0, 1, 0], bool)
    assert jaccard(a, b) == pytest.approx(1 / 3) and jaccard(a, a) == 1.0
    assert jaccard(np.zeros(4, bool), np.zeros(4, bool)) == 1.0


def test_tf32_and_unknown_precisions_are_refused_before_any_work():
    with pytest.raises(ConfigError, match="--precision='tf32' is not valid: tf32 needs a CUDA GPU"):
        RunConfig(precision="tf32", device="cpu").validate()
    with pytest.raises(ConfigError, match="one of fp32, bf16, tf32"):
        RunConfig(precision="fp16").validate()
    import torch
    if not torch.cuda.is_available():  # device auto resolves to the CPU here: run() refuses before loading data
        with pytest.raises(ConfigError, match="tf32 needs a CUDA GPU"):
            run(RunConfig(dataset="user:does-not-exist", precision="tf32"))


def test_matmul_mode_sets_the_cuda_flags_for_its_block_only():
    """TF32 (and bf16's float32 split-K sums) only inside the training step: the
    process's own flags come back after it. Flags are plain settings, so this runs
    without a GPU."""
    import torch
    from engine.training.precision import matmul_mode
    m, cudnn = torch.backends.cuda.matmul, torch.backends.cudnn
    before = m.allow_tf32, cudnn.allow_tf32, m.allow_bf16_reduced_precision_reduction
    cuda = torch.device("cuda")
    with matmul_mode("tf32", cuda):
        assert m.allow_tf32 and cudnn.allow_tf32
    with matmul_mode("fp32", cuda):
        assert not m.allow_tf32 and not cudnn.allow_tf32  # cuDNN allows TF32 by default: not in fp32
    with matmul_mode("bf16", cuda):
        assert not m.allow_bf16_reduced_precision_reduction and not m.allow_tf32
    assert (m.allow_tf32, cudnn.allow_tf32, m.allow_bf16_reduced_precision_reduction) == before


@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="TF32 needs a CUDA GPU")
def test_tf32_on_cuda_stays_close_to_fp32(digits_config, digits_data):
    config = digits_config.replace(epochs=12, seeds=3, lr=1.0, device="cuda")
    fp32, tf32 = _run(config, digits_data), _run(config.replace(precision="tf32"), digits_data)
    for c in ("loss", "r_plus", "r_minus", "distance"):
        assert np.nanmax(np.abs(tf32.curves[c] - fp32.curves[c])) <= 2e-3, c
