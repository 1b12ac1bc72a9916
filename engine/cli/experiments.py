"""`python -m engine prune|sweep|stability|scaling|embed|compare ...`: the run
options of the base run (engine.cli.options.add_run_options) plus each experiment's own.
With --out DIR: run here and write result.json and one CSV per curve table.
With --job: submit the same config dict to the job queue and print its id."""
from __future__ import annotations

import sys
from pathlib import Path

from engine.cli.options import (add_dry_run, add_executor_options, add_run_options, config_from_args,
                                executor_from_args)
from engine.cli.progress import Progress
from engine.config import HORIZON
from engine.planning.preflight import dataset_shape, device_kind


def _floats(text: str) -> list[float]:
    return [float(v) for v in text.split(",") if v.strip()]


def _ints(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v.strip()]


def _names(text: str) -> list[str]:
    return [v.strip() for v in text.split(",") if v.strip()]


# every experiment trains on while a seed is undetermined (engine.experiments.verdicts)
HORIZON_FLAG = ("--horizon", "horizon", int, HORIZON, "train on until no seed is undetermined, at most this many "
                "times --epochs (1: stop at --epochs)")


# kind -> (help, [(flag, dest, type, default, help)])
EXPERIMENTS = {
    "compare": ("Fig. 1, 3a/c/d: runs in epoch and training-error coordinates, overlay of variants", [
        ("--vary", "vary", "append", None, "KEY=V1,V2: one variant per value (repeat: the product), "
                                           "e.g. --vary optimizer=gd,momentum or --vary labels=parity,random"),
        ("--variant", "variant", "append", None, "NAME:KEY=V,KEY=V, e.g. adam:optimizer=adam,lr=0.005"),
        ("--epsilons", "epsilons", _floats, None, "eps grid (comma list); default 28 log-spaced in [1e-3, 0.4]"),
        HORIZON_FLAG,
    ]),
    "prune": ("Fig. 2a: retrain on T minus S(t*), S(t) and random sets of the same sizes", [
        ("--prune-epochs", "prune_epochs", _ints, None, "epochs t for the S(t) variants (default t*/3, 3t*)"),
        ("--retrain-epochs", "retrain_epochs", int, None, "epochs of the retrains (default --epochs)"),
        ("--random-seed", "random_seed", int, 12345, "seed of the random removals"),
        HORIZON_FLAG,
    ]),
    "sweep": ("Fig. 2b-c: prune S(t(eps)) on an eps grid, asymptotic geometry and (noisy) test errors", [
        ("--epsilons", "epsilons", _floats, None, "eps grid (default: on --n-grid log-spaced epochs)"),
        ("--n-grid", "n_grid", int, 8, "grid points when --epsilons is not given"),
        ("--sigmas", "sigmas", _floats, [0.0, 0.5, 0.75, 1.0, 1.2, 1.5], "test-set noise levels"),
        ("--retrain-epochs", "retrain_epochs", int, None, "epochs of the retrains (default --epochs)"),
        ("--random-seed", "random_seed", int, 12345, "seed of the random removals"),
        ("--noise-seed", "noise_seed", int, 0, "seed of the test-set noise"),
        HORIZON_FLAG,
    ]),
    "stability": ("Fig. 2d: z-score of S(t(eps)) across seeds against the hypergeometric null", [
        ("--epsilons", "epsilons", _floats, None, "eps grid (default: on --n-grid log-spaced epochs)"),
        ("--n-grid", "n_grid", int, 16, "grid points when --epsilons is not given"),
        ("--other", "other", str, None, "cross-architecture z against this variant, e.g. model=cnn"),
        ("--dense", "dense", int, 12, "extra eps between phi/2 and 2 phi (phi = the run's mean)"),
        HORIZON_FLAG,
    ]),
    "scaling": ("Fig. 3b/e: phi(P), Eq. 12 fit, phi_inf with bootstrap error, depth x width grid", [
        ("--n-trains", "n_trains", _ints, [4096, 8192, 16384, 32768], "training-set sizes P"),
        ("--n-boot", "n_boot", int, 200, "bootstrap resamples of the seeds"),
        ("--boot-seed", "boot_seed", int, 0, "seed of the bootstrap"),
        ("--depths", "depths", _ints, None, "depths of the phi_inf grid"),
        ("--widths", "widths", _ints, None, "widths of the phi_inf grid"),
        HORIZON_FLAG,
    ]),
    "select": ("Data selection: keep a fraction f of the points by each score (drop the hardest or the easiest) "
               "or at random, retrain on other seeds, test error against f", [
        ("--fractions", "fractions", _floats, [0.5, 0.7, 0.9, 1.0], "kept fractions f"),
        ("--selectors", "selectors", _names, ["straggler_frequency", "forgetting_events", "el2n", "aum"],
         "scores that choose: straggler_frequency, forgetting_events, first_correct_epoch, presentations_to_learn, "
         "confidence, variability, correctness, aum, el2n, grand"),
        ("--directions", "directions", _names, ["drop-hard", "drop-easy"], "drop-hard and/or drop-easy"),
        ("--retrain-seeds", "retrain_seeds", int, 3, "seeds of every retrain, after the scoring seeds"),
        ("--retrain-epochs", "retrain_epochs", int, 150, "epochs of every retrain"),
        ("--random-seed", "random_seed", int, 12345, "seed of the random control"),
        ("--tie-seed", "tie_seed", int, 0, "seed of the order of points a score ties"),
        ("--horizon", "horizon", int, 1, "1: every retrain trains --retrain-epochs, one budget for every test "
                                         "error; more: train on while a row is undetermined"),
    ]),
    "embed": ("SI Fig. 4: cached t-SNE map, stragglers' distance to class centres", [
        ("--perplexity", "perplexity", float, 30.0, "t-SNE perplexity"),
        ("--n-iter", "n_iter", int, 500, "t-SNE iterations after the exaggerated ones"),
        ("--early-iter", "early_iter", int, 250, "t-SNE early-exaggeration iterations"),
        ("--tsne-seed", "tsne_seed", int, 0, "t-SNE random state"),
        ("--tsne-jobs", "tsne_jobs", int, -1, "t-SNE threads, -1 = every core (openTSNE and, with --benchmark, scikit-learn)"),
        ("--hidden-epoch", "hidden_epoch", int, None, "also map the hidden layer at this epoch"),
        ("--hidden-seed-row", "hidden_seed_row", int, 0, "which seed (row) for the hidden map"),
        ("--benchmark", "benchmark", "flag", False, "time openTSNE against scikit-learn's TSNE"),
        ("--no-cache", "cache", "noflag", True, "recompute the map, do not read or write the cache"),
        HORIZON_FLAG,
    ]),
}


