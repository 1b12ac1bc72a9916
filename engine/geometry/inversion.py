"""The inversion (paper, Sec. 3): the verdict of one seed from its R+, R-, D curves.

R+, R- and D themselves are computed in engine.geometry.sphere; this module reads
only recorded curves (numpy), so the pages judge runs without importing torch.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.geometry.curves import METRICS


# --- inversion: the verdict of one seed ------------------------------------------------
#
# Each curve is judged first, then the seed. A curve (R+, R-: towards a minimum; D:
# towards a maximum) is
#   turned    it segregated, reached its extremum strictly inside the run, and came
#             back by the end;
#   moving    it is still changing at the end (towards its extremum, or on its way
#             back but not yet far enough): a longer run would tell;
#   settled   it segregated and then stayed at its level, without coming back, for at
#             least the second half of the run;
#   flat      it hardly moved (randomised labels: the radii wobble by ~0.01) and would
#             not move enough even at its final pace for another run as long.
# The seed is
#   diverged      its loss became non-finite or grew above DIVERGENCE_FACTOR x its
#                 epoch-0 value: nothing after that epoch is judged, no turn claimed;
#   present       at least MIN_TURNING of R+, R-, D turned;
#   undetermined  not yet, but the curves still moving could make it (a run stopped
#                 before the turn: MNIST at 20 epochs);
#   absent        at most one curve can ever turn at this horizon (randomised labels:
#                 flat radii, D still rising).
# Not "D must turn": in a linear network the radii turn while D can still be rising
# at the end, and the paper counts that as the same phenomenology.
#
# Noise: full-batch GD gives smooth curves, mini-batch SGD and the edge of stability
# (period-2 oscillations) do not. Every tolerance is therefore the larger of an effect
# size (below) and NOISE_K times the noise of what is compared, the noise measured on
# the curve itself (the robust spread of its third differences, and of disjoint
# k-epoch means for noise correlated in time); the extremum and the return are read
# on a moving average over ~5 % of the run, not on single values.
# On synthetic monotone curves with noise up to sd 0.01 (white or correlated) false
# turns stay under 1 % (benchmarks/criterion.py measures it; tests/test_criterion.py checks it).
DIVERGENCE_FACTOR = 10.0  # a loss 10x its initial value (ln 2 ~ 0.69 at U(-1/sqrt n) init)
                          # means confidently wrong predictions: no descent passes there
SEGREGATION_MIN = 0.03  # excursion to the extremum: randomised labels move the radii by
                        # <= 0.009 (P = 8192), <= 0.018 (P = 2048); parity by 0.1-0.45
RETURN_MIN = 2e-3       # the smallest return (and the smallest drift that is "moving")
RETURN_FRACTION = 0.05  # ... and at least 5 % of the excursion (MNIST returns 30-45 %)
NOISE_K = 4.0           # tolerances >= 4 sd of the compared averages: covers the
                        # downward bias of a minimum taken over ~20 noisy averages
MIN_TURNING = 2
MIN_EPOCHS = 5          # fewer recorded epochs than this: too short to judge (moving)
CURVE_STATES = ("turned", "moving", "settled", "flat")
STATES = ("present", "absent", "undetermined", "diverged")


@dataclass(frozen=True)
class CurveVerdict:
    state: str          # one of CURVE_STATES (or "diverged" when the seed diverged)
    extremum: int       # Eq. 10 on the raw curve: argmin R, argmax D (epochs judged)
    t_star: int | None  # the inversion epoch when the curve turned, else None
    excursion: float    # initial value -> extremum, towards the extremum (>= 0 when it segregated)
    comeback: float     # extremum -> end of the run, back
    noise: float        # sd of one epoch's value around the trend (0 for full-batch GD)


@dataclass(frozen=True)
class Inversion:
    state: str                  # one of STATES
    curves: dict                # metric -> CurveVerdict
    phi: float | None           # mean training error at the t* of the curves that turned
    straggler_epoch: int | None  # rounded mean of those t*: where S(t*) is read
    diverged_epoch: int | None  # first epoch whose loss diverged
    more_epochs: int | None     # undetermined: about how many epochs in all would tell
    phi_eq10: float             # Eq. 10 as written: mean error at the three raw extrema

    @property
    def present(self) -> bool:
        return self.state == "present"

    @property
    def t_star(self) -> dict:
        """metric -> t* of a curve that turned, None for one that did not."""
        return {m: v.t_star for m, v in self.curves.items()}

    @property
    def extremum(self) -> dict:
        """metric -> Eq. 10's raw argmin/argmax, whether or not the curve turned."""
        return {m: v.extremum for m, v in self.curves.items()}

    @property
    def turns(self) -> dict:
        return {m: v.state == "turned" for m, v in self.curves.items()}


