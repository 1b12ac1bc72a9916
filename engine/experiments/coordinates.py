"""Fig. 1a, 1c-f, 3a, 3c-d: the dynamics in training-error coordinates, initial vs
final geometry, and overlays of variants (disjoint blocks, optimisers, datasets,
depths, activations, randomised labels).

Epochs are not comparable across runs (an optimiser or a dataset changes the
speed), training error is: t(eps) = first epoch with train error <= eps maps each
run onto the same axis, so R+-, D and the errors are reported at t(eps) on one
fixed eps grid shared by every variant.
"""
from __future__ import annotations

import itertools

import numpy as np

from engine.geometry.curves import CURVES, METRICS
from engine.analysis.results import RunResult
from engine.analysis.stragglers import epoch_at_error
from engine.config import parse_overrides, typed_value
from engine.planning.estimate import Phase
from engine.experiments.context import Steps, split
from engine.experiments.pieces import Rows, run_pieces
from engine.experiments.verdicts import HORIZON, max_epochs, verdict_fields

DEFAULT_EPSILONS = tuple(float(e) for e in np.geomspace(0.4, 1e-3, 28).round(6))
OPTIONS = {"epsilons": list(DEFAULT_EPSILONS), "variants": {}, "horizon": HORIZON}


def epsilon_grid(train_error: np.ndarray, n_points: int) -> tuple[np.ndarray, np.ndarray]:
    """eps on log-spaced epochs: eps_k = median over seeds of the training error at
    epoch t_k, t_k log-spaced in 1..T. Only eps > 0 are kept (S(t(0)) is empty).
    Returns (epsilons decreasing, the epochs t_k)."""
    T = train_error.shape[1] - 1
    epochs = np.unique(np.geomspace(1, max(T, 1), n_points).round().astype(int))
    eps = np.nanmedian(train_error[:, epochs], axis=0)
    keep = eps > 0
    eps, epochs = eps[keep], epochs[keep]
    eps, first = np.unique(eps, return_index=True)  # two epochs at the same error: keep the first
    return eps[::-1], epochs[first][::-1]


def epochs_at(result: RunResult, epsilons) -> np.ndarray:
    """t(eps) per seed and eps, (R, K) int, -1 where the run never got that low."""
    err = result.curves["train_error"]
    return np.array([[-1 if (t := epoch_at_error(err[r, :result.epochs_done + 1], e)) is None else t
                      for e in epsilons] for r in range(len(err))])


def at_epsilon(result: RunResult, epsilons) -> dict:
    """Every curve at t(eps): name -> (R, K), NaN where t(eps) was not reached;
    'epoch' -> (R, K) t(eps) (-1 when not reached)."""
    t = epochs_at(result, epsilons)
    rows = np.arange(len(t))[:, None]
    out = {"epoch": t}
    for c in CURVES:
        vals = result.curves[c][rows, np.maximum(t, 0)]
        if c == "test_error":  # the test set may be evaluated every k epochs: nearest earlier one
            vals = _last_tested(result.curves[c], np.maximum(t, 0))
        out[c] = np.where(t >= 0, vals, np.nan)
    return out


def _last_tested(curve: np.ndarray, t: np.ndarray) -> np.ndarray:
    out = np.full(t.shape, np.nan)
    for r in range(len(curve)):
        tested = np.flatnonzero(np.isfinite(curve[r]))
        for k, e in enumerate(t[r]):
            before = tested[tested <= e]
            out[r, k] = curve[r, before[-1]] if len(before) else np.nan
    return out


