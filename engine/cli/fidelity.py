"""`python -m engine fidelity --precision bf16 [run options] [--out DIR]`: train the
same seeds in fp32 and in the given precision, and say whether that precision is
fit for the science (engine.analysis.fidelity). Exit 0 when it is, 1 when it is not, 3 when
undetermined (too few seeds show an inversion in both runs: run longer)."""
from __future__ import annotations

import json
from pathlib import Path

from engine.cli.options import add_run_options, config_from_args
from engine.cli.progress import Progress
from engine.config import ConfigError
from engine.planning.preflight import check_run


def register(subparsers) -> None:
    p = subparsers.add_parser("fidelity", help="is a precision fit for science? the same seeds in fp32 and in "
                                                "--precision, compared on phi, t* and the consensus stragglers")
    add_run_options(p)
    p.add_argument("--out", help="also write fidelity.json (the check, and both runs' summaries) here")
    p.set_defaults(func=cmd_fidelity)


def cmd_fidelity(args) -> int:
    config = config_from_args(args)
    if config.precision == "fp32":
        raise ConfigError("precision", "fp32", "the precision to check against fp32: bf16 or tf32")
    from engine.analysis.fidelity import compare, lines
    from engine.analysis.report import summary
    from engine.data.dataset import prepare
    from engine.files import check_output_folder, jsonable, output_folder
    from engine.run import EpochsDone, run
    check_run(config)  # device and precision, dataset, memory, ... before any work
    if args.out:
        check_output_folder(args.out)
    data = prepare(config)
    bar = Progress(2 * config.epochs)
    results = {}
    for k, precision in enumerate(("fp32", config.precision)):
        done = EpochsDone(config.seeds, config.epochs)
        results[precision], _ = run(config.replace(precision=precision), data=data,
                                    on_epoch=lambda rec, k=k: bar(k * config.epochs + done(rec)))
    ref, other = results["fp32"], results[config.precision]
    check = compare(ref, other)
    speed = {p: r.seconds for p, r in results.items()}
    print("\n".join(lines(check, config.precision)))
    print(f"training time: fp32 {speed['fp32']:.1f} s, {config.precision} {speed[config.precision]:.1f} s "
          f"({speed['fp32'] / speed[config.precision]:.2f}x)")
    if args.out:
        doc = {"check": check, "seconds": speed, "summaries": {p: summary(r, data) for p, r in results.items()}}
        with output_folder(Path(args.out)) as tmp:  # whole or not at all
            (tmp / "fidelity.json").write_text(json.dumps(jsonable(doc), indent=1))
            (tmp / "manifest.json").write_text(json.dumps(jsonable({"command": "fidelity",
                                                                    "config": config.to_dict()}), indent=1))
    return 3 if check["fit"] is None else 0 if check["fit"] else 1
