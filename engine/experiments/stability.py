"""Fig. 2d: how stable are the sets S(t(eps)) across initialisations (Eq. 11)?

For two seeds the overlap is M = |S0 & S1|. The null M^ is the overlap of two
random subsets of the training set with the same sizes: hypergeometric, with
population P, |S0| successes and |S1| draws. Over all seed pairs
    z = (<M> - <M^>) / sigma_M,
sigma_M the standard deviation of M over the pairs. `z_null` divides by the null's
standard deviation instead (defined even for a single pair). Cross-architecture:
the pairs are (seed of architecture A, seed of architecture B) at the same eps.

The eps grid: n_grid points on log-spaced epochs, plus eps = mean phi (the training
error at the inversion, over the seeds where it is present) and a dense grid around
it (DENSE points between phi/2 and 2 phi, log-spaced), so that "z is maximal at t*"
is tested where it matters; the result states the grid's resolution there. S(t*)
pairs only the seeds with an inversion.
"""
from __future__ import annotations

import numpy as np

from engine.data.dataset import prepare
from engine.analysis.stragglers import stragglers_at, stragglers_at_error, with_inversion
from engine.config import parse_overrides
from engine.planning.estimate import Phase
from engine.experiments.context import Steps, split
from engine.experiments.coordinates import epochs_at, epsilon_grid
from engine.experiments.ensemble import run_rows
from engine.experiments.pieces import Rows, run_pieces
from engine.experiments.verdicts import HORIZON, max_epochs, verdict_fields

OPTIONS = {"epsilons": None, "n_grid": 16, "other": None, "dense": 12, "horizon": HORIZON}


def overlap_matrix(S: np.ndarray, T: np.ndarray | None = None) -> np.ndarray:
    """M[i, j] = |S_i & T_j| (T = S: the seed-by-seed matrix, |S_i| on the diagonal)."""
    S = S.astype(np.int64)
    T = S if T is None else T.astype(np.int64)
    return S @ T.T


