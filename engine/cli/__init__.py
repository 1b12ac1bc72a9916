"""`python -m engine ...`: run, data, jobs and the experiments, one module each.
Bad input exits with status 2 and one line naming the option, the value and what
is allowed."""
from __future__ import annotations

import argparse
import os
import sys

from engine.config import ConfigError
from engine.cli import data, experiments, fidelity, jobs, paper, run
from engine.cli.options import add_dry_run, add_executor_options, add_run_options


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m engine", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run", help="train an ensemble and write summary, metrics and stragglers")
    add_run_options(p)
    add_executor_options(p)
    p.add_argument("--out", help="output folder (needed unless --dry-run)")
    add_dry_run(p)
    p.set_defaults(func=run.cmd_run)
    data.register(sub)
    jobs.register(sub)
    experiments.register(sub)
    fidelity.register(sub)
    paper.register(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        rc = args.func(args)
        sys.stdout.flush()  # here, so a reader that has gone (`| head`) is noticed below
        return rc
    except BrokenPipeError:  # the reader of our output went away: stop writing, quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # the exit's flush writes nowhere
        return 141  # 128 + SIGPIPE: what a shell tool stopped by a closed pipe reports
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # a missing dataset etc.: one clear message, not a traceback
        from engine.jobs.executors import PiecesLost
        from engine.experiments.verdicts import NoInversion
        from engine.data.sources import DatasetUnavailable
        if isinstance(e, DatasetUnavailable):
            print(f"error: {e}", file=sys.stderr)
            return 2
        if isinstance(e, (PiecesLost, NoInversion)):  # work was done, or a finding about the run: not bad input
            print(f"error: {e}", file=sys.stderr)
            return 1
        raise