def register(subparsers) -> None:
    for kind, (help_text, options) in EXPERIMENTS.items():
        p = subparsers.add_parser(kind, help=help_text)
        add_run_options(p)
        add_executor_options(p)
        for flag, dest, kind_of, default, text in options:
            if kind_of == "append":
                p.add_argument(flag, dest=dest, action="append", default=[], help=text)
            elif kind_of == "flag":
                p.add_argument(flag, dest=dest, action="store_true", help=text)
            elif kind_of == "noflag":
                p.add_argument(flag, dest=dest, action="store_false", help=text)
            else:
                p.add_argument(flag, dest=dest, type=kind_of, default=default, help=f"{text} (default: {default})")
        p.add_argument("--out", help="output folder (result.json + CSVs)")
        p.add_argument("--job", action="store_true", help="submit to the job queue instead of running here")
        add_dry_run(p)
        p.set_defaults(func=_command(kind, [o[1] for o in options]))


def job_config(kind: str, args, dests: list[str]) -> dict:
    """The flat dict a job of this kind takes: run options + experiment options."""
    config = config_from_args(args).to_dict()
    extra = {d: getattr(args, d) for d in dests}
    if kind == "compare":
        from engine.experiments.coordinates import DEFAULT_EPSILONS, variants_from
        extra = {"variants": variants_from(extra.pop("vary"), extra.pop("variant")),  # --horizon too: it was lost
                 "epsilons": extra["epsilons"] or list(DEFAULT_EPSILONS), "horizon": extra["horizon"]}
    return {**config, **{k: v for k, v in extra.items() if v is not None}}


def _command(kind: str, dests: list[str]):
    def run(args) -> int:
        config, executor = job_config(kind, args, dests), executor_from_args(args)
        if args.dry_run:
            from engine.cli.estimate import dry_run
            return dry_run(kind, config, args.json)
        if args.job:
            from engine.jobs.queue import submit
            print(f"submitted {kind} job {submit(kind, {**config, **({'executor': executor} if executor else {})})}")
            return 0
        if not args.out:
            print("error: --out DIR is needed unless --job or --dry-run", file=sys.stderr)
            return 2
        from engine.files import check_output_folder
        check_output_folder(args.out)  # before the work, not after it
        device_kind(config_from_args(args))
        dataset_shape(config_from_args(args))
        from engine.experiments import (JOB_KINDS,  # here, not at import: `engine run` never needs them
                                        JOB_OPTIONS)
        from engine.experiments.context import LocalContext, split, write_result
        from engine.jobs import executors
        cfg, _ = split(config, JOB_OPTIONS[kind])
        executors.check(executor, cfg)  # before any work, as a submit does
        ctx = LocalContext(on_progress=Progress(label="seed-epochs"))
        ctx.executor = executors.open_executor(executor)
        try:
            result = JOB_KINDS[kind](config, ctx)
            ctx.executor.finished()
        finally:
            ctx.executor.close()
        result["config"] = config
        write_result(Path(args.out), result, ctx.artifacts)
        print(headline(result))
        return 0
    return run


