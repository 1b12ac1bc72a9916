"""Every run option as a command-line flag, built from engine.config.OPTIONS (one
description, one override path: the dataclass's defaults are the CLI's), grouped
as on the Run form, each with its words, unit and default in --help."""
from __future__ import annotations

import argparse

from engine.config import OPTIONS, RunConfig


def add_run_options(parser: argparse.ArgumentParser) -> None:
    groups = {}
    for name, opt in OPTIONS.items():
        if opt.group not in groups:
            groups[opt.group] = parser.add_argument_group(f"{opt.group} options")
        default = opt.default
        kind = type(default)
        unit = f" {opt.unit}" if opt.unit else ""
        when = f" Used when --{opt.applies[0].replace('_', '-')} is {' or '.join(opt.applies[1])}." \
            if opt.applies else ""
        groups[opt.group].add_argument(
            "--" + name.replace("_", "-"), dest=name, type=kind if kind in (int, float) else str, default=default,
            metavar=kind.__name__.upper(), help=f"{opt.label}: {opt.help}{when} (default: {default}{unit})")


def config_from_args(args: argparse.Namespace) -> RunConfig:
    return RunConfig(**{n: getattr(args, n) for n in OPTIONS if hasattr(args, n)}).validate()


def add_dry_run(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dry-run", dest="dry_run", action="store_true",
                        help="check the options and print the estimate of time and memory on this machine "
                             "(engine.planning.estimate, the Run form's numbers); nothing is trained")
    parser.add_argument("--json", action="store_true", help="with --dry-run: one JSON object "
                                                            '{"seconds", "memory_bytes", "device", ...}')
def add_executor_options(parser: argparse.ArgumentParser) -> None:
    """Where the training runs: here, or spread over a Ray cluster (engine.jobs.executors)."""
    g = parser.add_argument_group("executor options")
    g.add_argument("--executor", choices=("local", "ray"), default="local",
                   help="local: this process / the local workers (default) | ray: tasks on a Ray cluster, "
                        "one per chunk of seeds or piece of the experiment")
    g.add_argument("--ray-address", dest="ray_address", default=None, metavar="ADDR",
                   help="the cluster's head, host:port as `ray start --head` prints it, or auto (the one "
                        "started on this machine); default: start a local Ray for this job")
    g.add_argument("--ray-cpus", dest="ray_cpus", type=int, default=1, metavar="N",
                   help="CPUs each Ray task asks for (torch uses that many threads) (default: 1)")


def executor_from_args(args: argparse.Namespace) -> dict | None:
    """The "executor" entry of a job config (None: local), validated."""
    from engine.jobs.executors import spec
    return spec(args.executor, args.ray_address, args.ray_cpus)
