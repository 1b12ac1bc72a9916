"""`python -m engine run ...`: train an ensemble here and write its outputs."""
from __future__ import annotations

import sys
from pathlib import Path

from .options import config_from_args, executor_from_args
from .progress import Progress


def cmd_run(args) -> int:
    from ..jobs import executors
    from ..files import check_output_folder
    from ..preflight import check_run
    from ..report import write_outputs  # torch: imported only when a run is asked for
    config, spec = config_from_args(args), executor_from_args(args)
    executors.check(spec, config)  # bad address, no GPU for --device cuda: refused before any work
    if spec is None:  # device, data, memory, the output folder: before any work
        check_run(config, out=args.out)
    else:  # the cluster's nodes hold the run: only the output folder is this machine's
        check_output_folder(args.out)
    bar = Progress(config.epochs)
    executor = executors.open_executor(spec)
    try:
        out = executor.run(config, on_epoch=lambda rec, done: bar(done))
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
        seeds = sorted(result.diverged)
        print(f"diverged at epoch {min(result.diverged.values())} (seeds {', '.join(map(str, seeds))}): "
              f"lower --lr; what was recorded is in {args.out}", file=sys.stderr)
        return 1
    return 0


def human_summary(s: dict) -> str:
    import numpy as np
    inv, st = s["inversion"], s["stragglers"]
    t = {m: np.mean(v) for m, v in inv["t_star"].items()}
    present = sum(inv["present"])
    return "\n".join([
        f"{len(s['seeds'])} seeds, P = {s['n_train']}, {s['epochs_done']} epochs in {s['timing']['seconds']:.1f} s "
        f"({_rate(s['timing']['run_epochs_per_second'])} run-epochs/s on {s['timing']['device']})",
        f"inversion present in {present}/{len(inv['present'])} seeds; mean t*: R+ {t['r_plus']:.1f}, "
        f"R- {t['r_minus']:.1f}, D {t['distance']:.1f}",
        f"phi = {inv['phi']['mean']:.4f} +- {inv['phi']['std']:.4f}",
        f"stragglers per seed: {np.mean(st['count']):.0f} +- {np.std(st['count']):.0f}; "
        f"consensus stragglers (>= half the seeds): {st['consensus_count']}",
        f"final train error {np.mean(s['final']['train_error']):.4f}, test error {np.mean(s['final']['test_error']):.4f}",
    ])


def print_scores(out: Path) -> None:
    """The scores' AUROC line, and what the scores could not use (a short run), said."""
    import json

    from ..score_table import summary_line
    path = out / "scores.json"
    if not path.exists():
        return
    meta = json.loads(path.read_text())
    print(summary_line(meta))
    for note in meta.get("notes", []):
        print(f"note: {note}", file=sys.stderr)
def _rate(value) -> str:
    """No training time (every seed kept from an earlier attempt): no rate to show."""
    return "undetermined" if value is None else f"{value:.0f}"
