"""Fig. 2a-c: retrain from the SAME initialisation on T minus a set of points.

Fig. 2a ("prune"): remove S(t*) (the stragglers), S(t) for an epoch before and
one after t*, and random subsets of the same sizes; does the inversion survive?
Fig. 2b-c ("sweep"): for eps on a grid, remove S(t(eps)) or a random set of the
same size, retrain to convergence and record the asymptotic geometry and the
errors on the clean test set and on noisy copies of it (sigma grid).

Every retrain of an experiment is a row of ONE batched ensemble: the seed is
repeated once per variant and each row masks its own removed points. Every ensemble
trains until no row is undetermined (at most `horizon` x its epochs, verdicts.py):
a curve still moving at the end is reported "undetermined", never "no inversion".
Fig. 2a uses only the seeds whose base run shows an inversion: the others have no
t*, hence no S(t*) to remove.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from engine.data.dataset import prepare, with_noise
from engine.geometry.curves import CURVES, METRICS
from engine.analysis.stragglers import stragglers_at_error
from engine.planning.estimate import Phase
from engine.experiments.context import Steps, split
from engine.experiments.coordinates import epochs_at, epsilon_grid
from engine.experiments.ensemble import errors_on, last_values
from engine.experiments.pieces import Rows, run_pieces
from engine.experiments.verdicts import HORIZON, NoInversion, max_epochs, verdict_fields

PRUNE_OPTIONS = {"prune_epochs": None, "retrain_epochs": None, "random_seed": 12345, "horizon": HORIZON}
SWEEP_OPTIONS = {"epsilons": None, "n_grid": 8, "sigmas": [0.0, 0.5, 0.75, 1.0, 1.2, 1.5],
                 "retrain_epochs": None, "random_seed": 12345, "noise_seed": 0, "horizon": HORIZON}


def random_like(removed: np.ndarray, seeds, tag: int) -> np.ndarray:
    """For each row, a uniformly random subset of the training set with as many
    points as removed[row]: the control of equal size. Its own generator per
    (seed, tag) so a control does not depend on which other variants ran."""
    out = np.zeros_like(removed, dtype=bool)
    P = removed.shape[1]
    for r, (seed, n) in enumerate(zip(seeds, removed.sum(1))):
        rng = np.random.default_rng([int(tag), int(seed)])
        out[r, rng.choice(P, size=int(n), replace=False)] = True
    return out


def noisy_test(data, sigma: float, seed: int) -> np.ndarray:
    """The test set plus sigma times ONE noise draw (same seed for every sigma), so
    the error against sigma is a smooth curve, not one draw per point."""
    return with_noise(data.x_test, float(sigma), seed=seed)


def retrain(config, data, seeds, removed: dict, steps=None, sigmas=(), noise_seed=0, horizon=HORIZON) -> dict:
    """Retrain every (variant, seed) from seed's initialisation on T minus
    removed[variant][row], all as one ensemble, until no row is undetermined (at most
    horizon x config.epochs). Returns per variant: per-seed lists of the final
    numbers and verdicts; "rows": its rows in "result"."""
    names = list(removed)
    R = len(seeds)
    all_seeds = np.tile(np.asarray(seeds), len(names))
    include = ~np.concatenate([removed[n] for n in names])
    # one ensemble here; one piece per variant where an executor fans them out. With a
    # horizon the ensemble trains on while any row is undetermined, and the verdicts
    # depend on the run's length: split variants would stop at other epochs than the one
    # ensemble does, so a piece with a horizon stays whole (same numbers everywhere)
    cap = max_epochs(config.epochs, horizon)
    whole = Rows(config, list(all_seeds), include, label="retrain", max_epochs=cap,
                 parts=[slice(v * R, (v + 1) * R) for v in range(len(names))] if cap == config.epochs else [])
    ens = run_pieces(steps, [whole], data)[0]
    res = ens.result
    invs = res.inversions()
    finals = {c: last_values(res, c) for c in CURVES}
    noisy = {float(s): errors_on(config, data, ens.final_params(), noisy_test(data, s, noise_seed), data.y_test)
             for s in sigmas}
    out, blocks = {}, {}
    for v, name in enumerate(names):
        rows = blocks[name] = slice(v * R, (v + 1) * R)
        out[name] = {
            "seeds": [int(s) for s in seeds],
            "n_removed": removed[name].sum(1).astype(int).tolist(),
            "epochs": int(res.epochs_done),
            **verdict_fields(invs[rows]),
            **{f"final_{c}": finals[c][rows].tolist() for c in CURVES},
            "noisy_test_error": {str(s): e[rows].tolist() for s, e in noisy.items()},
        }
    return {"variants": out, "rows": blocks, "result": res}


def _prune_retrain(cfg, opts):
    return cfg.replace(epochs=int(opts["retrain_epochs"] or cfg.epochs))


def prune_variants(prune_epochs) -> int:
    """S(t*), S(t) at each distinct epoch (default: two, before and after t*), and a
    random set of the same size for each."""
    return 2 * (1 + (len({int(t) for t in prune_epochs}) if prune_epochs else 2))


def prune_phases(cfg, opts) -> list[Phase]:
    """The base run, then every variant's retrain as rows of one ensemble."""
    n = prune_variants(opts["prune_epochs"])
    return [Phase("base run", cfg, cfg.seeds),
            Phase(f"retrain, {n} variants", _prune_retrain(cfg, opts), n * cfg.seeds, loads_data=False)]


