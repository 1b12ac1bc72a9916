"""Fig. 3b, 3e: the training error at the inversion, phi, against the training-set
size P, and its asymptote phi_inf (Eq. 12):

    phi(P) = phi_inf [1 - (P / P0)^(-gamma)],

fitted with scipy.optimize.curve_fit on the seed means; the uncertainty of
phi_inf is the spread of refits on bootstrap resamples of the seeds (for each P
the seeds are drawn with replacement). Optionally over a depth x width grid.
"""
from __future__ import annotations

import warnings

import numpy as np
from scipy.optimize import OptimizeWarning, curve_fit

from ..config import ConfigError
from ..data import prepare
from .context import Steps, split
from .ensemble import run_rows
from .pieces import Rows, run_pieces

OPTIONS = {"n_trains": [4096, 8192, 16384, 32768], "n_boot": 200, "boot_seed": 0,
           "depths": None, "widths": None}


def phi_law(P, phi_inf, P0, gamma):
    return phi_inf * (1.0 - (np.asarray(P, float) / P0) ** (-gamma))


def _log_law(P, phi_inf, log_P0, gamma):
    # P0 is fitted on a log scale: sizes span decades, the optimiser steps do not
    return phi_law(P, phi_inf, np.exp(log_P0), gamma)


def fit_phi(P, phi) -> dict:
    """Least-squares fit of Eq. 12; NaNs if it does not converge."""
    P, phi = np.asarray(P, float), np.asarray(phi, float)
    p0 = (1.2 * phi.max(), np.log(P.min() / 2), 1.0)
    bounds = ([0.0, np.log(1e-3), 1e-3], [1.0, np.log(P.min() * (1 - 1e-9)), 10.0])
    try:
        with warnings.catch_warnings():  # 3 parameters on 3-4 points: the covariance may be undefined
            warnings.simplefilter("ignore", OptimizeWarning)
            (phi_inf, log_P0, gamma), cov = curve_fit(_log_law, P, phi, p0=p0, bounds=bounds, maxfev=20000)
    except (RuntimeError, ValueError):
        return {"phi_inf": np.nan, "P0": np.nan, "gamma": np.nan, "phi_inf_fit_err": np.nan}
    return {"phi_inf": float(phi_inf), "P0": float(np.exp(log_P0)), "gamma": float(gamma),
            "phi_inf_fit_err": float(np.sqrt(cov[0, 0])) if np.isfinite(cov[0, 0]) else np.nan}


def bootstrap_phi_inf(P, phi_per_seed: list, n_boot: int = 200, seed: int = 0) -> np.ndarray:
    """phi_inf refitted on n_boot resamples; phi_per_seed[k] holds the seeds' phi at P[k]."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_boot):
        means = [np.mean(rng.choice(v, size=len(v), replace=True)) for v in phi_per_seed]
        out.append(fit_phi(P, means)["phi_inf"])
    return np.array(out)


def phi_scaling(P, phi_per_seed: list, n_boot: int = 200, seed: int = 0) -> dict:
    """The fit on the seed means with phi_inf_err from the bootstrap."""
    phi_mean = [float(np.mean(v)) for v in phi_per_seed]
    fit = fit_phi(P, phi_mean)
    boot = bootstrap_phi_inf(P, phi_per_seed, n_boot, seed) if n_boot else np.array([])
    boot = boot[np.isfinite(boot)]
    return {
        "points": [{"n_train": int(p), "phi_mean": m, "phi_std": float(np.std(v)), "seeds": len(v)}
                   for p, m, v in zip(P, phi_mean, phi_per_seed)],
        **fit,
        "phi_inf_err": float(boot.std()) if len(boot) > 1 else fit["phi_inf_fit_err"],
        "n_boot_converged": int(len(boot)),
    }


def measure_phi(cfg, n_trains, steps=None, on_epoch=None) -> list[np.ndarray]:
    """phi per seed for each P (block cfg.block of each size)."""
    out = []
    for P in n_trains:
        c = cfg.replace(n_train=int(P)).validate()
        res = run_rows(c, prepare(c), c.seed_list, steps=steps, on_epoch=on_epoch).result
        out.append(np.array([i.phi for i in res.inversions()]))
    return out


def scaling(config: dict, ctx) -> dict:
    """Job "scaling": phi(P) and Eq. 12 for the base architecture, and phi_inf on
    the depth x width grid when "depths" and/or "widths" are given."""
    cfg, opts = split(config, OPTIONS)
    P = [int(p) for p in opts["n_trains"]]
    if len(P) < 3:
        raise ConfigError("n_trains", opts["n_trains"],
                          "at least three training-set sizes (Eq. 12 has three parameters)")
    grid = [(d, w) for d in (opts["depths"] or [cfg.depth]) for w in (opts["widths"] or [cfg.width])]
    if (cfg.depth, cfg.width) not in grid:
        grid.insert(0, (cfg.depth, cfg.width))
    steps = Steps(ctx, len(grid) * len(P) * (cfg.epochs + 1))
    out, rows = {"kind": "scaling"}, []
    # every (depth, width, P) is an independent piece: listed at once, so an executor
    # can run them side by side; phi needs the curves only, not S(t)
    cells = [cfg.replace(depth=int(d), width=int(w), layer=min(cfg.layer, int(d) - 1)) for d, w in grid]
    pieces = [Rows(c.replace(n_train=int(p)).validate(), c.seed_list, masks=False,
                   label=f"depth {c.depth}, width {c.width}, P = {p}") for c in cells for p in P]
    ensembles = iter(run_pieces(steps, pieces))
    for d, w in grid:
        phis = [np.array([i.phi for i in next(ensembles).result.inversions()]) for _ in P]
        fit = phi_scaling(P, phis, int(opts["n_boot"]), int(opts["boot_seed"]))
        rows += [{"depth": d, "width": w, **pt} for pt in fit["points"]]
        cell = {"depth": int(d), "width": int(w), "phi_inf": fit["phi_inf"], "phi_inf_err": fit["phi_inf_err"],
                "P0": fit["P0"], "gamma": fit["gamma"]}
        out.setdefault("grid", []).append(cell)
        if (d, w) == (cfg.depth, cfg.width):
            out.update(fit)
    ctx.put_artifact("phi", rows)
    if len(grid) > 1:
        ctx.put_artifact("phi_inf_grid", out["grid"])
    return out
