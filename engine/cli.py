"""`python -m engine ...`: every run option of RunConfig as a flag, plus data and
(registered by their own modules) jobs and experiment commands. Bad input exits
with status 2 and one line naming the option, the value and what is allowed."""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

from .config import ConfigError, RunConfig

HIDDEN_OPTIONS = {"exclude"}  # set by experiments, not by hand


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """One flag per RunConfig field, defaults from the dataclass (one override path)."""
    for f in dataclasses.fields(RunConfig):
        if f.name in HIDDEN_OPTIONS:
            continue
        kind = type(f.default)
        parser.add_argument("--" + f.name.replace("_", "-"), dest=f.name, type=kind if kind in (int, float) else str,
                            default=f.default, help=f"default: {f.default}")


def config_from_args(args: argparse.Namespace) -> RunConfig:
    names = {f.name for f in dataclasses.fields(RunConfig)} - HIDDEN_OPTIONS
    return RunConfig(**{n: getattr(args, n) for n in names if hasattr(args, n)}).validate()


class Progress:
    """A one-line progress bar with ETA on a TTY; silent otherwise."""

    def __init__(self, total: int, label: str = "epochs", stream=None):
        self.total, self.label = total, label
        self.stream = stream or sys.stderr  # looked up now, not at import (it may have been replaced since)
        self.start = time.perf_counter()
        self.enabled = self.stream.isatty()

    def __call__(self, done: int) -> None:
        if not self.enabled:
            return
        elapsed = time.perf_counter() - self.start
        eta = elapsed / done * (self.total - done) if done else float("nan")
        bar = "#" * int(30 * done / self.total)
        self.stream.write(f"\r[{bar:<30}] {done}/{self.total} {self.label}  {elapsed:5.1f}s  ETA {eta:5.1f}s")
        if done >= self.total:
            self.stream.write("\n")
        self.stream.flush()


def cmd_run(args) -> int:
    from .report import write_outputs
    from .run import EpochsDone, run
    config = config_from_args(args)
    bar, done = Progress(config.epochs), EpochsDone(config.seeds, config.epochs)
    result, data = run(config, on_epoch=lambda rec: bar(done(rec)))
    summ = write_outputs(result, data, Path(args.out))
    print(human_summary(summ))
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
        f"({s['timing']['run_epochs_per_second']:.0f} run-epochs/s on {s['timing']['device']})",
        f"inversion present in {present}/{len(inv['present'])} seeds; mean t*: R+ {t['r_plus']:.1f}, "
        f"R- {t['r_minus']:.1f}, D {t['distance']:.1f}",
        f"phi = {inv['phi']['mean']:.4f} +- {inv['phi']['std']:.4f}",
        f"stragglers per seed: {np.mean(st['count']):.0f} +- {np.std(st['count']):.0f}; "
        f"consensus stragglers (>= half the seeds): {st['consensus_count']}",
        f"final train error {np.mean(s['final']['train_error']):.4f}, test error {np.mean(s['final']['test_error']):.4f}",
    ])


def cmd_data(args) -> int:
    from .sources import fetch, status
    if args.action == "fetch":
        for name in args.names:
            start = time.perf_counter()
            raw = fetch(name)
            print(f"{name}: {len(raw.y_train)} train + {len(raw.y_test)} test from {raw.source} "
                  f"({time.perf_counter() - start:.1f} s)")
        return 0
    rows = status()
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        for r in rows:
            state = f"ready ({r['source']}, {r['n_train']} train / {r['n_test']} test)" if r["ready"] else \
                f"missing: {r['how_to_fetch']}"
            print(f"{r['name']:<8} {state}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m engine", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run", help="train an ensemble and write summary, metrics and stragglers")
    add_run_options(p)
    p.add_argument("--out", required=True, help="output folder")
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("data", help="list or fetch datasets")
    p.add_argument("action", choices=["list", "fetch"])
    p.add_argument("names", nargs="*", default=["mnist"])
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_data)
    for register in _extensions():
        register(sub)
    return parser


def _extensions():
    """Subcommands that live with their own concept (jobs, experiments)."""
    found = []
    for module, attr in (("engine.jobs_cli", "register"), ("engine.experiments.cli", "register")):
        try:
            mod = __import__(module, fromlist=[attr])
        except ModuleNotFoundError as e:
            if e.name is None or not module.startswith(e.name):
                raise
            continue
        found.append(getattr(mod, attr))
    return found


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # a missing dataset etc.: one clear message, not a traceback
        from .sources import DatasetUnavailable
        if isinstance(e, DatasetUnavailable):
            print(f"error: {e}", file=sys.stderr)
            return 2
        raise
