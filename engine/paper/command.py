"""The command that reruns one figure alone: a job config written back as the
experiment command's flags (`python -m engine compare --seeds 5 ... --out DIR/1c`).
Only what differs from the defaults is written; tests/test_paper.py parses every
figure's command with the real CLI and checks it gives the same config."""
from __future__ import annotations

import shlex

from engine.config import OPTIONS

FLAGS = {"cache": "--no-cache"}  # options whose flag is not their name (store_false)


def _flag(name: str) -> str:
    return FLAGS.get(name, "--" + name.replace("_", "-"))


def _text(value) -> str:
    if isinstance(value, (list, tuple)):
        return ",".join(_text(v) for v in value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def _variants(variants: dict) -> list[str]:
    """`--vary key=a,b` when the variants are one key's values named as --vary names
    them, else one `--variant name:key=v,...` each."""
    keys = {k for over in variants.values() for k in over}
    if len(keys) == 1 and all(len(o) == 1 for o in variants.values()):
        key = next(iter(keys))
        if all(name == f"{key}={o[key]}" for name, o in variants.items()):
            return ["--vary", f"{key}={_text([o[key] for o in variants.values()])}"]
    out = []
    for name, over in variants.items():
        out += ["--variant", f"{name}:" + ",".join(f"{k}={_text(v)}" for k, v in over.items())]
    return out


def argv(kind: str, config: dict, out: str) -> list[str]:
    from engine.experiments import JOB_OPTIONS
    from engine.experiments.coordinates import DEFAULT_EPSILONS
    args = [kind]
    for name, opt in OPTIONS.items():
        if name in config and config[name] != opt.default:
            args += [_flag(name), _text(config[name])]
    for name, default in JOB_OPTIONS[kind].items():
        value = config.get(name, default)
        if name == "variants":
            args += _variants(value or {})
        elif name == "epsilons" and kind == "compare" and list(value or DEFAULT_EPSILONS) == list(DEFAULT_EPSILONS):
            continue
        elif value != default and value is not None:
            args += [_flag(name)] if isinstance(value, bool) else [_flag(name), _text(value)]
    return args + ["--out", out]


def command(kind: str, config: dict, out: str) -> str:
    return "python -m engine " + " ".join(shlex.quote(a) for a in argv(kind, config, out))
