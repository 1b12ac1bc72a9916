"""What each engine change is worth: the same run (MNIST, P = 8192, R seeds, test
error and geometry every epoch) with the speed-ups switched on one at a time,
timed in one process with the variants interleaved block by block (fastest
block counts), so a shared machine slows all of them alike.

    python -m benchmarks.ablation [--seeds 20] [--epochs 3] [--blocks 4] [--threads 1]

Variants: the autograd path of the engine, the hand-written backward with torch.tanh and every
input pixel, + tanh as 2 sigmoid(2z) - 1, + skipping pixels that are 0 everywhere.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from engine.config import RunConfig
from engine.data.dataset import prepare

ROOT = Path(__file__).resolve().parent.parent


def variants():
    """name -> (train function, {_Dense2 attribute: value}, manual backward on?)"""
    from engine.training import loop as T
    out = {}
    out["autograd path"] = (T.train, {}, False)
    out["manual backward"] = (T.train, {"tanh_via_sigmoid": False, "skip_zero_pixels": False}, True)
    out["+ tanh via sigmoid"] = (T.train, {"tanh_via_sigmoid": True, "skip_zero_pixels": False}, True)
    out["+ skip zero pixels"] = (T.train, {"tanh_via_sigmoid": True, "skip_zero_pixels": True}, True)
    return out


def start(fn, switches: dict, manual: bool, config, data):
    """A running generator of `fn` with the switches in force while it is set up."""
    from engine.training import loop as T
    saved = {k: getattr(T._Dense2, k) for k in switches}
    saved_manual = T.has_manual_backward
    for k, v in switches.items():
        setattr(T._Dense2, k, v)
    if not manual:
        T.has_manual_backward = lambda c: False
    try:
        gen = fn(config, data)
        next(gen), next(gen)  # set up (the switches are read here) and one warm epoch
    finally:
        for k, v in saved.items():
            setattr(T._Dense2, k, v)
        T.has_manual_backward = saved_manual
    return gen


def ablation(seeds: int = 20, epochs: int = 3, blocks: int = 4) -> dict:
    config = RunConfig(seeds=seeds, epochs=blocks * epochs + 3, device="cpu")
    data = prepare(config)
    gens = {name: start(*v, config, data) for name, v in variants().items()}
    times = {name: [] for name in gens}
    for _ in range(blocks):
        for name, gen in gens.items():
            t = time.perf_counter()
            for _ in range(epochs):
                next(gen)
            times[name].append((time.perf_counter() - t) / epochs)
    import torch
    return {"seeds": seeds, "epochs_per_block": epochs, "blocks": blocks, "threads": torch.get_num_threads(),
            "seconds_per_epoch": {name: min(t) for name, t in times.items()},
            "run_epochs_per_s": {name: seeds / min(t) for name, t in times.items()}}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.ablation")
    p.add_argument("--seeds", type=int, default=20)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--blocks", type=int, default=4)
    p.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's own)")
    a = p.parse_args(argv)
    if a.threads:
        import torch
        torch.set_num_threads(a.threads)
    json.dump(ablation(a.seeds, a.epochs, a.blocks), sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