def headline(r: dict) -> str:
    """A few lines a person reads after the command; everything is in result.json."""
    from engine.experiments.verdicts import fraction_line
    kind = r["kind"]
    if kind == "compare":
        return "\n".join(f"{n}: inversion {fraction_line(v)} after {v['epochs']} epochs, phi = {_pm(v)}, "
                         f"final test error {_mean(v['final_test_error']):.4f}" for n, v in r["variants"].items())
    if kind == "prune":
        left = r.get("seeds_left_out") or {}
        head = (f"seeds used: {len(r['seeds_used'])} (left out, no inversion in the base run: "
                f"{', '.join(f'{s} {st}' for s, st in left.items())})\n" if left else "")
        return head + "\n".join(f"{n:>16}: removed {_mean(v['n_removed']):7.1f}, inversion {fraction_line(v)} "
                                f"after {v['epochs']} epochs, final test error {_mean(v['final_test_error']):.4f}"
                                for n, v in r["variants"].items())
    if kind == "sweep":
        return "\n".join(f"eps {p['epsilon']:.4f}: removed {p['stragglers']['n_removed']:.0f}; test error "
                         f"stragglers {p['stragglers']['test_error']:.4f} vs random {p['random']['test_error']:.4f}"
                         for p in r["points"])
    if kind == "stability":
        at = r.get("phi") or {}
        phi_line = (f"; at eps = mean phi {at['epsilon']:.4f}: z = {at['z']:.2f} (grid step there x{at['resolution']:.3f}, "
                    f"best eps = {at['best_within']:.2f} phi)" if at.get("epsilon") is not None else
                    "; eps = mean phi: undetermined (no seed with an inversion)")
        return (f"best eps {r['best']['epsilon']:.4f} (epoch {r['best']['epoch']:.1f}): z = {r['best']['z']:.2f}{phi_line}; "
                f"at each seed's t*: z = {r['t_star']['z']:.2f}, overlap fraction {r['t_star']['overlap_fraction']:.3f} "
                f"(chance {r['t_star']['null_fraction']:.3f}, {len(r['t_star_seeds'])} seeds with an inversion)")
    if kind == "scaling":
        pts = ", ".join(f"P={p['n_train']}: " + (f"{p['phi_mean']:.4f} ({p['seeds']} seeds)" if p["phi_mean"] is not None
                                                 else "undetermined") for p in r["points"])
        return (f"{pts}\nphi_inf = {r['phi_inf']:.4f} +- {r['phi_inf_err']:.4f} (1 sigma: max of bootstrap "
                f"{r['phi_inf_boot_err']:.4f} and fit {r['phi_inf_fit_err']:.4f}; 2 sigma = {r['phi_inf_2sigma']:.4f}), "
                f"P0 = {r['P0']:.0f}, gamma = {r['gamma']:.3f}")
    if kind == "select":
        best = ", ".join(f"f={f}: {b['selector']} {b['direction']} {b['test_error_mean']:.4f}"
                         for f, b in r["best"].items())
        return (f"scores from seeds {r['scoring_seeds'][0]}-{r['scoring_seeds'][-1]}, retrains on seeds "
                f"{r['retrain_seeds'][0]}-{r['retrain_seeds'][-1]}; lowest test error at each kept fraction: {best}")
    if kind == "embed":
        t, h = r["inputs"], r["hidden"]
        return (f"{r['n_stragglers']} consensus stragglers; t-SNE {r['tsne']['seconds']:.1f} s "
                f"({'cached' if r['tsne']['cached'] else 'computed'}); farther from class centre in the input space: "
                f"p = {t['p']:.2g}, effect {t.get('effect', float('nan')):.3f}; in the hidden layer (epoch "
                f"{h['epoch']}): p = {h['p']:.2g}, effect {h.get('effect', float('nan')):.3f}")
    return kind


def _pm(v: dict) -> str:
    if v.get("phi_mean") is None:
        return "undetermined (no seed with an inversion)"
    return f"{v['phi_mean']:.4f} +- {v['phi_std']:.4f} ({v['n_present']} seeds)"


def _mean(values) -> float:
    vals = [v for v in values if v is not None]
    return sum(vals) / len(vals) if vals else float("nan")
