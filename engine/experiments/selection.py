"""Data selection (`select`): which points to keep? The stragglers and the classic
difficulty scores rank the training points by hardness; for each kept fraction f,
drop the hardest or the easiest (1 - f) P points by each score, or a random set as
large (the control, with its own generator), and retrain on the rest. The paper's
open question (its refs. 52-53: Sorscher et al. keep the hard examples when data is
plentiful, the easy ones when it is scarce; DeepCore finds random a strong baseline).

No leakage: the scores come from a scoring run on seeds first..first+R-1 and the
retrains use the next R' seeds, which never saw the scores' training. All the
retrains of one fraction are rows of ONE batched ensemble (pruning.retrain: the
same mask per row, a seed repeated per selector); at f = 1 every selector keeps
everything, so one full run stands for all of them. Ties in a score (forgetting
counts, correctness) are broken by a seeded random order, the same for every score.
"""
from __future__ import annotations

import numpy as np

from engine.analysis.score_table import columns
from engine.config import ConfigError
from engine.data.dataset import prepare
from engine.planning.estimate import Phase
from engine.run import Stopped, run
from engine.training.scores import HARDER, SCORES
from engine.experiments.context import Steps, split
from engine.experiments.pruning import random_like, retrain

SELECTORS = ("straggler_frequency", *SCORES)
DIRECTIONS = ("drop-hard", "drop-easy")
# the defaults are the benchmark that fits ~10 minutes on 2 cores at the paper's P = 8192: the scores
# from the run's own --seeds x --epochs (20 x 300), each selection retrained on 3 other seeds for 150
# epochs (the seeds' spread of a retrain's test error is ~0.001, far below the selectors' differences)
OPTIONS = {"fractions": [0.5, 0.7, 0.9, 1.0],  # kept fractions f
           "selectors": ["straggler_frequency", "forgetting_events", "el2n", "aum"],  # any of SELECTORS
           "directions": list(DIRECTIONS),
           "retrain_seeds": 3,       # R' seeds of every retrain (None: --seeds), after the scoring seeds
           "retrain_epochs": 150,    # None: --epochs
           "random_seed": 12345,     # the random control's generator (with each retrain seed)
           "tie_seed": 0,            # the order of points a score ties
           # 1: every retrain trains --retrain-epochs, so test errors compare at one training budget
           # (> 1 trains an ensemble on while a row's verdict is undetermined: then its rows, and
           # other fractions, differ in epochs as well as in data)
           "horizon": 1}


def _checked(opts: dict) -> dict:
    fr = [float(f) for f in opts["fractions"]]
    if not fr or any(not 0 < f <= 1 for f in fr):
        raise ConfigError("fractions", opts["fractions"], "kept fractions in (0, 1], e.g. 0.5,0.7,0.9,1")
    bad = [s for s in opts["selectors"] if s not in SELECTORS]
    if bad or not opts["selectors"]:
        raise ConfigError("selectors", bad[0] if bad else opts["selectors"], "some of " + ", ".join(SELECTORS))
    bad = [d for d in opts["directions"] if d not in DIRECTIONS]
    if bad or not opts["directions"]:
        raise ConfigError("directions", bad[0] if bad else opts["directions"], "drop-hard and/or drop-easy")
    return {**opts, "fractions": sorted(set(fr))}


def retrain_config(cfg, opts):
    """The retrains: the next seeds after the scoring run's (no leakage), no scores."""
    return cfg.replace(epochs=int(opts["retrain_epochs"] or cfg.epochs), seeds=int(opts["retrain_seeds"] or cfg.seeds),
                       seed_offset=cfg.seed_offset + cfg.seeds).validate()


def variants_at(f: float, opts: dict) -> int:
    return 1 if f >= 1 else len(opts["selectors"]) * len(opts["directions"]) + 1


def phases(cfg, opts) -> list[Phase]:
    opts = _checked(opts)
    re_cfg = retrain_config(cfg, opts)
    return [Phase("scoring run", cfg, cfg.seeds)] + [
        Phase(f"kept {f:g}", re_cfg, variants_at(f, opts) * re_cfg.seeds, loads_data=False) for f in opts["fractions"]]


