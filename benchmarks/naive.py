"""The naive baseline: the authors' procedure, one seed at a time.

One torch.nn model and one torch.optim.SGD per seed. Each epoch: one full-batch
step, then separate forward passes for each number, as in the authors' notebook:
the training set three times (loss, training error, misclassified set), the test
set once, and each class once more for its geometry (centred copies on the unit
sphere, by the definition). Every number comes to the host with `.item()`.

Same initialisation as the engine (engine.training.models.init_seed), same data, same
metrics: tests/test_bench_equivalence.py checks that both compute the same
numbers, so the benchmark's ratio compares equal work.
"""
from __future__ import annotations

import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from engine.config import RunConfig
from engine.training.models import init_seed

ACT = {"tanh": nn.Tanh, "relu": nn.ReLU, "linear": nn.Identity}


def naive_model(config: RunConfig, seed: int, n_in: int) -> nn.Sequential:
    """Linear(N, H) - act - Linear(H, 2), initialised like the engine's seed `seed`."""
    w1, b1, w2, b2 = init_seed(config, seed, n_in, None)
    first, second = nn.Linear(n_in, config.width), nn.Linear(config.width, 2)
    with torch.no_grad():
        first.weight.copy_(w1.T), first.bias.copy_(b1), second.weight.copy_(w2.T), second.bias.copy_(b2)
    return nn.Sequential(first, ACT[config.activation](), second)


class NaiveRun:
    """One seed's model, optimiser and data; `measure()` and `step()` are one epoch."""

    def __init__(self, config: RunConfig, data, seed: int, device="cpu"):
        assert config.model == "fc" and config.depth == 2 and config.optimizer == "gd"
        self.x, self.y = torch.from_numpy(data.x_train).to(device), torch.from_numpy(data.y_train).to(device)
        self.x_test, self.y_test = torch.from_numpy(data.x_test).to(device), torch.from_numpy(data.y_test).to(device)
        self.x_plus, self.x_minus = self.x[self.y == 1], self.x[self.y == 0]
        self.model = naive_model(config, seed, self.x.shape[1]).to(device)
        self.hidden = self.model[:2]
        self.opt = torch.optim.SGD(self.model.parameters(), lr=config.lr)

    def step(self) -> None:
        self.opt.zero_grad()
        F.cross_entropy(self.model(self.x), self.y).backward()
        self.opt.step()

    @torch.no_grad()
    def measure(self):
        """(loss, train error, test error, R+, R-, D) and the misclassified mask."""
        model, x, y = self.model, self.x, self.y
        loss = F.cross_entropy(model(x), y).item()
        train_error = (model(x).argmax(1) != y).float().mean().item()
        wrong = (model(x).argmax(1) != y).cpu().numpy()
        test_error = (model(self.x_test).argmax(1) != self.y_test).float().mean().item()
        centroids, radii = [], []
        for xc in (self.x_plus, self.x_minus):
            h = self.hidden(xc)
            u = h / h.norm(dim=1, keepdim=True)
            c = u.mean(0)
            radii.append(((u - c) ** 2).sum(1).mean().sqrt().item())
            centroids.append(c)
        distance = (centroids[0] - centroids[1]).norm().item()
        return [loss, train_error, test_error, radii[0], radii[1], distance], wrong


def naive_train(config: RunConfig, data, seed: int):
    """Epochs 0 ... config.epochs of one seed: (T+1, 6) metrics, (T+1, P) masks."""
    run = NaiveRun(config, data, seed)
    rows, masks = [], []
    for epoch in range(config.epochs + 1):
        if epoch:
            run.step()
        numbers, wrong = run.measure()
        rows.append(numbers)
        masks.append(wrong)
    return np.array(rows), np.array(masks)


def naive_epoch_seconds(config: RunConfig, data, seeds, epochs: int, blocks: int = 4, device="cpu") -> dict:
    """Seconds per epoch per seed (a step and its measurements): each seed runs
    `epochs` epochs in `blocks` timed blocks; the fastest block per seed counts
    (the machine may be shared), and the median over seeds is reported. The
    `.item()` calls synchronise a GPU, so wall time is device time there too."""
    per_seed = []
    for seed in seeds:
        run = NaiveRun(config, data, seed, device)
        run.measure()
        best = float("inf")
        per_block = max(1, epochs // blocks)
        for _ in range(blocks):
            start = time.perf_counter()
            for _ in range(per_block):
                run.step()
                run.measure()
            best = min(best, (time.perf_counter() - start) / per_block)
        per_seed.append(best)
    return {"seconds_per_epoch": float(np.median(per_seed)), "per_seed": per_seed,
            "seeds": list(map(int, seeds)), "epochs": per_block * blocks}
