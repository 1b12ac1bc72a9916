"""Fig. 2d: the hypergeometric null and the z-score of the straggler overlap."""
import numpy as np
import pytest
from scipy.stats import hypergeom

from engine.experiments import JOB_KINDS
from engine.experiments.context import LocalContext
from engine.experiments.stability import overlap_matrix, z_score


def test_overlap_matrix_and_null_mean():
    S = np.zeros((3, 100), bool)
    S[0, :10], S[1, 5:25], S[2, 50:60] = True, True, True
    M = overlap_matrix(S)
    assert M.tolist() == [[10, 5, 0], [5, 20, 0], [0, 0, 10]]
    z = z_score(S)
    expected = np.mean([hypergeom(100, 10, 20).mean(), hypergeom(100, 10, 10).mean(), hypergeom(100, 20, 10).mean()])
    assert z["null_mean"] == pytest.approx(expected)
    assert z["overlap_mean"] == pytest.approx(5 / 3)
    assert z["n_pairs"] == 3


def test_random_sets_sit_on_the_null():
    rng = np.random.default_rng(0)
    zs = []
    for _ in range(40):
        S = np.zeros((6, 500), bool)
        for r in range(6):
            S[r, rng.choice(500, 60, replace=False)] = True
        zs.append(z_score(S)["z_null"])
    assert abs(np.mean(zs)) < 0.5  # unbiased: the null mean is right
    assert 0.2 < np.std(zs) < 2.0


def test_stragglers_are_stable_across_seeds():
    ctx = LocalContext()
    r = JOB_KINDS["stability"](dict(dataset="digits", n_train=1024, epochs=150, seeds=5, device="cpu",
                                    n_grid=8, other="width=40"), ctx)
    assert r["best"]["z"] > 5
    assert r["t_star"]["overlap_fraction"] > 3 * r["t_star"]["null_fraction"]
    # the same sizes drawn at random give no such overlap
    P, sizes = 1024, np.diag(r["overlap_matrix_t_star"])
    rng = np.random.default_rng(1)
    rnd = np.zeros((len(sizes), P), bool)
    for i, n in enumerate(sizes):
        rnd[i, rng.choice(P, n, replace=False)] = True
    assert z_score(rnd)["z"] < r["t_star"]["z"] / 3
    for p in r["points"]:
        assert {"epsilon", "epoch", "z", "overlap_mean", "null_mean"} <= set(p)
    # a wider network misclassifies largely the same points (cross-architecture z)
    assert r["cross"]["t_star"]["z_null"] > 5
    assert len(ctx.artifacts["overlap_matrix_best"]) == 5


def test_closed_form_null_moments_equal_scipys_hypergeometric():
    from engine.experiments.stability import hypergeom_moments
    a, b = np.array([0, 1, 10, 50, 99, 100]), np.array([100, 7, 20, 50, 3, 0])
    mean, var = hypergeom_moments(100, a, b)
    with np.errstate(divide="ignore", invalid="ignore"):  # scipy's kurtosis at a = 0 or b = P
        np.testing.assert_allclose(mean, hypergeom(100, a, b).mean(), rtol=1e-12)
        np.testing.assert_allclose(var, hypergeom(100, a, b).var(), rtol=1e-12, atol=1e-12)