def geometry_summary(result: RunResult) -> dict:
    """Per seed: the verdict (state, t* and phi where curves turned), R+-, D at
    initialisation, at each extremum (Eq. 10, raw) and at the end (Fig. 1c-d)."""
    invs = result.inversions()
    last = result.epochs_done
    out = {
        **verdict_fields(invs),
        "turns": {m: [i.turns[m] for i in invs] for m in METRICS},
        "extremum": {m: [i.extremum[m] for i in invs] for m in METRICS},
        # how far each curve moved from its initial value to its extremum: near zero
        # for the radii under randomised labels
        "excursion": {m: [abs(result.curves[m][r, i.extremum[m]] - result.curves[m][r, 0])
                          for r, i in enumerate(invs)] for m in METRICS},
        "initial": {m: result.curves[m][:, 0].tolist() for m in METRICS},
        "final": {m: result.curves[m][:, last].tolist() for m in METRICS},
        "at_extremum": {m: [result.curves[m][r, i.extremum[m]] for r, i in enumerate(invs)] for m in METRICS},
        "final_train_error": result.curves["train_error"][:, last].tolist(),
        "final_test_error": result.curves["test_error"][:, last].tolist(),
        "epochs": int(last),
    }
    out["inversion_fraction"] = float(np.mean(out["inversion_present"]))
    return out


def variants_from(vary: list[str] = (), variant: list[str] = ()) -> dict:
    """--vary key=v1,v2 (repeatable: the product of all) and --variant name:key=v,...
    -> {name: overrides}. No variant at all means the base run alone."""
    axes = []
    for spec in vary:
        key, _, values = spec.partition("=")
        axes.append([(key.strip(), typed_value(key.strip(), v.strip())) for v in values.split(",") if v.strip()])
    out = {}
    for combo in itertools.product(*axes) if axes else []:
        out[",".join(f"{k}={v}" for k, v in combo)] = dict(combo)
    for spec in variant:
        name, _, body = spec.partition(":")
        out[name.strip()] = parse_overrides(body, "variant")
    return out


def _configs(base, opts) -> dict:
    return {name: base.replace(**ov).validate() for name, ov in (opts["variants"] or {"base": {}}).items()}


def phases(base, opts) -> list[Phase]:
    """One ensemble per variant, each on its own data."""
    return [Phase(f"variant {name}", cfg, cfg.seeds) for name, cfg in _configs(base, opts).items()]


def compare(config: dict, ctx) -> dict:
    """Job "compare": the base run, or each variant, in epoch and eps coordinates;
    each trained until its verdict is determined (at most horizon x its epochs)."""
    base, opts = split(config, OPTIONS)
    configs = _configs(base, opts)
    steps = Steps(ctx, phases(base, opts))
    eps = [float(e) for e in opts["epsilons"]]
    out, by_epoch, by_eps = {}, [], []
    # each variant is an independent piece (side by side under an executor); the live
    # view streams the run only when there is one
    pieces = [Rows(cfg, cfg.seed_list, stream=len(configs) == 1, label=f"variant {name}",
                   max_epochs=max_epochs(cfg.epochs, opts["horizon"]))
              for name, cfg in configs.items()]
    for (name, cfg), ens in zip(configs.items(), run_pieces(steps, pieces)):
        res = ens.result
        out[name] = {"config": cfg.to_dict(), **geometry_summary(res)}
        by_epoch += _epoch_rows(name, res, ens.seeds)
        table = at_epsilon(res, eps)
        by_eps += [{"variant": name, "seed": int(s), "epsilon": e, **{c: table[c][r, k] for c in table}}
                   for r, s in enumerate(ens.seeds) for k, e in enumerate(eps)]
        out[name]["epsilon_means"] = {c: _column_means(table[c]) for c in CURVES}
    ctx.put_artifact("curves_epoch", by_epoch)
    ctx.put_artifact("curves_epsilon", by_eps)
    return {"kind": "compare", "epsilons": eps, "variants": out}


def _column_means(values: np.ndarray) -> list:
    """Mean over the seeds that reached each eps; NaN where none did."""
    n = np.isfinite(values).sum(0)
    return np.where(n > 0, np.nansum(values, 0) / np.maximum(n, 1), np.nan).tolist()


def _epoch_rows(name: str, res: RunResult, seeds) -> list[dict]:
    return [{"variant": name, "seed": int(s), "epoch": t, **{c: res.curves[c][r, t] for c in CURVES}}
            for r, s in enumerate(seeds) for t in range(res.epochs_done + 1)]