def diverged_at(loss, reached=None) -> int | None:
    """The first epoch whose loss is non-finite or > DIVERGENCE_FACTOR x the epoch-0
    loss, among the epochs `reached` (default: every epoch with a loss value that is
    not NaN); None if none. The training loop applies the same rule."""
    loss = np.asarray(loss, dtype=float)
    reached = ~np.isnan(loss) if reached is None else np.asarray(reached, dtype=bool)
    if not reached.any():
        return None
    bad = reached & (~np.isfinite(loss) | (loss > DIVERGENCE_FACTOR * loss[np.flatnonzero(reached)[0]]))
    return int(np.flatnonzero(bad)[0]) if bad.any() else None


def inversion_epoch(curve: np.ndarray, metric: str) -> int:
    """argmin R(t) for the radii, argmax D(t) for the distance (Eq. 10). NaN
    entries (epochs not reached, e.g. after a divergence) are ignored."""
    c = np.asarray(curve, dtype=float)
    return int(np.nanargmax(c) if metric == "distance" else np.nanargmin(c))


def noise_level(x: np.ndarray) -> float:
    """sd of the epoch-to-epoch noise around a smooth trend: the robust spread (MAD)
    of the third differences, which for white noise have variance 20 sigma^2 and for
    a slowly varying trend are ~0. The first third of the run (the fast segregation,
    whose curvature is no noise) is left out."""
    x = np.asarray(x, dtype=float)
    x = x[len(x) // 3:] if len(x) >= 12 else x
    if len(x) < 5:
        return 0.0
    d3 = np.diff(x, 3)
    return float(1.4826 * np.median(np.abs(d3 - np.median(d3))) / np.sqrt(20))


def mean_noise(x: np.ndarray, k: int) -> float:
    """sd of the noise of a mean over k consecutive epochs. Noise correlated from one
    epoch to the next (SGD's parameters carry it over) averages out more slowly than
    1/sqrt(k): measured on third differences of disjoint k-epoch means (after the
    first third of the run), never below the white-noise value."""
    white = noise_level(x) / np.sqrt(max(k, 1))
    late = np.asarray(x, dtype=float)[len(x) // 3:]
    if k <= 1 or len(late) < 8 * k:
        return white
    means = np.convolve(late, np.ones(k) / k, mode="valid")  # every k-epoch mean: many more samples
    d3 = means[3 * k:] - 3 * means[2 * k:-k] + 3 * means[k:-2 * k] - means[:-3 * k]  # of disjoint means
    return max(white, float(1.4826 * np.median(np.abs(d3 - np.median(d3))) / np.sqrt(20)))


def smooth(x: np.ndarray, w: int) -> np.ndarray:
    """Centred moving average over w (odd) epochs, shrinking at the ends."""
    if w <= 1:
        return x.astype(float)
    c = np.concatenate([[0.0], np.cumsum(x)])
    i = np.arange(len(x))
    lo, hi = np.maximum(i - w // 2, 0), np.minimum(i + w // 2 + 1, len(x))
    return (c[hi] - c[lo]) / (hi - lo)


def window(n: int) -> int:
    """The smoothing window: odd, ~5 % of the run (301 epochs -> 15, 61 -> 3, 21 -> 1)."""
    return 2 * (n // 40) + 1


def judge_curve(curve, metric: str) -> CurveVerdict:
    """The state of one curve (see the rule above). NaNs (epochs not reached) are skipped."""
    c = np.asarray(curve, dtype=float)
    epochs = np.flatnonzero(np.isfinite(c))
    x = (1.0 if metric != "distance" else -1.0) * c[epochs]  # every extremum a minimum
    n = len(x)
    if n == 0:
        return CurveVerdict("moving", 0, None, 0.0, 0.0, 0.0)
    raw = int(np.argmin(x))
    if n < MIN_EPOCHS:
        return CurveVerdict("moving", int(epochs[raw]), None, float(x[0] - x[raw]), 0.0, 0.0)
    sigma = noise_level(x)
    w = window(n)
    k = max(w, 3)                      # epochs averaged for "the end of the run"
    s = smooth(x, w)
    m = int(np.argmin(s))
    end = float(x[-k:].mean())
    excursion, comeback = float(x[0] - s[m]), float(end - s[m])
    noise = mean_noise(x, w) + mean_noise(x, k)  # of (smoothed minimum, end mean)
    seg_tol = max(SEGREGATION_MIN, NOISE_K * noise)
    ret_tol = max(RETURN_MIN, RETURN_FRACTION * excursion, NOISE_K * noise)
    # Eq. 10's argmin, unless noise put it far from the smoothed extremum
    t = raw if abs(raw - m) <= w else max(0, m - w) + int(np.argmin(x[max(0, m - w): m + w + 1]))
    if excursion >= seg_tol and 0 < m < n - k and comeback >= ret_tol:
        return CurveVerdict("turned", int(epochs[raw]), int(epochs[t]), excursion, comeback, sigma)
    if excursion < seg_tol:
        # flat unless its pace over the last quarter, kept for another run as long,
        # would segregate it
        q = max(k, n // 4)
        drift = float(x[-k:].mean() - x[max(0, n - q - k): n - q].mean())  # < 0: towards the extremum
        state = "moving" if excursion - drift * (n / q) >= seg_tol else "flat"
    else:
        # settled only if it has stayed within a return tolerance of its final level
        # for at least the second half of the run (as long as it took to get there);
        # a curve that only just reached its bottom may still turn
        band = max(RETURN_MIN, NOISE_K * np.sqrt(2) * mean_noise(x, k))
        outside = np.flatnonzero(np.abs(s - end) > band)
        since = int(outside[-1]) + 1 if len(outside) else 0
        state = "settled" if since <= n // 2 else "moving"
    return CurveVerdict(state, int(epochs[raw]), None, excursion, comeback, sigma)


def inversion(curves: dict, train_error: np.ndarray, loss: np.ndarray | None = None) -> Inversion:
    """The verdict of one seed. curves: metric -> (T+1,) values; train_error and loss
    (T+1,); NaN where an epoch was not reached. Without a loss, no divergence check."""
    err = np.asarray(train_error, dtype=float)
    reached = np.isfinite(err)
    div = diverged_at(loss, reached) if loss is not None else None
    judged = {m: np.asarray(curves[m], dtype=float).copy() for m in METRICS}
    if div is not None:  # nothing from the blow-up on is evidence of anything
        for c in judged.values():
            c[div:] = np.nan
    verdicts = {m: judge_curve(judged[m], m) for m in METRICS}
    phi_eq10 = float(np.mean([err[v.extremum] for v in verdicts.values()]))
    if div is not None:
        verdicts = {m: CurveVerdict("diverged", v.extremum, None, v.excursion, v.comeback, v.noise)
                    for m, v in verdicts.items()}
        return Inversion("diverged", verdicts, None, None, div, None, phi_eq10)
    states = [v.state for v in verdicts.values()]
    turned = [v.t_star for v in verdicts.values() if v.t_star is not None]
    if len(turned) >= MIN_TURNING:
        state = "present"
    elif len(turned) + states.count("moving") >= MIN_TURNING:
        state = "undetermined"
    else:
        state = "absent"
    phi = float(np.mean([err[t] for t in turned])) if turned else None
    straggler = int(round(np.mean(turned))) if turned else None
    more = epochs_to_tell(judged, verdicts, int(np.flatnonzero(reached)[-1]) if reached.any() else 0) \
        if state == "undetermined" else None
    return Inversion(state, verdicts, phi, straggler, None, more, phi_eq10)


def epochs_to_tell(curves: dict, verdicts: dict, last: int) -> int:
    """About how many epochs in all a run needs for an undetermined seed to be judged.
    A curve still heading to its extremum slows down roughly geometrically: from its
    drift over the last two quarters, the epoch where that drift falls below
    RETURN_MIN; then as long again for the return (on MNIST the return reaches 5 % of
    the excursion at ~1.5-2 t*). At least twice the run, at most ten times."""
    T = max(last, 1)
    need = 2 * T
    for m, v in verdicts.items():
        if v.state != "moving":
            continue
        x = (1.0 if m != "distance" else -1.0) * curves[m][np.isfinite(curves[m])]
        n = len(x)
        q = max(3, n // 4)
        if n < 3 * q:
            continue
        d_last = x[n - 1 - q] - x[-1]
        d_prev = x[n - 1 - 2 * q] - x[n - 1 - q]
        if d_last > RETURN_MIN and 0 < d_last < d_prev:
            quarters = np.log(RETURN_MIN / d_last) / np.log(d_last / d_prev)
            need = max(need, int(np.ceil(2 * (T + quarters * q))))
    return int(min(need, 10 * T))
