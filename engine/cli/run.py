"""`python -m engine run ...`: train an ensemble here and write its outputs."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from engine.cli.options import config_from_args, executor_from_args
from engine.cli.progress import Progress
from engine.planning.preflight import check_run


def cmd_run(args) -> int:
    from engine.analysis.report import write_outputs  # torch: imported only when a run is asked for
    from engine.files import check_output_folder
    from engine.jobs import executors
    config, spec = config_from_args(args), executor_from_args(args)
    executors.check(spec, config)  # bad address, no GPU for --device cuda: refused before any work
    if args.dry_run:  # the estimate of a run that would be refused would be no answer
        if spec is None:
            check_run(config)
        from engine.cli.estimate import dry_run
        return dry_run("run", config.to_dict(), args.json)
    if not args.out:
        print("error: --out DIR is needed (or --dry-run for the estimate alone)", file=sys.stderr)
        return 2
    checked = None
    if spec is None:  # device, data, memory, the output folder: before any work, and only here
        checked = check_run(config, out=args.out)
    else:  # the cluster's nodes hold the run: only the output folder is this machine's
        check_output_folder(args.out)
    bar = Progress(config.epochs)
    executor = executors.open_executor(spec)
    try:
        out = executor.run(config, on_epoch=lambda rec, done: bar(done), checked=checked)
    finally:
        executor.close()
    result, data = out.result, out.data
    try:
        summ = write_outputs(result, data, Path(args.out))
    except OSError as e:  # checked before training, yet the disk filled up or the folder changed since
        print(f"error: could not write {args.out} ({e.strerror or e}); nothing was written there", file=sys.stderr)
        return 1
    print(human_summary(summ))
    print_scores(Path(args.out))
    if out.lost:
        print(f"error: {executors.PiecesLost(out.lost)}; what was recorded is in {args.out}", file=sys.stderr)
        return 1
    if result.diverged:
        print(divergence_line(result.diverged, args.out), file=sys.stderr)
        return 1
    return 0


def divergence_line(diverged: dict, out) -> str:
    """'diverged at epoch 1 (seeds 0 at 1, 1 at 2): ...' — which seeds, from when."""
    seeds = ", ".join(f"{s} at {e}" for s, e in sorted(diverged.items()))
    return (f"diverged at epoch {min(diverged.values())} (seeds {seeds}): the loss grew above 10x its initial value "
            f"or stopped being finite, so no inversion is claimed for these seeds; lower --lr; what was recorded "
            f"is in {out}")


def state_counts(inv: dict) -> str:
    """'present 18, undetermined 2 — run longer (about --epochs 80)': the states that occur."""
    from engine.geometry.inversion import STATES
    counts = inv["states"]
    text = ", ".join(f"{s} {counts[s]}" for s in STATES if counts.get(s))
    if counts.get("undetermined"):
        more = inv.get("more_epochs")
        text += " — run longer" + (f" (about --epochs {more} would likely tell)" if more else "")
    return text


def human_summary(s: dict) -> str:
    import numpy as np
    inv, st = s["inversion"], s["stragglers"]
    n = inv["phi"]["seeds"]
    lines = [
        f"{len(s['seeds'])} seeds, P = {s['n_train']}, {s['epochs_done']} epochs in {s['timing']['seconds']:.1f} s "
        f"({_rate(s['timing']['run_epochs_per_second'])} run-epochs/s on {s['timing']['device']})",
        f"inversion: {state_counts(inv)}",
    ]
    if n:
        t = {m: np.mean([v for v, p in zip(vals, inv["present"]) if p and v is not None])
             for m, vals in inv["t_star"].items()}
        counts = [c for c in st["count"] if c is not None]
        lines += [
            f"mean t* over the {n} seeds with an inversion: R+ {_fmt(t['r_plus'])}, R- {_fmt(t['r_minus'])}, "
            f"D {_fmt(t['distance'])}",
            f"phi = {inv['phi']['mean']:.4f} +- {inv['phi']['std']:.4f} ({n} seeds)",
            f"stragglers per seed: {np.mean(counts):.0f} +- {np.std(counts):.0f}; "
            f"consensus stragglers (>= half of those seeds): {st['consensus_count']}",
        ]
    else:
        lines.append("phi, t* and stragglers: undetermined (no seed shows an inversion)")
    noise = s.get("label_noise") or {}
    if noise.get("fraction"):
        lines.append(f"label noise: {noise['flipped']} of {s['n_train']} training labels flipped "
                     f"(label-noise seed {noise['seed']})")
    lines.append(f"final train error {np.nanmean(s['final']['train_error']):.4f}, "
                 f"test error {np.nanmean(s['final']['test_error']):.4f}")
    return "\n".join(lines)


def _fmt(v) -> str:
    return "undetermined" if v != v else f"{v:.1f}"  # NaN: no seed's curve of this kind turned


def print_scores(out: Path) -> None:
    """The scores' AUROC line, and what the scores could not use (a short run), said."""
    from engine.analysis.score_table import noise_line, summary_line
    path = out / "scores.json"
    if not path.exists():
        return
    meta = json.loads(path.read_text())
    print(summary_line(meta))
    if noise_line(meta):
        print(noise_line(meta))
    for note in meta.get("notes", []):
        print(f"note: {note}", file=sys.stderr)


def _rate(value) -> str:
    """No training time (every seed kept from an earlier attempt): no rate to show."""
    return "undetermined" if value is None else f"{value:.0f}"
