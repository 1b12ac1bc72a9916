"""An experiment's natural independent pieces of work, run here or fanned out.

A piece is one config x a batch of (seed, training subset) rows: the unit that
engine.training.loop batches into one ensemble (never one task per seed). An experiment
lists its pieces and calls `run_pieces`; the job context decides where they run:

- no executor (the CLI, a local worker): one after the other in this process,
  exactly as run_rows always did (same ensembles, same numbers, same speed);
- ctx.executor (engine.jobs.executors.RayExecutor): as parallel tasks on a Ray
  cluster that stream their epochs back; a piece may also be split at its `parts`
  (e.g. one retrain per variant) and the parts' rows merged back in order.

Rows are independent, so a piece split into parts gives the same numbers as the
whole (to float tolerance: the GEMMs are batched differently), except that a
divergence stops only the part it happens in (as it does a chunk of seeds).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import torch

from engine.analysis.results import RunResult
from engine.config import RunConfig
from engine.data.dataset import prepare
from engine.experiments.ensemble import Ensemble, run_rows


@dataclass
class Rows:
    """One piece: train `seeds` (repeats allowed) of `config`, row r on include[r]."""
    config: RunConfig
    seeds: list
    include: np.ndarray | None = None  # (P,) or (rows, P) bool; None: every point
    keep_epochs: tuple = ()            # epochs whose parameters are kept besides the last
    stream: bool = False               # its EpochRecords go to ctx.on_epoch (the job's live view)
    masks: bool = True                 # keep S(t) in the result (phi needs none)
    parts: list = field(default_factory=list)  # row slices it may be split at; [] = whole
    label: str = ""                    # names it in progress and in "piece lost" messages
    max_epochs: int | None = None      # train on while a row is undetermined, up to this (run_rows)

    def part(self, rows: slice) -> "Rows":
        """The piece restricted to rows[start:stop], with no further parts."""
        include = self.include
        if include is not None and np.ndim(include) == 2:
            include = include[rows]
        seeds = list(self.seeds)[rows]
        first, last = seeds[0], seeds[-1]
        label = f"{self.label} rows {rows.start}-{rows.stop - 1}" if self.label else f"seeds {first}-{last}"
        return dataclasses.replace(self, seeds=seeds, include=include, parts=[], label=label)

    def n_epochs(self) -> int:
        return self.config.epochs + 1


def run_pieces(steps, pieces: list[Rows], data=None) -> list[Ensemble]:
    """The Ensemble of every piece, in order. `steps` (context.Steps) counts their
    seed-epochs and is the cancel point; its ctx may carry an executor. `data` (the
    prepared Dataset of every piece's config, when they share one) saves preparing
    it again here; a remote task always prepares it from the dataset's name."""
    executor = getattr(steps.ctx, "executor", None) if steps is not None else None
    if executor is not None and getattr(executor, "distributed", False):
        return executor.map(pieces, steps)
    out = []
    for piece in pieces:
        d = data if data is not None else prepare(piece.config)
        ens = run_rows(piece.config, d, piece.seeds, piece.include, steps=steps,
                       on_epoch=steps.ctx.on_epoch if piece.stream and steps is not None else None,
                       keep_epochs=piece.keep_epochs, max_epochs=piece.max_epochs)
        out.append(ens)
    return out


def merge(parts: list[Ensemble]) -> Ensemble:
    """The Ensemble of a piece from those of its parts (rows in order)."""
    if len(parts) == 1:
        return parts[0]
    results = [e.result for e in parts]
    # parts judged undetermined train on past the planned epochs (run_rows' max_epochs),
    # each as far as it needed: the merged rows are as long as the longest, NaN beyond
    first = max(results, key=lambda r: r.curves["loss"].shape[1])
    width = first.curves["loss"].shape[1]

    def padded(a, fill):
        return np.concatenate([a, np.full((a.shape[0], width - a.shape[1], *a.shape[2:]), fill, a.dtype)], 1)

    merged = RunResult.empty(first.config, np.arange(sum(len(r.seeds) for r in results)), 0, device=first.device)
    merged.n_train = first.n_train
    merged.curves = {c: np.concatenate([padded(r.curves[c], np.nan) for r in results]) for c in first.curves}
    merged.masks = np.concatenate([padded(r.masks, 0) for r in results])
    merged.epochs_done = max(r.epochs_done for r in results)
    merged.seconds = sum(r.seconds for r in results)
    merged.stopped = any(r.stopped for r in results)
    offset = 0
    for r in results:
        merged.diverged.update({offset + int(row): epoch for row, epoch in r.diverged.items()})
        offset += len(r.seeds)
    # epochs every part kept, and the final parameters (each part's last ones)
    common = set.intersection(*(set(e.params) for e in parts))
    params = {t: [_cat([e.params[t][k] for e in parts]) for k in range(len(parts[0].params[t]))] for t in common}
    last = max(max(e.params) for e in parts)  # each part's own last parameters, under the latest epoch
    params[last] = [_cat([e.final_params()[k] for e in parts]) for k in range(len(parts[0].final_params()))]
    return Ensemble(result=merged, seeds=np.concatenate([e.seeds for e in parts]), params=params)


def _cat(tensors):
    return torch.cat([t.to(tensors[0].device) for t in tensors])