def hardness_order(values: np.ndarray, harder: int, tie_seed: int) -> np.ndarray:
    """Point positions from the hardest to the easiest; ties in a seeded random order."""
    tie = np.random.default_rng(tie_seed).random(len(values))
    return np.lexsort((tie, -harder * values))


def dropped(order: np.ndarray, direction: str, n_drop: int) -> np.ndarray:
    mask = np.zeros(len(order), bool)
    if n_drop:
        mask[order[:n_drop] if direction == "drop-hard" else order[-n_drop:]] = True
    return mask


def select(config: dict, ctx) -> dict:
    """Job "select"."""
    cfg, opts = split(config, OPTIONS)
    opts = _checked(opts)
    re_cfg = retrain_config(cfg, opts)
    data = prepare(cfg)
    steps = Steps(ctx, phases(cfg, opts))
    scored, _ = run(cfg, data=data, should_stop=ctx.should_stop,
                    on_epoch=lambda rec: steps.count(cfg, len(rec.seeds)))
    if scored.stopped:
        raise Stopped()
    table = columns(scored, data)
    P, seeds, notes = data.n_train, re_cfg.seed_list, []
    orders = {}
    for s in opts["selectors"]:
        values = np.asarray(table[s], float)
        if not np.isfinite(values).all():
            notes.append(f"{s} is undetermined for {int((~np.isfinite(values)).sum())} points "
                         f"({'no seed shows an inversion' if s == 'straggler_frequency' else 'not learned'}): "
                         "left out as a selector")
            continue
        orders[s] = hardness_order(values, HARDER[s], opts["tie_seed"])
    curves, kept = [], []
    for k, f in enumerate(opts["fractions"]):
        n_drop = P - int(round(f * P))
        removed = {"all|none": np.zeros((len(seeds), P), bool)} if n_drop == 0 else {}
        for s, order in orders.items() if n_drop else ():
            for d in opts["directions"]:
                removed[f"{s}|{d}"] = np.tile(dropped(order, d, n_drop), (len(seeds), 1))
        if n_drop:
            removed["random|random"] = random_like(_sized(len(seeds), P, n_drop), seeds, opts["random_seed"] + k)
        fit = retrain(re_cfg, data, seeds, removed, steps=steps, horizon=opts["horizon"])
        for name, v in fit["variants"].items():
            selector, direction = name.split("|")
            err = np.asarray(v["final_test_error"], float)
            row = {"selector": selector, "direction": direction, "kept_fraction": f, "n_kept": P - n_drop,
                   "test_error_mean": float(np.nanmean(err)), "test_error_std": float(np.nanstd(err)),
                   "train_error_mean": float(np.nanmean(v["final_train_error"])), "seeds": len(seeds),
                   "states": v["states"], "phi_mean": v["phi_mean"], "epochs": v["epochs"], "kept_row": len(kept)}
            curves.append(row)
            kept.append(~removed[name])  # (R', P): the random control draws another set per seed
    ctx.put_artifact("curves", curves)
    ctx.put_artifact("kept", np.array(kept, dtype=bool))  # (selections, R', P): kept[row["kept_row"], r]
    ctx.put_artifact("index", np.asarray(data.index_train, dtype=np.int64))
    return {"kind": "select", "scoring_seeds": cfg.seed_list, "retrain_seeds": seeds, "fractions": opts["fractions"],
            "selectors": list(orders), "directions": opts["directions"], "curves": curves, "best": best_by_fraction(curves),
            "label_flipped": int(data.label_flipped.sum()), "notes": notes, "scoring_epochs": int(scored.epochs_done)}


def _sized(rows: int, P: int, n: int) -> np.ndarray:
    """A (rows, P) mask with n points per row: random_like draws sets of that size."""
    out = np.zeros((rows, P), bool)
    out[:, :n] = True
    return out


def best_by_fraction(curves: list[dict]) -> dict:
    """f -> the selector and direction with the lowest mean test error there (random included)."""
    out = {}
    for row in curves:
        f = str(row["kept_fraction"])
        if row["test_error_mean"] == row["test_error_mean"] and (
                f not in out or row["test_error_mean"] < out[f]["test_error_mean"]):
            out[f] = {k: row[k] for k in ("selector", "direction", "test_error_mean", "test_error_std")}
    return out
