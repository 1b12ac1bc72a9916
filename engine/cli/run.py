"""`python -m engine run ...`: train an ensemble here and write its outputs."""
from __future__ import annotations

import sys
from pathlib import Path

from .options import config_from_args
from .progress import Progress


def cmd_run(args) -> int:
    from ..report import write_outputs  # torch: imported only when a run is asked for
    from ..run import EpochsDone, run
    config = config_from_args(args)
    bar, done = Progress(config.epochs), EpochsDone(config.seeds, config.epochs)
    result, data = run(config, on_epoch=lambda rec: bar(done(rec)))
    summ = write_outputs(result, data, Path(args.out))
    print(human_summary(summ))
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
    from ..geometry import STATES
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
        f"({s['timing']['run_epochs_per_second']:.0f} run-epochs/s on {s['timing']['device']})",
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
    lines.append(f"final train error {np.nanmean(s['final']['train_error']):.4f}, "
                 f"test error {np.nanmean(s['final']['test_error']):.4f}")
    return "\n".join(lines)


def _fmt(v) -> str:
    return "undetermined" if v != v else f"{v:.1f}"  # NaN: no seed's curve of this kind turned
