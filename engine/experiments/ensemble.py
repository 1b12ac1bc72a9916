"""Many (seed, training subset) rows trained as ONE batched ensemble, plus the
trained parameters for evaluations the training loop does not do itself.

engine.training.loop.train accepts seed ids that repeat and a (rows, P) include mask, so
"seed 3 on T minus S(t*)" and "seed 3 on T minus a random set" are two rows of the
same run: the same initialisation, different points masked (never copied).
RunResult looks rows up by seed id, so here rows are stored under their row
number and the seed of each row is kept beside them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from engine.config import RunConfig
from engine.data.dataset import Dataset
from engine.training.models import forward
from engine.planning.preflight import check_rows
from engine.analysis.results import RunResult
from engine.environment import resolve_device
from engine.training.loop import train


@dataclass
class Ensemble:
    result: RunResult          # result.seeds are row numbers 0..rows-1
    seeds: np.ndarray          # (rows,) the initialisation seed of each row
    params: dict               # epoch -> [tensors (rows, ...)], the epochs asked for + the last one

    def final_params(self) -> list[torch.Tensor]:
        return self.params[max(self.params)]


def run_rows(config: RunConfig, data: Dataset, seeds, include=None, steps=None, on_epoch=None,
             keep_epochs=(), max_epochs: int | None = None) -> Ensemble:
    """Train one row per entry of `seeds` (repeats allowed) on its own subset
    `include[row]` (default: every point). `steps` (a context.Steps) counts its
    seed-epochs and is asked whether to stop; `keep_epochs` are epochs whose parameters are
    kept besides the final ones (e.g. for an embedding of the hidden layer).

    `max_epochs` > config.epochs: a run honest about its horizon. At every multiple
    of config.epochs the rows are judged (engine.geometry); while some row is still
    undetermined (a curve still moving at the end) training goes on, up to
    max_epochs. result.config.epochs is then the epochs actually trained."""
    rows, planned, trained = len(seeds), [config.epochs + 1], 0

    def more(epochs):  # the horizon grew: so does the job's total
        planned[0] += epochs
        if steps is not None:
            steps.grow(config, rows, epochs)
    gen = train_rows(config, data, seeds, include, keep_epochs, max_epochs=max_epochs, on_more=more)
    while True:
        try:
            rec = next(gen)
        except StopIteration as done:
            if steps is not None and trained < planned[0]:  # every row diverged: the rest is not trained
                steps.grow(config, rows, trained - planned[0])
            return done.value
        trained += 1
        if steps is not None:
            steps.count(config, rows)
        if on_epoch is not None:
            on_epoch(rec)
        if steps is not None:
            steps.check()


def train_rows(config: RunConfig, data: Dataset, seeds, include=None, keep_epochs=(), masks: bool = True,
               max_epochs: int | None = None, on_more=None):
    """run_rows as a generator: yields every EpochRecord (with the seed ids of its
    rows) and returns the Ensemble, so the same training runs in this process or in
    a task elsewhere that streams its records back (engine.jobs.executors).
    masks=False keeps no S(t) in the result (phi and the curves need none; a large
    run's masks are the bulk of what a remote task would send back). `on_more(n)`
    hears of the n epochs added each time the horizon grows (run_rows' max_epochs)."""
    seeds = np.asarray(seeds, dtype=int)
    rows, P = len(seeds), data.n_train
    check_rows(config, data, rows)  # all rows train at once: refused before anything is allocated
    include = np.broadcast_to(np.ones(P, bool) if include is None else np.asarray(include, bool), (rows, P))
    T = config.epochs
    cap = max(T, int(max_epochs or T))
    # test errors at every checkpoint, where the run may end
    train_config = config if cap == T else config.replace(epochs=cap, test_every=math.gcd(config.test_every, T))
    result = RunResult.empty(config, np.arange(rows), P if masks else 0, device=str(resolve_device(config.device)))
    result.n_train = P
    params = {}
    # one shared mask when every row has the same subset (mini-batch SGD needs that)
    shared = bool((include == include[0]).all())
    gen = train(train_config, data, include=include[0] if shared else include, seeds=list(seeds))
    for rec in gen:
        yield rec
        rec.seeds = np.arange(rows)
        if not masks:
            rec.misclassified = rec.misclassified[:, :0]
        result.add(rec)
        checkpoint = rec.epoch > 0 and (rec.epoch % T == 0 or rec.epoch == cap)
        if rec.epoch in keep_epochs or checkpoint or rec.diverged.all():
            for e in [e for e in params if e not in keep_epochs]:
                del params[e]  # only the latest checkpoint is kept besides keep_epochs
            params[rec.epoch] = [p.detach().clone() for p in rec.params]
        if checkpoint and rec.epoch < cap:
            if not any(i.state == "undetermined" for i in result.inversions()):
                break
            result.grow(min(rec.epoch + T, cap))
            if on_more is not None:
                on_more(min(T, cap - rec.epoch))
    gen.close()
    return Ensemble(result=result, seeds=seeds, params=params)


@torch.no_grad()
def errors_on(config: RunConfig, data: Dataset, params, x: np.ndarray, y: np.ndarray, chunk: int = 2048) -> np.ndarray:
    """Classification error of every row on (x, y), e.g. a noisy copy of the test set."""
    device = params[0].device
    wrong = torch.zeros(params[0].shape[0], dtype=torch.float64, device=device)
    for start in range(0, len(x), chunk):
        xb = torch.from_numpy(np.ascontiguousarray(x[start:start + chunk])).to(device)
        yb = torch.from_numpy(y[start:start + chunk]).to(device)
        logits, _ = forward(config, params, xb, data.image_shape)
        wrong += (logits.argmax(-1) != yb).sum(-1)
    return (wrong / len(x)).cpu().numpy()


@torch.no_grad()
def hidden_of(config: RunConfig, data: Dataset, params, row: int) -> np.ndarray:
    """The measured hidden layer of one row on the training inputs, projected on
    the unit sphere as the geometry sees it: (P, H)."""
    one = [p[row:row + 1] for p in params]
    x = torch.from_numpy(data.x_train).to(one[0].device)
    _, hidden = forward(config, one, x, data.image_shape)
    h = hidden[0].double()
    norm = h.norm(dim=-1, keepdim=True)
    return torch.where(norm > 0, h / norm.clamp_min(1e-300), torch.zeros_like(h)).cpu().numpy()


def last_values(result: RunResult, curve: str) -> np.ndarray:
    """Each row's value at its last recorded epoch (the asymptotic value)."""
    c = result.curves[curve]
    last = np.array([np.flatnonzero(np.isfinite(row))[-1] if np.isfinite(row).any() else 0 for row in c])
    return c[np.arange(len(c)), last]
