"""Is a precision fit for the science? The fidelity check.

The same seeds are trained in fp32 and in the precision under test; the precision
is fit when the paper's answers do not move:

  phi       |mean phi (other) - mean phi (fp32)| <= 0.003 (phi: the training error
            at the inversion, the run's headline number);
  t*        every seed's straggler epoch (the rounded mean of its three t*, where
            S(t*) is read) within +-2 epochs, and the mean t* of each of R+, R-, D
            within +-2 epochs;
  stragglers  the consensus stragglers (a straggler in >= half the seeds) of the two
            runs overlap with Jaccard index >= 0.9.

Per-seed |delta phi|, per-seed, per-metric |delta t*| and the per-seed Jaccard
index of S(t*) are reported as well, as information: a flat minimum of R+ can
move its argmin by several epochs under any perturbation, so they are not
criteria, but they say how close the runs are.
"""
from __future__ import annotations

import numpy as np

from .geometry import METRICS
from .report import CONSENSUS_THRESHOLD
from .results import RunResult
from .stragglers import consensus, stragglers_at

MAX_DPHI = 0.003
MAX_DT_STAR = 2
MIN_JACCARD = 0.9


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """|A & B| / |A | B| of two boolean masks; 1 when both are empty (nothing to disagree on)."""
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def compare(reference: RunResult, other: RunResult) -> dict:
    """The fidelity check of `other` against `reference` (fp32, same seeds and data)."""
    if not np.array_equal(reference.seeds, other.seeds) or reference.n_train != other.n_train:
        raise ValueError("the fidelity check compares runs of the same seeds on the same training set")
    inv_a, inv_b = reference.inversions(), other.inversions()
    phi_a, phi_b = np.array([i.phi for i in inv_a]), np.array([i.phi for i in inv_b])
    t_a = {m: np.array([i.t_star[m] for i in inv_a]) for m in METRICS}
    t_b = {m: np.array([i.t_star[m] for i in inv_b]) for m in METRICS}
    ep_a = np.array([i.straggler_epoch for i in inv_a])
    ep_b = np.array([i.straggler_epoch for i in inv_b])
    S_a, S_b = stragglers_at(reference, ep_a), stragglers_at(other, ep_b)
    cons_a, cons_b = consensus(S_a) >= CONSENSUS_THRESHOLD, consensus(S_b) >= CONSENSUS_THRESHOLD
    out = {
        "dphi": float(abs(phi_b.mean() - phi_a.mean())),
        "phi": {"reference": float(phi_a.mean()), "other": float(phi_b.mean()),
                "max_seed_dphi": float(np.abs(phi_b - phi_a).max())},
        "dt_straggler_epoch": int(np.abs(ep_b - ep_a).max()),
        "dt_star_mean": {m: float(abs(t_b[m].mean() - t_a[m].mean())) for m in METRICS},
        "max_seed_dt_star": {m: int(np.abs(t_b[m] - t_a[m]).max()) for m in METRICS},
        "jaccard_consensus": jaccard(cons_a, cons_b),
        "consensus_count": {"reference": int(cons_a.sum()), "other": int(cons_b.sum())},
        "jaccard_per_seed_mean": float(np.mean([jaccard(a, b) for a, b in zip(S_a, S_b)])),
        "inversion_present": {"reference": int(sum(i.present for i in inv_a)),
                              "other": int(sum(i.present for i in inv_b))},
        "max_curve_difference": {c: float(np.nanmax(np.abs(other.curves[c] - reference.curves[c])))
                                 for c in ("loss", "train_error", "test_error", *METRICS)},
    }
    out["criteria"] = {
        f"|dphi| <= {MAX_DPHI}": out["dphi"] <= MAX_DPHI,
        f"straggler epoch of every seed within +-{MAX_DT_STAR}": out["dt_straggler_epoch"] <= MAX_DT_STAR,
        f"mean t* of R+, R-, D within +-{MAX_DT_STAR}": max(out["dt_star_mean"].values()) <= MAX_DT_STAR,
        f"consensus stragglers Jaccard >= {MIN_JACCARD}": out["jaccard_consensus"] >= MIN_JACCARD,
    }
    out["fit"] = all(out["criteria"].values())
    return out


def lines(check: dict, name: str = "other") -> list[str]:
    """The check in a few lines a person reads (the CLI and the GPU benchmark print these)."""
    c = check
    return [
        f"phi: fp32 {c['phi']['reference']:.4f}, {name} {c['phi']['other']:.4f}: |dphi| = {c['dphi']:.4f} "
        f"(per seed at most {c['phi']['max_seed_dphi']:.4f})",
        f"t*: straggler epochs differ by at most {c['dt_straggler_epoch']} epochs; mean t* differs by "
        + ", ".join(f"{m} {v:.2f}" for m, v in c["dt_star_mean"].items())
        + " (per seed at most " + ", ".join(f"{m} {v}" for m, v in c["max_seed_dt_star"].items()) + ")",
        f"consensus stragglers: fp32 {c['consensus_count']['reference']}, {name} {c['consensus_count']['other']}, "
        f"Jaccard {c['jaccard_consensus']:.3f} (per seed, mean {c['jaccard_per_seed_mean']:.3f})",
        *(f"  [{'pass' if ok else 'FAIL'}] {k}" for k, ok in c["criteria"].items()),
        f"{name}: {'fit for science' if c['fit'] else 'NOT fit for science'} (against fp32, same seeds)",
    ]
