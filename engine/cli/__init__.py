"""`python -m engine ...`: run, data, jobs and the experiments, one module each.
Bad input exits with status 2 and one line naming the option, the value and what
is allowed."""
from __future__ import annotations

import argparse
import sys

from ..config import ConfigError
from . import data, experiments, fidelity, jobs, run
from .options import add_run_options


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m engine", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run", help="train an ensemble and write summary, metrics and stragglers")
    add_run_options(p)
    p.add_argument("--out", required=True, help="output folder")
    p.set_defaults(func=run.cmd_run)
    p = sub.add_parser("data", help="list or fetch datasets")
    p.add_argument("action", choices=["list", "fetch"])
    p.add_argument("names", nargs="*", default=["mnist"])
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=data.cmd_data)
    jobs.register(sub)
    experiments.register(sub)
    fidelity.register(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # a missing dataset etc.: one clear message, not a traceback
        from ..sources import DatasetUnavailable
        if isinstance(e, DatasetUnavailable):
            print(f"error: {e}", file=sys.stderr)
            return 2
        raise