def prune(config: dict, ctx) -> dict:
    """Job "prune" (Fig. 2a)."""
    cfg, opts = split(config, PRUNE_OPTIONS)
    retrain_cfg = _prune_retrain(cfg, opts)
    data = prepare(cfg)
    plan = prune_phases(cfg, opts)
    steps = Steps(ctx, plan)
    base = run_pieces(steps, [Rows(cfg, cfg.seed_list, stream=True, label="base run",
                                   max_epochs=max_epochs(cfg.epochs, opts["horizon"]))], data)[0].result
    invs = base.inversions()
    use = np.array([i.present for i in invs])
    if not use.any():
        raise NoInversion("no seed of the base run shows an inversion (states: "
                         + ", ".join(i.state for i in invs) + "), so there is no S(t*) to remove; "
                         "run longer (--epochs, --horizon) or check the run")
    seeds = [int(s) for s, u in zip(cfg.seed_list, use) if u]
    t_star = np.array([i.straggler_epoch for i in invs if i.present])
    removed = {"stragglers": _rows(base, use, t_star)}
    epochs = opts["prune_epochs"] or _before_after(t_star, base.epochs_done)
    for t in sorted({int(t) for t in epochs}):
        removed[f"s_t{t}"] = _rows(base, use, min(t, base.epochs_done))
    for k, name in enumerate(list(removed)):
        control = "random" if name == "stragglers" else "random_" + name[2:]
        removed[control] = random_like(removed[name], seeds, opts["random_seed"] + k)
    # the seeds without an inversion are left out, and the default epochs t*/3 and 3 t* can
    # coincide on a short run: fewer rows than planned
    steps.replan(1, dataclasses.replace(plan[1], rows=len(removed) * len(seeds)))
    fit = retrain(retrain_cfg, data, seeds, removed, steps=steps, horizon=opts["horizon"])
    variants = {"full": _base_variant(base, invs)}
    curves = _mean_curves("full", base, slice(0, len(cfg.seed_list)))
    for name, v in fit["variants"].items():
        curves += _mean_curves(name, fit["result"], fit["rows"][name])
        variants[name] = v
    ctx.put_artifact("curves", curves)
    ctx.put_artifact("seed_curves", _seed_curves(base, fit, seeds))
    return {"kind": "prune", "t_star": t_star.tolist(), "prune_epochs": sorted({int(t) for t in epochs}),
            "seeds_used": seeds, "seeds_left_out": {str(s): i.state for s, i in zip(cfg.seed_list, invs)
                                                     if not i.present},
            "base_epochs": int(base.epochs_done), "retrain_epochs": fit["variants"]["stragglers"]["epochs"],
            "variants": variants}


def _sweep_retrain(cfg, opts):
    retrain_cfg = cfg.replace(epochs=int(opts["retrain_epochs"] or cfg.epochs))
    # only the asymptotic test error matters here: evaluate the clean test set at the end
    return retrain_cfg.replace(test_every=retrain_cfg.epochs)


def sweep_phases(cfg, opts) -> list[Phase]:
    """The base run, then S(t(ε)) and a random set for each ε as rows of one ensemble
    (at most n_grid ε values when none are given: the grid drops repeated errors),
    each also tested on the noisy copies of the test set, as the base run is."""
    n_eps = len(opts["epsilons"]) if opts["epsilons"] else int(opts["n_grid"])
    sigmas = len(opts["sigmas"])
    return [Phase("base run", cfg, cfg.seeds, test_passes=sigmas),
            Phase(f"retrain, {2 * n_eps} variants", _sweep_retrain(cfg, opts), 2 * n_eps * cfg.seeds,
                  loads_data=False, test_passes=sigmas)]
def _rows(base, use: np.ndarray, epochs) -> np.ndarray:
    """S(t) of the seeds in use, (n_used, P): t one epoch or one per used seed."""
    ep = np.zeros(len(use), dtype=int)
    ep[use] = epochs
    return base.misclassified(ep)[use]


