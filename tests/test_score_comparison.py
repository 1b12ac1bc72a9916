"""engine.analysis.score_comparison: AUROC with its null, top-|S| overlaps with ties, and the
Spearman matrix, against scikit-learn, scipy and brute force."""
import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr
from sklearn.metrics import roc_auc_score

from engine.analysis.score_comparison import (auroc, auroc_null_sd, compare, consensus_stragglers,
                                              spearman_frame, top_overlap)
from engine.training.scores import HARDER, SCORES


def test_auroc_is_scikit_learns_with_ties():
    rng = np.random.default_rng(0)
    target = rng.random(500) < 0.1
    score = rng.integers(0, 6, 500) + 2 * target  # few values: many ties
    assert auroc(score, target) == pytest.approx(roc_auc_score(target, score), abs=1e-12)
    assert np.isnan(auroc(score, np.zeros(500, bool)))


def test_null_sd_is_the_spread_of_auroc_under_shuffled_targets():
    rng = np.random.default_rng(1)
    score = rng.integers(0, 4, 400).astype(float)  # heavy ties: the correction matters
    target = np.zeros(400, bool)
    target[:40] = True
    draws = [auroc(score, rng.permutation(target)) for _ in range(3000)]
    assert np.mean(draws) == pytest.approx(0.5, abs=0.005)
    assert np.std(draws) == pytest.approx(auroc_null_sd(score, target), rel=0.06)
    untied = rng.random(400)
    assert auroc_null_sd(untied, target) == pytest.approx(np.sqrt((400 + 1) / (12 * 40 * 360)), rel=1e-6)


def test_top_overlap_is_the_mean_over_random_tie_breaks():
    hardness = np.array([5, 4, 4, 4, 3, 3, 1, 0], float)
    target = np.array([1, 1, 0, 0, 1, 0, 0, 0], bool)  # |S| = 3: 5 is in, two of the three 4s
    rng = np.random.default_rng(2)
    draws = []
    for _ in range(20000):
        order = np.lexsort((rng.random(8), -hardness))
        draws.append(target[order[:3]].sum())
    assert top_overlap(hardness, target) == pytest.approx(1 + 2 / 3)
    assert np.mean(draws) == pytest.approx(top_overlap(hardness, target), abs=0.02)
    assert top_overlap(hardness, target, k=8) == 3


def frame(n=600, seed=3):
    rng = np.random.default_rng(seed)
    freq = rng.choice([0, 0.1, 0.5, 0.9, 1.0], n, p=[0.7, 0.1, 0.05, 0.05, 0.1])
    df = pd.DataFrame({"index": np.arange(n), "class": rng.integers(0, 10, n), "label": rng.integers(0, 2, n),
                       "straggler_frequency": freq})
    for name in SCORES:  # hardness tied to the frequency, plus noise of different sizes
        df[name] = HARDER[name] * (freq + rng.normal(0, 0.1 + 0.1 * SCORES.index(name), n))
    df.loc[:9, "grand"] = np.nan  # undetermined for a few points
    return df


def test_compare_orients_every_score_and_leaves_undetermined_points_out():
    df = frame()
    target = consensus_stragglers(df)
    out = compare(df)
    assert out["n_stragglers"] == int(target.sum()) == int((df["straggler_frequency"] >= 0.5).sum())
    rows = {r["score"]: r for r in out["scores"]}
    assert list(rows) == list(SCORES)  # the target's own frequency is not scored against itself
    for name in SCORES:
        ok = df[name].notna().to_numpy()
        want = roc_auc_score(target[ok], HARDER[name] * df.loc[ok, name])
        assert rows[name]["auroc"] == pytest.approx(want, abs=1e-12)
        assert rows[name]["points"] == int(ok.sum())
        assert rows[name]["null_low"] < 0.5 < rows[name]["null_high"]
        assert rows[name]["chance_overlap"] == pytest.approx(target.sum() ** 2 / len(df))
    assert rows["grand"]["points"] == len(df) - 10
    # less noise, better prediction: the first score beats the last
    assert rows["forgetting_events"]["auroc"] > rows["grand"]["auroc"] > 0.5
    rho = spearman_frame(out)
    names = ["straggler_frequency", *SCORES]
    assert list(rho.columns) == names
    both = df[["aum", "el2n"]].dropna()
    assert rho.loc["aum", "el2n"] == pytest.approx(spearmanr(both["aum"], both["el2n"]).statistic, abs=1e-12)
    assert rho.loc["confidence", "straggler_frequency"] < 0 < rho.loc["el2n", "straggler_frequency"]


def test_ranks_and_spearman_equal_scipy_and_pandas_on_ties_and_nans():
    """The run's path computes them without scipy and pandas (start-up): same numbers."""
    import pandas as pd
    from scipy.stats import rankdata
    from engine.analysis.score_comparison import ranks, spearman
    rng = np.random.default_rng(3)
    a = rng.integers(0, 5, 400).astype(float)   # heavy ties, like forgetting counts
    b = a + rng.normal(0, 2, 400)
    b[rng.random(400) < 0.1] = np.nan             # undetermined points
    assert np.array_equal(ranks(a), rankdata(a))
    expected = pd.DataFrame({"a": a, "b": b}).corr(method="spearman").loc["a", "b"]
    assert spearman(a, b) == pytest.approx(expected, abs=1e-12)
    assert np.isnan(spearman(np.ones(10), np.arange(10.0)))  # a constant column: undefined, not 0
