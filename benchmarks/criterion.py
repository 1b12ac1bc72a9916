"""How often the inversion criterion (engine.geometry.inversion.judge_curve) is wrong, on
synthetic curves whose truth is known: monotone curves plus noise (a "turned"
verdict there is a false positive) and curves with a true turn of a given depth,
early or late (a "turned" verdict there is a detection).

    python -m benchmarks.criterion [--trials 2000] [--epochs 300] [--seed 0]

Curves look like R(t) on MNIST: a fast segregation by A = 0.2 with time constant
tau ~ U(5, 15) epochs. Monotone ones then either converge or keep falling slowly
(log-like, as randomised labels and pruned sets do); turning ones come back by
`depth` after t0 (30 epochs, or 80 % of the run) with time constant 80 epochs.
Noise: white with sd sigma (SGD on MNIST: sigma ~ 0.001-0.002 on the radii), and
AR(1) with rho = 0.5 (correlated from one epoch to the next).
"""
from __future__ import annotations

import argparse

import numpy as np

from engine.geometry.inversion import MIN_TURNING, judge_curve

SIGMAS = (0.0, 0.001, 0.003, 0.01)
DEPTHS = (0.005, 0.01, 0.02, 0.05, 0.1)


def noise(rng, n: int, sigma: float, rho: float = 0.0) -> np.ndarray:
    e = rng.normal(0, sigma, n)
    if rho:
        e[0] *= 1 / np.sqrt(1 - rho ** 2)
        for i in range(1, n):
            e[i] += rho * e[i - 1]
        e *= np.sqrt(1 - rho ** 2)  # keep the stationary sd at sigma
    return e


def monotone(rng, T: int, sigma: float, rho: float = 0.0) -> np.ndarray:
    t = np.arange(T + 1.0)
    tau = rng.uniform(5, 15)
    x = 0.95 - 0.2 * (1 - np.exp(-t / tau))
    if rng.random() < 0.5:  # still falling at the end, slower and slower
        x -= rng.uniform(0.01, 0.05) * np.log1p(t / 30)
    return x + noise(rng, T + 1, sigma, rho)


def turning(rng, T: int, sigma: float, depth: float, t0: float, rho: float = 0.0) -> np.ndarray:
    t = np.arange(T + 1.0)
    tau = rng.uniform(5, 15)
    x = 0.95 - 0.2 * (1 - np.exp(-t / tau)) + depth * (1 - np.exp(-np.clip(t - t0, 0, None) / 80))
    return x + noise(rng, T + 1, sigma, rho)


def old_turns(curve: np.ndarray) -> bool:
    """The criterion before issue 10, as the baseline: absolute tolerances, the single
    last value (a copy of engine.geometry.inversion.turns at that commit)."""
    c = np.asarray(curve, dtype=float)
    t = int(np.argmin(c))
    if t == 0 or t == len(c) - 1:
        return False
    drop, rise = c[0] - c[t], c[-1] - c[t]
    return bool(drop >= 0.02 and rise >= max(2e-3, 0.05 * drop))


def rates(trials: int = 2000, T: int = 300, seed: int = 0, sigmas=SIGMAS, depths=DEPTHS, rho: float = 0.0) -> dict:
    """{"false_turn": {sigma: rate}, "false_seed": {sigma: rate of >= MIN_TURNING of 3
    monotone curves turning}, "detected": {(sigma, depth, "early"|"late"): rate}}."""
    rng = np.random.default_rng(seed)
    out = {"false_turn": {}, "false_seed": {}, "detected": {}, "old_false_turn": {}}
    for s in sigmas:
        curves = [monotone(rng, T, s, rho) for _ in range(trials)]
        turned = np.array([judge_curve(c, "r_plus").state == "turned" for c in curves])
        out["false_turn"][s] = float(turned.mean())
        out["old_false_turn"][s] = float(np.mean([old_turns(c) for c in curves]))
        seeds = turned[: trials - trials % 3].reshape(-1, 3).sum(1) >= MIN_TURNING
        out["false_seed"][s] = float(seeds.mean())
        for d in depths:
            for when, t0 in (("early", 30), ("late", 0.8 * T)):
                n = max(trials // 10, 50)
                hits = [judge_curve(turning(rng, T, s, d, t0, rho), "r_plus").state == "turned" for _ in range(n)]
                out["detected"][(s, d, when)] = float(np.mean(hits))
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.criterion")
    p.add_argument("--trials", type=int, default=2000)
    p.add_argument("--epochs", type=int, default=300)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    for rho in (0.0, 0.5):
        r = rates(args.trials, args.epochs, args.seed, rho=rho)
        print(f"\n{'white' if not rho else 'AR(1) rho=0.5'} noise, {args.epochs} epochs, {args.trials} monotone curves "
              f"per sigma")
        print("sigma    false turn (old criterion)  false seed (>=2 of 3)  detected early/late by return depth "
              + " ".join(f"{d:>11g}" for d in DEPTHS))
        for s in SIGMAS:
            det = " ".join(f"{r['detected'][(s, d, 'early')]:5.0%}/{r['detected'][(s, d, 'late')]:<5.0%}"
                           for d in DEPTHS)
            print(f"{s:<8g} {r['false_turn'][s]:9.2%} ({r['old_false_turn'][s]:6.2%})  {r['false_seed'][s]:12.2%}"
                  f"          {'':27}{det}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
