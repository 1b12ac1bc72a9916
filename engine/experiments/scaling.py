"""Fig. 3b, 3e: the training error at the inversion, phi, against the training-set
size P, and its asymptote phi_inf (Eq. 12):

    phi(P) = phi_inf [1 - (P / P0)^(-gamma)],

fitted with scipy.optimize.curve_fit on the seed means, weighted by their standard
errors (SEM). phi per seed comes from the seeds whose inversion is present
(engine.geometry); a size with none is left out of the fit and said so.

The uncertainty of phi_inf (1 sigma) is the larger of two: the spread of refits on
bootstrap resamples of the seeds (for each P the seeds are drawn with replacement),
and the fit's own standard error, inflated by sqrt(chi2 / dof) when the means
scatter about the law more than their SEMs allow (3 parameters on 4 points leave
one degree of freedom: the bootstrap alone under-states it ten-fold). The paper's
boxes (Fig. 3b, 3e) are 2 sigma: `phi_inf_2sigma`.
"""
from __future__ import annotations

import warnings

import numpy as np
from scipy.optimize import OptimizeWarning, curve_fit

from engine.config import ConfigError
from engine.planning.estimate import Phase
from engine.experiments.context import Steps, split
from engine.experiments.pieces import Rows, run_pieces
from engine.experiments.verdicts import HORIZON, max_epochs, verdict_fields

OPTIONS = {"n_trains": [4096, 8192, 16384, 32768], "n_boot": 200, "boot_seed": 0,
           "depths": None, "widths": None, "horizon": HORIZON}
ERROR_SIGMA = 1  # phi_inf_err is 1 sigma; phi_inf_2sigma is the paper's box


def phi_law(P, phi_inf, P0, gamma):
    return phi_inf * (1.0 - (np.asarray(P, float) / P0) ** (-gamma))


def _log_law(P, phi_inf, log_P0, gamma):
    # P0 is fitted on a log scale: sizes span decades, the optimiser steps do not
    return phi_law(P, phi_inf, np.exp(log_P0), gamma)


def fit_phi(P, phi, sem=None) -> dict:
    """Least-squares fit of Eq. 12, weighted by `sem` (one per P) when given; NaNs if
    it does not converge. phi_inf_fit_err: the fit's standard error, from the SEMs
    (inflated by sqrt(chi2/dof) when that is > 1), or from the residuals unweighted."""
    P, phi = np.asarray(P, float), np.asarray(phi, float)
    nan = {"phi_inf": np.nan, "P0": np.nan, "gamma": np.nan, "phi_inf_fit_err": np.nan, "chi2_dof": np.nan}
    if len(P) < 3:
        return nan
    sigma = None if sem is None else np.asarray(sem, float)
    p0 = (1.2 * phi.max(), np.log(P.min() / 2), 1.0)
    bounds = ([0.0, np.log(1e-3), 1e-3], [1.0, np.log(P.min() * (1 - 1e-9)), 10.0])
    try:
        with warnings.catch_warnings():  # 3 parameters on 3-4 points: the covariance may be undefined
            warnings.simplefilter("ignore", OptimizeWarning)
            (phi_inf, log_P0, gamma), cov = curve_fit(_log_law, P, phi, p0=p0, bounds=bounds, maxfev=20000,
                                                      sigma=sigma, absolute_sigma=sigma is not None)
    except (RuntimeError, ValueError):
        return nan
    dof = len(P) - 3
    resid = phi - _log_law(P, phi_inf, log_P0, gamma)
    chi2_dof = float(np.sum((resid / sigma) ** 2) / dof) if sigma is not None and dof > 0 else np.nan
    err = float(np.sqrt(cov[0, 0])) if np.isfinite(cov[0, 0]) else np.nan
    if np.isfinite(chi2_dof) and chi2_dof > 1:
        err *= np.sqrt(chi2_dof)  # the law misses the points by more than their SEMs
    return {"phi_inf": float(phi_inf), "P0": float(np.exp(log_P0)), "gamma": float(gamma),
            "phi_inf_fit_err": err, "chi2_dof": chi2_dof}


def sem_of(phi_per_seed: list) -> np.ndarray:
    """Standard error of each size's seed mean; a size with one seed borrows the
    largest SEM of the others (never a zero weight that would pin the fit)."""
    sem = np.array([np.std(v, ddof=1) / np.sqrt(len(v)) if len(v) > 1 else np.nan for v in phi_per_seed])
    fallback = np.nanmax(sem) if np.isfinite(sem).any() else 1e-3
    sem = np.where(np.isfinite(sem), sem, fallback)
    return np.maximum(sem, max(float(np.nanmax(sem)) * 1e-3, 1e-6))


