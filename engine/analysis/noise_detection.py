"""Which score finds the mislabelled points? In a run with --label-noise, the flipped
training labels are known: each score (and the straggler frequency) ranks the points
by hardness, and is judged as cleanlab's and AUM's detectors are, by its AUROC for
the flipped points (with the null's 95 % interval around 0.5) and by precision and
recall among its top k, k = the number flipped (at that k the two are equal: both are
|top-k ∩ flipped| / k). Points whose score is undetermined (NaN: the straggler
frequency of a run without an inversion) are left out of that score's numbers."""
from __future__ import annotations

from typing import Mapping

import numpy as np

from engine.analysis.score_comparison import Z95, auroc, auroc_null_sd, top_overlap
from engine.training.scores import HARDER, SCORES

DETECTORS = ("straggler_frequency", *SCORES)


def detect(table: Mapping, scores=DETECTORS) -> dict | None:
    """Every score against the flipped labels; None for a run without label noise."""
    flipped = np.asarray(table["label_flipped"], bool)
    k = int(flipped.sum())
    if k == 0:
        return None
    rows = []
    for name in scores:
        values = np.asarray(table[name], dtype=float)
        ok = np.isfinite(values)
        hard, target = HARDER[name] * values[ok], flipped[ok]
        found = top_overlap(hard, target, k) if ok.any() else float("nan")
        sd = auroc_null_sd(hard, target)
        rows.append({"score": name, "points": int(ok.sum()), "auroc": auroc(hard, target),
                     "null_low": 0.5 - Z95 * sd, "null_high": 0.5 + Z95 * sd,
                     "found_in_top_k": found, "precision_at_k": found / k, "recall_at_k": found / k})
    return {"target": "the training points whose label was flipped (--label-noise)", "n_points": len(flipped),
            "n_flipped": k, "k": k, "chance_precision": k / len(flipped), "scores": rows}


def _known(v) -> bool:
    return v is not None and v == v  # NaN in memory, null once written as JSON: undetermined


def best(detection: dict) -> dict | None:
    """The score with the highest AUROC (None when every AUROC is undetermined)."""
    rows = [r for r in detection["scores"] if _known(r["auroc"])]
    return max(rows, key=lambda r: r["auroc"]) if rows else None


def line(detection: dict | None) -> str | None:
    """The CLI's line: each score's AUROC and precision at k for the flipped labels."""
    if not detection:
        return None
    parts = [f"{r['score']} {r['auroc']:.2f}/{r['precision_at_k']:.2f}" for r in detection["scores"]
             if _known(r["auroc"]) and _known(r["precision_at_k"])]
    return (f"finding the {detection['n_flipped']} flipped labels, AUROC/precision at k={detection['k']} "
            f"(chance {detection['chance_precision']:.2f}): " + (", ".join(parts) if parts else "undetermined"))
