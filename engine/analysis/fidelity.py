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

  verdicts  no seed shows an inversion in one run and none (absent, diverged) in the
            other.

phi, t* and S(t*) exist only for seeds whose verdict is "present" (engine.geometry):
the numbers above are over the seeds present in both runs. When fewer than half of
the seeds are, the check is undetermined (`fit` None): run longer, as the verdicts say.

Per-seed |delta phi|, per-seed, per-metric |delta t*| and the per-seed Jaccard
index of S(t*) are reported as well, as information: a flat minimum of R+ can
move its argmin by several epochs under any perturbation, so they are not
criteria, but they say how close the runs are.
"""
from __future__ import annotations

import warnings

import numpy as np

from engine.geometry.curves import METRICS
from engine.analysis.results import RunResult
from engine.analysis.stragglers import CONSENSUS_THRESHOLD, consensus, stragglers_at

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
    states = {"reference": [i.state for i in inv_a], "other": [i.state for i in inv_b]}
    both = np.array([a.present and b.present for a, b in zip(inv_a, inv_b)])
    flipped = [int(s) for s, a, b in zip(reference.seeds, inv_a, inv_b)
               if {a.state, b.state} & {"present"} and {a.state, b.state} & {"absent", "diverged"}]
    out = {"seeds": len(both), "present_in_both": int(both.sum()), "states": states, "verdict_flips": flipped,
           "max_curve_difference": {c: float(np.nanmax(np.abs(other.curves[c] - reference.curves[c])))
                                    for c in ("loss", "train_error", "test_error", *METRICS)}}
    if 2 * both.sum() < len(both):  # the numbers would rest on too few seeds
        out.update(criteria={}, fit=None, undetermined=f"only {int(both.sum())} of {len(both)} seeds show an "
                   "inversion in both runs: run longer (see each run's verdict)")
        return out
    pick = [i for i in range(len(both)) if both[i]]
    phi_a, phi_b = (np.array([inv[i].phi for i in pick]) for inv in (inv_a, inv_b))
    t_a, t_b = ({m: np.array([inv[i].t_star[m] for i in pick], dtype=float) for m in METRICS}
                for inv in (inv_a, inv_b))
    ep_a, ep_b = (np.array([inv[i].straggler_epoch for i in pick]) for inv in (inv_a, inv_b))
    S_a, S_b = stragglers_at(reference)[both], stragglers_at(other)[both]
    cons_a, cons_b = consensus(S_a) >= CONSENSUS_THRESHOLD, consensus(S_b) >= CONSENSUS_THRESHOLD
    with warnings.catch_warnings():  # nanmean/nanmax of a curve that turned in neither run: None below
        warnings.simplefilter("ignore", RuntimeWarning)
        numbers = {
            "dphi": float(abs(phi_b.mean() - phi_a.mean())),
            "phi": {"reference": float(phi_a.mean()), "other": float(phi_b.mean()),
                    "max_seed_dphi": float(np.abs(phi_b - phi_a).max())},
            "dt_straggler_epoch": int(np.abs(ep_b - ep_a).max()),
            # a curve that turned in one run only has no t* difference: nanmean/nanmax over the others
            "dt_star_mean": {m: _nan_safe(abs(np.nanmean(t_b[m]) - np.nanmean(t_a[m]))) for m in METRICS},
            "max_seed_dt_star": {m: _nan_safe(np.nanmax(np.abs(t_b[m] - t_a[m]))) for m in METRICS},
            "jaccard_consensus": jaccard(cons_a, cons_b),
            "consensus_count": {"reference": int(cons_a.sum()), "other": int(cons_b.sum())},
            "jaccard_per_seed_mean": float(np.mean([jaccard(a, b) for a, b in zip(S_a, S_b)])),
        }
    out.update(numbers)
    out["criteria"] = {
        f"|dphi| <= {MAX_DPHI}": out["dphi"] <= MAX_DPHI,
        f"straggler epoch of every seed within +-{MAX_DT_STAR}": out["dt_straggler_epoch"] <= MAX_DT_STAR,
        # a curve that turns in neither run has no t* to move; one that turns in one run only has
        f"mean t* of R+, R-, D within +-{MAX_DT_STAR}": all(
            v <= MAX_DT_STAR if v is not None else bool(np.isnan(t_a[m]).all() and np.isnan(t_b[m]).all())
            for m, v in out["dt_star_mean"].items()),
        f"consensus stragglers Jaccard >= {MIN_JACCARD}": out["jaccard_consensus"] >= MIN_JACCARD,
        "no seed's inversion appears or vanishes": not flipped,
    }
    out["fit"] = all(out["criteria"].values())
    return out


def _nan_safe(v) -> float | None:
    return None if v is None or not np.isfinite(v) else float(v)


def lines(check: dict, name: str = "other") -> list[str]:
    """The check in a few lines a person reads (the CLI and the GPU benchmark print these)."""
    c = check
    if c["fit"] is None:
        return [f"{name}: fidelity undetermined: {c['undetermined']}"]

    def num(v, fmt):
        return "undetermined" if v is None else format(v, fmt)
    return [
        f"seeds with an inversion in both runs: {c['present_in_both']} of {c['seeds']}",
        f"phi: fp32 {c['phi']['reference']:.4f}, {name} {c['phi']['other']:.4f}: |dphi| = {c['dphi']:.4f} "
        f"(per seed at most {c['phi']['max_seed_dphi']:.4f})",
        f"t*: straggler epochs differ by at most {c['dt_straggler_epoch']} epochs; mean t* differs by "
        + ", ".join(f"{m} {num(v, '.2f')}" for m, v in c["dt_star_mean"].items())
        + " (per seed at most " + ", ".join(f"{m} {num(v, '.0f')}" for m, v in c["max_seed_dt_star"].items()) + ")",
        f"consensus stragglers: fp32 {c['consensus_count']['reference']}, {name} {c['consensus_count']['other']}, "
        f"Jaccard {c['jaccard_consensus']:.3f} (per seed, mean {c['jaccard_per_seed_mean']:.3f})",
        *(f"  [{'pass' if ok else 'FAIL'}] {k}" for k, ok in c["criteria"].items()),
        f"{name}: {'fit for science' if c['fit'] else 'NOT fit for science'} (against fp32, same seeds)",
    ]