def bootstrap_phi_inf(P, phi_per_seed: list, n_boot: int = 200, seed: int = 0) -> np.ndarray:
    """phi_inf refitted on n_boot resamples; phi_per_seed[k] holds the seeds' phi at P[k]."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_boot):
        draws = [rng.choice(v, size=len(v), replace=True) for v in phi_per_seed]
        out.append(fit_phi(P, [np.mean(d) for d in draws], sem_of(draws))["phi_inf"])
    return np.array(out)


def phi_scaling(P, phi_per_seed: list, n_boot: int = 200, seed: int = 0) -> dict:
    """The SEM-weighted fit on the seed means; phi_inf_err (1 sigma) = max(bootstrap
    spread, fit standard error). Sizes without any phi are left out of the fit."""
    P = [int(p) for p in P]
    phi_per_seed = [np.asarray([x for x in v if x is not None], dtype=float) for v in phi_per_seed]
    used = [k for k, v in enumerate(phi_per_seed) if len(v)]
    Pu, vu = [P[k] for k in used], [phi_per_seed[k] for k in used]
    phi_mean = [float(np.mean(v)) if len(v) else None for v in phi_per_seed]
    fit = fit_phi(Pu, [phi_mean[k] for k in used], sem_of(vu) if vu else None)
    boot = bootstrap_phi_inf(Pu, vu, n_boot, seed) if n_boot and len(Pu) >= 3 else np.array([])
    boot = boot[np.isfinite(boot)]
    boot_err = float(boot.std()) if len(boot) > 1 else np.nan
    errs = [e for e in (boot_err, fit["phi_inf_fit_err"]) if np.isfinite(e)]
    err = max(errs) if errs else np.nan
    return {
        "points": [{"n_train": p, "phi_mean": m, "phi_std": float(np.std(v)) if len(v) else None,
                    "phi_sem": float(np.std(v, ddof=1) / np.sqrt(len(v))) if len(v) > 1 else None,
                    "seeds": len(v)} for p, m, v in zip(P, phi_mean, phi_per_seed)],
        **fit,
        "phi_inf_err": err, "phi_inf_boot_err": boot_err, "phi_inf_2sigma": 2 * err,
        "error_sigma": ERROR_SIGMA, "sizes_left_out": [P[k] for k in range(len(P)) if k not in used],
        "n_boot_converged": int(len(boot)),
    }


def _sizes_and_grid(cfg, opts) -> tuple[list[int], list[tuple]]:
    P = [int(p) for p in opts["n_trains"]]
    if len(P) < 3:
        raise ConfigError("n_trains", opts["n_trains"],
                          "at least three training-set sizes (Eq. 12 has three parameters)")
    grid = [(d, w) for d in (opts["depths"] or [cfg.depth]) for w in (opts["widths"] or [cfg.width])]
    if (cfg.depth, cfg.width) not in grid:
        grid.insert(0, (cfg.depth, cfg.width))
    return P, grid


def _cell(cfg, d, w):
    return cfg.replace(depth=int(d), width=int(w), layer=min(cfg.layer, int(d) - 1))


def phases(cfg, opts) -> list[Phase]:
    """One run per size P and grid cell; after each cell's last size, the Eq. 12 fit
    and its bootstrap refits."""
    P, grid = _sizes_and_grid(cfg, opts)
    return [Phase(f"L={d}, H={w}, P={p}", _cell(cfg, d, w).replace(n_train=p).validate(), cfg.seeds,
                  fits=int(opts["n_boot"]) + 1 if k == len(P) - 1 else 0)
            for d, w in grid for k, p in enumerate(P)]


def scaling(config: dict, ctx) -> dict:
    """Job "scaling": phi(P) and Eq. 12 for the base architecture, and phi_inf on
    the depth x width grid when "depths" and/or "widths" are given."""
    cfg, opts = split(config, OPTIONS)
    P, grid = _sizes_and_grid(cfg, opts)
    steps = Steps(ctx, phases(cfg, opts))
    out, rows = {"kind": "scaling"}, []
    # every (depth, width, P) is an independent piece: listed at once, so an executor
    # can run them side by side; phi needs the curves only, not S(t)
    cells = [_cell(cfg, d, w) for d, w in grid]
    pieces = [Rows(c.replace(n_train=int(p)).validate(), c.seed_list, masks=False,
                   label=f"depth {c.depth}, width {c.width}, P = {p}",
                   max_epochs=max_epochs(c.epochs, opts["horizon"])) for c in cells for p in P]
    ensembles = iter(run_pieces(steps, pieces))
    for d, w in grid:
        phis, states = [], []
        for _ in P:  # phi per seed with an inversion, and each size's state counts
            v = verdict_fields(next(ensembles).result.inversions())
            phis.append(np.array([p for p, ok in zip(v["phi"], v["inversion_present"]) if ok], dtype=float))
            states.append(v["states"])
        fit = phi_scaling(P, phis, int(opts["n_boot"]), int(opts["boot_seed"]))
        for pt, st in zip(fit["points"], states):  # "seeds" counts those with an inversion
            pt.update({f"seeds_{k}": n for k, n in st.items() if k != "present"})
        rows += [{"depth": d, "width": w, **pt} for pt in fit["points"]]
        cell = {"depth": int(d), "width": int(w), "phi_inf": fit["phi_inf"], "phi_inf_err": fit["phi_inf_err"],
                "phi_inf_2sigma": fit["phi_inf_2sigma"], "P0": fit["P0"], "gamma": fit["gamma"]}
        out.setdefault("grid", []).append(cell)
        if (d, w) == (cfg.depth, cfg.width):
            out.update(fit)
    ctx.put_artifact("phi", rows)
    if len(grid) > 1:
        ctx.put_artifact("phi_inf_grid", out["grid"])
    return out