def hypergeom_moments(P: int, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of |A ∩ B| for a random b-subset B of P points against a
    fixed a-subset A: scipy.stats.hypergeom(P, a, b).mean()/.var() in closed form
    (scipy's frozen distribution also computes skew and kurtosis, and warns where
    they are undefined)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    mean = a * b / P
    var = mean * (P - a) / P * (P - b) / max(P - 1, 1)
    return mean, var


def z_score(S: np.ndarray, T: np.ndarray | None = None) -> dict:
    """Eq. 11 over the pairs i < j of S (T None) or all pairs (S_i, T_j)."""
    P = S.shape[1]
    M = overlap_matrix(S, T)
    na, nb = S.sum(1), (S if T is None else T).sum(1)
    i, j = np.triu_indices(len(S), 1) if T is None else np.indices(M.shape).reshape(2, -1)
    m = M[i, j].astype(float)
    null_mean, null_var = hypergeom_moments(P, na[i], nb[j])
    gap = m.mean() - null_mean.mean() if len(m) else np.nan
    sigma_m = m.std() if len(m) > 1 else np.nan
    sigma_null = np.sqrt(null_var.mean()) if len(m) else np.nan
    size = (na[i] + nb[j]) / 2
    return {
        "z": _ratio(gap, sigma_m),
        "z_null": _ratio(gap, sigma_null),
        "overlap_mean": float(m.mean()) if len(m) else np.nan,
        "overlap_std": float(sigma_m),
        "null_mean": float(null_mean.mean()) if len(m) else np.nan,
        "null_std": float(sigma_null),
        # fraction of a straggler set shared with another seed's, and what chance gives
        "overlap_fraction": float(np.mean(np.where(size > 0, m / np.maximum(size, 1), np.nan))) if len(m) else np.nan,
        "null_fraction": float(np.mean(np.where(size > 0, null_mean / np.maximum(size, 1), np.nan)))
        if len(m) else np.nan,
        "set_size_mean": float(np.mean(np.concatenate([na, nb]))) if len(na) + len(nb) else np.nan,
        "n_pairs": int(len(m)),
    }


def _ratio(num, den) -> float:
    """NaN rather than infinity when the spread is zero (e.g. a single pair)."""
    return float(num / den) if np.isfinite(num) and np.isfinite(den) and den > 0 else float("nan")


def _other(cfg, opts):
    """The RunConfig of the other architecture (option "other": overrides such as
    "model=cnn" or a dict), or None."""
    other = opts["other"]
    other = parse_overrides(other, "other") if isinstance(other, str) else (other or None)
    return cfg.replace(**other).validate() if other else None


def phases(cfg, opts) -> list[Phase]:
    """The base run, then the other architecture's on the same data."""
    other = _other(cfg, opts)
    return [Phase("base run", cfg, cfg.seeds)] + ([Phase("other architecture", other, other.seeds)] if other else [])
def epsilon_around(phi: float, n: int) -> np.ndarray:
    """n log-spaced eps between phi/2 and 2 phi, phi itself included (decreasing)."""
    if not (np.isfinite(phi) and phi > 0) or n < 1:
        return np.zeros(0)
    return np.unique(np.concatenate([np.geomspace(phi / 2, 2 * phi, n), [phi]]))[::-1]


def stability(config: dict, ctx) -> dict:
    """Job "stability" (Fig. 2d): z vs eps, the eps of maximal z, z at eps = mean phi
    beside z at each seed's own t*, the overlap matrix there and at t*, and (option
    "other": run overrides such as {"model": "cnn"}) the cross-architecture z."""
    cfg, opts = split(config, OPTIONS)
    other_cfg = _other(cfg, opts)
    steps = Steps(ctx, phases(cfg, opts))
    data = prepare(cfg)
    res = run_pieces(steps, [Rows(cfg, cfg.seed_list, stream=True, label="base run",
                                  max_epochs=max_epochs(cfg.epochs, opts["horizon"]))], data)[0].result
    verdict = verdict_fields(res.inversions())
    phi = verdict["phi_mean"] if verdict["phi_mean"] is not None else float("nan")
    if opts["epsilons"]:
        eps = np.array(sorted((float(e) for e in opts["epsilons"]), reverse=True))
    else:
        eps, _ = epsilon_grid(res.curves["train_error"], int(opts["n_grid"]))
        eps = np.unique(np.concatenate([eps, epsilon_around(phi, int(opts["dense"]))]))[::-1]
    t_eps = epochs_at(res, eps)
    sets = [stragglers_at_error(res, e) for e in eps]
    points = [{"epsilon": float(e), "epoch": float(np.mean(np.where(t_eps[:, k] >= 0, t_eps[:, k], res.epochs_done))),
               **z_score(sets[k])} for k, e in enumerate(eps)]
    finite = [k for k, p in enumerate(points) if np.isfinite(p["z"])]
    best = max(finite, key=lambda k: points[k]["z"]) if finite else 0
    rows = with_inversion(res)
    S_star = stragglers_at(res)[rows]
    out = {
        "kind": "stability",
        "points": points,
        "best": {"epsilon": points[best]["epsilon"], "z": points[best]["z"], "epoch": points[best]["epoch"]},
        "t_star": z_score(S_star),  # each seed with an inversion at its own t*
        "phi": _at_phi(points, phi),
        "inversion": {k: verdict[k] for k in ("state", "states", "n_present", "phi_mean", "phi_std")},
        "epochs": int(res.epochs_done),
    }
    ctx.put_artifact("stability", points)
    ctx.put_artifact("overlap_matrix_best", _matrix_rows(overlap_matrix(sets[best]), cfg.seed_list))
    seeds_star = [s for s, r in zip(cfg.seed_list, rows) if r]
    ctx.put_artifact("overlap_matrix_t_star", _matrix_rows(overlap_matrix(S_star), seeds_star))
    out["overlap_matrix_t_star"] = overlap_matrix(S_star).tolist()
    out["t_star_seeds"] = seeds_star
    if other_cfg is not None:
        out["cross"] = cross_architecture(res, other_cfg, eps, steps, opts["horizon"])
        ctx.put_artifact("cross", out["cross"]["points"])
    return out


def _at_phi(points: list[dict], phi: float) -> dict:
    """z at eps = mean phi and the grid's resolution there: the ratio between phi and
    its nearest grid neighbours (1.06 = the next eps is 6 % away)."""
    eps = np.array([p["epsilon"] for p in points])
    if not np.isfinite(phi) or not len(eps):
        return {"epsilon": None, "z": None, "resolution": None, "best_within": None}
    k = int(np.argmin(np.abs(np.log(eps / phi))))
    others = np.delete(eps, k)
    ratio = float(np.min(np.abs(np.log(others / eps[k])))) if len(others) else float("nan")
    z = [p["z"] for p in points]
    best = int(np.nanargmax(z)) if np.isfinite(z).any() else None
    return {"epsilon": float(eps[k]), "z": points[k]["z"], "epoch": points[k]["epoch"],
            "resolution": float(np.exp(ratio)) if np.isfinite(ratio) else None,
            # the best eps in units of phi: 1.0 = "z is maximal at the inversion"
            "best_within": float(eps[best] / phi) if best is not None else None}


def cross_architecture(res, other_cfg, eps, steps=None, horizon=HORIZON) -> dict:
    """Stragglers of the base run against those of `other_cfg` (same data, P and
    block), at each eps and at each run's own t* (seeds with an inversion)."""
    data = prepare(other_cfg)
    if data.n_train != res.n_train:
        raise ValueError("cross-architecture z needs the same training set in both runs")
    o = run_rows(other_cfg, data, other_cfg.seed_list, steps=steps,
                 max_epochs=max_epochs(other_cfg.epochs, horizon)).result
    points = [{"epsilon": float(e), **z_score(stragglers_at_error(res, e), stragglers_at_error(o, e))} for e in eps]
    v = verdict_fields(o.inversions())
    mine, theirs = stragglers_at(res)[with_inversion(res)], stragglers_at(o)[with_inversion(o)]
    return {"other": other_cfg.to_dict(), "points": points,
            "other_inversion_fraction": float(np.mean(v["inversion_present"])),
            "other_phi_mean": v["phi_mean"], "other_states": v["states"],
            "t_star": z_score(mine, theirs),
            "within_other_t_star": z_score(theirs)}


def _matrix_rows(M: np.ndarray, seeds) -> list[dict]:
    return [{"seed": int(s), **{f"seed_{int(t)}": int(M[a, b]) for b, t in enumerate(seeds)}}
            for a, s in enumerate(seeds)]