def sweep(config: dict, ctx) -> dict:
    """Job "sweep" (Fig. 2b-c)."""
    cfg, opts = split(config, SWEEP_OPTIONS)
    retrain_cfg = _sweep_retrain(cfg, opts)
    data = prepare(cfg)
    seeds = cfg.seed_list
    plan = sweep_phases(cfg, opts)
    steps = Steps(ctx, plan)
    base_ens = run_pieces(steps, [Rows(cfg, seeds, stream=True, label="base run",
                                       max_epochs=max_epochs(cfg.epochs, opts["horizon"]))], data)[0]
    base = base_ens.result
    if opts["epsilons"]:
        eps = np.array(sorted((float(e) for e in opts["epsilons"]), reverse=True))
    else:
        eps, _ = epsilon_grid(base.curves["train_error"], int(opts["n_grid"]))
    removed = {}
    for k, e in enumerate(eps):
        removed[f"stragglers_{k}"] = stragglers_at_error(base, e)
        removed[f"random_{k}"] = random_like(removed[f"stragglers_{k}"], seeds, opts["random_seed"] + k)
    sigmas = [float(s) for s in opts["sigmas"]]
    steps.replan(1, dataclasses.replace(plan[1], rows=len(removed) * len(seeds)))
    fit = retrain(retrain_cfg, data, seeds, removed, steps=steps, sigmas=sigmas, noise_seed=opts["noise_seed"],
                  horizon=opts["horizon"])
    full_noisy = {str(s): errors_on(cfg, data, base_ens.final_params(), noisy_test(data, s, opts["noise_seed"]),
                                    data.y_test).tolist() for s in sigmas}
    t_eps = epochs_at(base, eps)
    points, rows = [], []
    for k, e in enumerate(eps):
        point = {"epsilon": float(e), "epoch_mean": float(np.mean(np.where(t_eps[:, k] >= 0, t_eps[:, k],
                                                                             base.epochs_done)))}
        for kind in ("stragglers", "random"):
            v = fit["variants"][f"{kind}_{k}"]
            point[kind] = _sweep_numbers(v)
            rows += _sweep_rows(e, kind, v)
        points.append(point)
    full = {"final_" + c: last_values(base, c).tolist() for c in CURVES}
    full["noisy_test_error"] = full_noisy
    full["n_removed"] = [0] * len(seeds)
    full.update(verdict_fields(base.inversions()))
    rows += _sweep_rows(0.0, "full", full)
    ctx.put_artifact("sweep", rows)
    # phi of the base run: Fig. 2b's boundary between the two phases of the asymptotic geometry
    return {"kind": "sweep", "sigmas": sigmas, "points": points,
            "full": {**_sweep_numbers(full), "phi_mean": full["phi_mean"], "n_present": full["n_present"]},
            "base_epochs": int(base.epochs_done), "retrain_epochs": int(fit["result"].epochs_done)}


def _before_after(t_star: np.ndarray, last: int) -> list[int]:
    """Default S(t) epochs for Fig. 2a: a third of the mean t* (of the seeds with an
    inversion) and three times it."""
    t = float(np.mean(t_star))
    return [max(1, int(round(t / 3))), min(last, max(int(round(3 * t)), int(round(t)) + 1))]


def _base_variant(base, invs) -> dict:
    return {"seeds": [int(s) for s in base.config.seed_list], "n_removed": [0] * len(invs),
            "epochs": int(base.epochs_done), **verdict_fields(invs),
            **{f"final_{c}": last_values(base, c).tolist() for c in CURVES}}


def _sweep_numbers(v: dict) -> dict:
    """Means over seeds of what Fig. 2b-c plots, and how many rows are in each state."""
    out = {"n_removed": float(np.mean(v["n_removed"])), "states": v.get("states")}
    for c in ("train_error", "test_error") + METRICS:
        out[c] = float(np.nanmean(v[f"final_{c}"]))
        out[c + "_std"] = float(np.nanstd(v[f"final_{c}"]))
    out["noisy_test_error"] = {s: float(np.mean(e)) for s, e in v["noisy_test_error"].items()}
    return out


def _sweep_rows(eps: float, kind: str, v: dict) -> list[dict]:
    rows = []
    for r in range(len(v["n_removed"])):
        row = {"epsilon": eps, "removed": kind, "row": r, "n_removed": v["n_removed"][r], "state": v["state"][r]}
        row.update({c: v[f"final_{c}"][r] for c in ("train_error", "test_error") + METRICS})
        row.update({f"test_error_sigma_{s}": e[r] for s, e in v["noisy_test_error"].items()})
        rows.append(row)
    return rows


def _mean_curves(name, res, rows) -> list[dict]:
    return [{"variant": name, "epoch": t, **{c: float(np.nanmean(res.curves[c][rows, t]))
                                            if np.isfinite(res.curves[c][rows, t]).any() else None for c in CURVES}}
            for t in range(res.epochs_done + 1)]


def _seed_curves(base, fit, seeds) -> list[dict]:
    out = [{"variant": "full", "seed": int(s), "epoch": t, **{c: base.curves[c][r, t] for c in CURVES}}
           for r, s in enumerate(base.config.seed_list) for t in range(base.epochs_done + 1)]
    res = fit["result"]
    for v, name in enumerate(fit["variants"]):
        for r, s in enumerate(seeds):
            row = v * len(seeds) + r
            out += [{"variant": name, "seed": int(s), "epoch": t, **{c: res.curves[c][row, t] for c in CURVES}}
                    for t in range(res.epochs_done + 1)]
    return out
