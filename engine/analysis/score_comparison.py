"""Are stragglers more than the hard examples other scores find? Each score against
the consensus stragglers (in S(t*) in at least half the seeds): AUROC with its null,
Spearman correlations between all scores, and the overlap of each score's top-|S|
with S. Pure numpy on the scores table (engine.analysis.score_table.columns, or its DataFrame):
no pandas or scipy on a run's path.

Every score is turned into a hardness first (HARDER: larger = harder), so AUROC > 0.5
means "the hard end of this score holds the stragglers". straggler_frequency defines
the target, so it is left out of the AUROC and the overlaps (it would score 1 by
construction) and kept in the correlations.
"""
from __future__ import annotations

import math

from typing import Mapping

import numpy as np

from engine.training.scores import HARDER, SCORES
from engine.analysis.stragglers import CONSENSUS_THRESHOLD
from engine.analysis.stragglers import consensus_stragglers as _consensus

Z95 = 1.959963984540054


def consensus_stragglers(table: Mapping) -> np.ndarray:
    """The table's consensus stragglers (none where the frequency is NaN: no seed inverted)."""
    return _consensus(table["straggler_frequency"])


def ranks(x: np.ndarray) -> np.ndarray:
    """Ranks 1..n, ties given their average rank (scipy.stats.rankdata's default)."""
    _, where, counts = np.unique(np.asarray(x, float), return_inverse=True, return_counts=True)
    return (np.cumsum(counts) - (counts - 1) / 2)[where]


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rho over the points where both are finite (pandas' pairwise
    'spearman'): the Pearson correlation of their average ranks; NaN when either
    is constant there or fewer than two points are left."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 2:
        return float("nan")
    ra, rb = ranks(a[ok]), ranks(b[ok])
    ra, rb = ra - ra.mean(), rb - rb.mean()
    norm = np.sqrt((ra * ra).sum() * (rb * rb).sum())
    return float((ra * rb).sum() / norm) if norm > 0 else float("nan")


def auroc(score: np.ndarray, target: np.ndarray) -> float:
    """P(a random positive scores higher than a random negative), ties counted half:
    the Mann-Whitney U over n+ n-. NaN without both classes."""
    score, target = np.asarray(score, float), np.asarray(target, bool)
    n1, n0 = int(target.sum()), int((~target).sum())
    if n1 == 0 or n0 == 0:
        return float("nan")
    r = ranks(score)
    return float((r[target].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def auroc_null_sd(score: np.ndarray, target: np.ndarray) -> float:
    """Standard deviation of the AUROC of a score unrelated to the target (mean 0.5):
    the Mann-Whitney variance with the tie correction, divided by (n+ n-)^2. Ties
    matter here: forgetting counts and correctness take few values."""
    score, target = np.asarray(score, float), np.asarray(target, bool)
    n1, n0 = int(target.sum()), int((~target).sum())
    n = n1 + n0
    if n1 == 0 or n0 == 0 or n < 2:
        return float("nan")
    _, t = np.unique(score, return_counts=True)
    var_u = n1 * n0 / 12 * ((n + 1) - float((t ** 3 - t).sum()) / (n * (n - 1)))
    return math.sqrt(max(var_u, 0.0)) / (n1 * n0)


def top_overlap(hardness: np.ndarray, target: np.ndarray, k: int | None = None) -> float:
    """|top-k of hardness ∩ target|, k = |target| by default. Points tied at the k-th
    value are taken at random: this is the expected overlap over those draws."""
    hardness, target = np.asarray(hardness, float), np.asarray(target, bool)
    k = min(int(target.sum()) if k is None else int(k), len(hardness))
    if k <= 0:
        return 0.0
    order = np.sort(hardness)[::-1]
    cut = order[k - 1]
    above = hardness > cut
    tied = hardness == cut
    need = k - int(above.sum())
    return float((above & target).sum() + need * (tied & target).sum() / tied.sum())


def compare(table: Mapping, scores=SCORES) -> dict:
    """AUROC (with the null's 95 % interval), top-|S| overlap (with the chance
    overlap |S|^2 / P) for every score, and the Spearman matrix of all of them.
    Points whose score is undetermined (NaN) are left out of that score's numbers."""
    target = consensus_stragglers(table)
    m, n = int(target.sum()), len(table["straggler_frequency"])
    rows = []
    for name in scores:
        values = np.asarray(table[name], dtype=float)
        ok = np.isfinite(values)
        hard = HARDER[name] * values[ok]
        a = auroc(hard, target[ok])
        sd = auroc_null_sd(hard, target[ok])
        overlap = top_overlap(hard, target[ok], m) if ok.any() else float("nan")
        rows.append({"score": name, "points": int(ok.sum()), "auroc": a, "null_low": 0.5 - Z95 * sd,
                     "null_high": 0.5 + Z95 * sd, "top_overlap": overlap,
                     "top_overlap_fraction": overlap / m if m else float("nan"),
                     "chance_overlap": m * m / n if n else float("nan"), "harder": "larger" if HARDER[name] > 0
                     else "smaller"})
    names = ["straggler_frequency", *scores]
    rho = np.empty((len(names), len(names)))
    for i in range(len(names)):
        for j in range(i + 1):  # the diagonal too: NaN for a constant or empty column, as in pandas
            rho[i, j] = rho[j, i] = spearman(table[names[i]], table[names[j]])
    return {"target": f"consensus stragglers: straggler_frequency >= {CONSENSUS_THRESHOLD}", "n_points": n,
            "n_stragglers": m, "scores": rows,
            "spearman": {"names": names, "matrix": rho.tolist()}}


def spearman_frame(comparison: dict):
    """The Spearman matrix as a pandas DataFrame (the pages)."""
    import pandas as pd
    names = comparison["spearman"]["names"]
    return pd.DataFrame(comparison["spearman"]["matrix"], index=names, columns=names)
