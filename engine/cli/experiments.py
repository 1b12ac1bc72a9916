"""`python -m engine prune|sweep|stability|scaling|embed|compare ...`: the run
options of the base run (engine.cli.options.add_run_options) plus each experiment's own.
With --out DIR: run here and write result.json and one CSV per curve table.
With --job: submit the same config dict to the job queue and print its id."""
from __future__ import annotations

import sys
from pathlib import Path

from .options import add_run_options, config_from_args
from .progress import Progress


def _floats(text: str) -> list[float]:
    return [float(v) for v in text.split(",") if v.strip()]


def _ints(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v.strip()]


# kind -> (help, [(flag, dest, type, default, help)])
EXPERIMENTS = {
    "compare": ("Fig. 1, 3a/c/d: runs in epoch and training-error coordinates, overlay of variants", [
        ("--vary", "vary", "append", None, "KEY=V1,V2: one variant per value (repeat: the product), "
                                           "e.g. --vary optimizer=gd,momentum or --vary labels=parity,random"),
        ("--variant", "variant", "append", None, "NAME:KEY=V,KEY=V, e.g. adam:optimizer=adam,lr=0.005"),
        ("--epsilons", "epsilons", _floats, None, "eps grid (comma list); default 28 log-spaced in [1e-3, 0.4]"),
    ]),
    "prune": ("Fig. 2a: retrain on T minus S(t*), S(t) and random sets of the same sizes", [
        ("--prune-epochs", "prune_epochs", _ints, None, "epochs t for the S(t) variants (default t*/3, 3t*)"),
        ("--retrain-epochs", "retrain_epochs", int, None, "epochs of the retrains (default --epochs)"),
        ("--random-seed", "random_seed", int, 12345, "seed of the random removals"),
    ]),
    "sweep": ("Fig. 2b-c: prune S(t(eps)) on an eps grid, asymptotic geometry and (noisy) test errors", [
        ("--epsilons", "epsilons", _floats, None, "eps grid (default: on --n-grid log-spaced epochs)"),
        ("--n-grid", "n_grid", int, 8, "grid points when --epsilons is not given"),
        ("--sigmas", "sigmas", _floats, [0.0, 0.5, 0.75, 1.0, 1.2, 1.5], "test-set noise levels"),
        ("--retrain-epochs", "retrain_epochs", int, None, "epochs of the retrains (default --epochs)"),
        ("--random-seed", "random_seed", int, 12345, "seed of the random removals"),
        ("--noise-seed", "noise_seed", int, 0, "seed of the test-set noise"),
    ]),
    "stability": ("Fig. 2d: z-score of S(t(eps)) across seeds against the hypergeometric null", [
        ("--epsilons", "epsilons", _floats, None, "eps grid (default: on --n-grid log-spaced epochs)"),
        ("--n-grid", "n_grid", int, 16, "grid points when --epsilons is not given"),
        ("--other", "other", str, None, "cross-architecture z against this variant, e.g. model=cnn"),
    ]),
    "scaling": ("Fig. 3b/e: phi(P), Eq. 12 fit, phi_inf with bootstrap error, depth x width grid", [
        ("--n-trains", "n_trains", _ints, [4096, 8192, 16384, 32768], "training-set sizes P"),
        ("--n-boot", "n_boot", int, 200, "bootstrap resamples of the seeds"),
        ("--boot-seed", "boot_seed", int, 0, "seed of the bootstrap"),
        ("--depths", "depths", _ints, None, "depths of the phi_inf grid"),
        ("--widths", "widths", _ints, None, "widths of the phi_inf grid"),
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
    ]),
}


def register(subparsers) -> None:
    for kind, (help_text, options) in EXPERIMENTS.items():
        p = subparsers.add_parser(kind, help=help_text)
        add_run_options(p)
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
        p.set_defaults(func=_command(kind, [o[1] for o in options]))


def job_config(kind: str, args, dests: list[str]) -> dict:
    """The flat dict a job of this kind takes: run options + experiment options."""
    config = config_from_args(args).to_dict()
    extra = {d: getattr(args, d) for d in dests}
    if kind == "compare":
        from ..experiments.coordinates import DEFAULT_EPSILONS, variants_from
        extra = {"variants": variants_from(extra.pop("vary"), extra.pop("variant")),
                 "epsilons": extra["epsilons"] or list(DEFAULT_EPSILONS)}
    return {**config, **{k: v for k, v in extra.items() if v is not None}}


def _command(kind: str, dests: list[str]):
    def run(args) -> int:
        config = job_config(kind, args, dests)
        if args.job:
            from ..jobs.queue import submit
            print(f"submitted {kind} job {submit(kind, config)}")
            return 0
        if not args.out:
            print("error: --out DIR is needed unless --job", file=sys.stderr)
            return 2
        from ..experiments import JOB_KINDS  # here, not at import: `engine run` never needs them (nor scipy)
        from ..experiments.context import LocalContext, write_result
        ctx = LocalContext(on_progress=Progress())
        result = JOB_KINDS[kind](config, ctx)
        result["config"] = config
        write_result(Path(args.out), result, ctx.artifacts)
        print(headline(result))
        return 0
    return run


def headline(r: dict) -> str:
    """A few lines a person reads after the command; everything is in result.json."""
    kind = r["kind"]
    if kind == "compare":
        return "\n".join(f"{n}: inversion in {v['inversion_fraction']:.0%} of seeds, phi = {v['phi_mean']:.4f} "
                         f"+- {v['phi_std']:.4f}, final test error {_mean(v['final_test_error']):.4f}"
                         for n, v in r["variants"].items())
    if kind == "prune":
        return "\n".join(f"{n:>16}: removed {_mean(v['n_removed']):7.1f}, inversion in "
                         f"{sum(v['inversion_present'])}/{len(v['inversion_present'])}, final test error "
                         f"{_mean(v['final_test_error']):.4f}" for n, v in r["variants"].items())
    if kind == "sweep":
        return "\n".join(f"eps {p['epsilon']:.4f}: removed {p['stragglers']['n_removed']:.0f}; test error "
                         f"stragglers {p['stragglers']['test_error']:.4f} vs random {p['random']['test_error']:.4f}"
                         for p in r["points"])
    if kind == "stability":
        return (f"best eps {r['best']['epsilon']:.4f} (epoch {r['best']['epoch']:.1f}): z = {r['best']['z']:.2f}; "
                f"at t*: z = {r['t_star']['z']:.2f}, overlap fraction {r['t_star']['overlap_fraction']:.3f} "
                f"(chance {r['t_star']['null_fraction']:.3f})")
    if kind == "scaling":
        pts = ", ".join(f"P={p['n_train']}: {p['phi_mean']:.4f}" for p in r["points"])
        return (f"{pts}\nphi_inf = {r['phi_inf']:.4f} +- {r['phi_inf_err']:.4f}, P0 = {r['P0']:.0f}, "
                f"gamma = {r['gamma']:.3f}")
    if kind == "embed":
        t = r["inputs"]
        return (f"{r['n_stragglers']} consensus stragglers; t-SNE {r['tsne']['seconds']:.1f} s "
                f"({'cached' if r['tsne']['cached'] else 'computed'}); farther from class centre: "
                f"p = {t['p']:.2g}, effect {t.get('effect', float('nan')):.3f}")
    return kind


def _mean(values) -> float:
    vals = [v for v in values if v is not None]
    return sum(vals) / len(vals) if vals else float("nan")
