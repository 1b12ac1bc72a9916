"""The ensemble training loop: R seeds at once, one record per epoch.

Epoch 0 is the initialisation; epoch t is after t steps (full batch) or t passes
(mini-batch SGD). For full-batch optimisers the forward pass that computes the
gradient at epoch t also gives that epoch's errors, loss and geometry, so the
training set is traversed exactly once per epoch; only the test set costs an
extra forward (every `test_every` epochs).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F

from .config import RunConfig
from .data import Dataset
from .geometry import class_geometry
from .models import forward, init_ensemble


@dataclass
class EpochRecord:
    epoch: int
    seeds: np.ndarray          # (R,) seed ids this record covers
    loss: np.ndarray           # (R,) mean cross-entropy on the (included) training set
    train_error: np.ndarray    # (R,)
    test_error: np.ndarray     # (R,) NaN on epochs without a test evaluation
    r_plus: np.ndarray         # (R,)
    r_minus: np.ndarray        # (R,)
    distance: np.ndarray       # (R,)
    misclassified: np.ndarray  # (R, ceil(P/8)) uint8, np.packbits of the training mask
    diverged: np.ndarray       # (R,) bool: loss is NaN or infinite


def resolve_device(name: str) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("--device cuda was asked for but no CUDA device is visible; use --device auto or cpu")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def make_optimizer(config: RunConfig, params: list[torch.Tensor]) -> torch.optim.Optimizer:
    """torch.optim on the stacked tensors: every update is elementwise, so this is
    exactly R independent optimisers (the golden test checks it)."""
    wd = config.weight_decay
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr, weight_decay=wd, foreach=True)
    mu = config.momentum if config.optimizer == "momentum" else 0.0
    return torch.optim.SGD(params, lr=config.lr, momentum=mu, weight_decay=wd, foreach=True)


def sgd_order(seed: int, epoch: int, n: int) -> torch.Tensor:
    """The shuffle of seed `seed` in pass `epoch`: its own generator, so a seed
    sees the same batches alone or in an ensemble."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))


def train(config: RunConfig, data: Dataset, include: np.ndarray | None = None,
          seeds: list[int] | None = None) -> Iterator[EpochRecord]:
    """Yield one EpochRecord per epoch, 0 ... config.epochs, for `seeds` (default:
    config.seed_list). `include` is a (P,) or (R, P) boolean mask of the training
    points each seed trains on (default: all but config.exclude). The consumer may
    stop between epochs; the loop also stops after an epoch where a loss diverged."""
    device = resolve_device(config.device)
    seeds = list(config.seed_list if seeds is None else seeds)
    R, P = len(seeds), data.n_train
    if include is None:
        include = np.ones(P, dtype=bool)
        include[list(config.exclude)] = False
    include = np.asarray(include, dtype=bool)

    x = torch.from_numpy(data.x_train).to(device)
    y = torch.from_numpy(data.y_train).to(device)
    x_test = torch.from_numpy(data.x_test).to(device)
    y_test = torch.from_numpy(data.y_test).to(device)
    weight = torch.from_numpy(include.astype(np.float32)).to(device)  # (P,) or (R, P)
    onehot = F.one_hot(y, 2).to(torch.float32) * weight.unsqueeze(-1)
    n_included = weight.sum(-1).expand(R) if weight.dim() == 2 else weight.sum().expand(R)

    params = init_ensemble(config, seeds, x.shape[1], data.image_shape, device)
    opt = make_optimizer(config, params)
    seed_ids = np.asarray(seeds)
    full_batch = config.optimizer != "sgd"
    if not full_batch and include.ndim == 2:
        raise ValueError("mini-batch SGD needs one training subset shared by all seeds")

    for epoch in range(config.epochs + 1):
        last = epoch == config.epochs
        with torch.set_grad_enabled(full_batch and not last):
            logits, hidden = forward(config, params, x, data.image_shape)
            per_point = F.cross_entropy(logits.reshape(-1, 2), y.repeat(R), reduction="none").view(R, P)
            loss = (per_point * weight).sum(-1) / n_included
        with torch.no_grad():
            wrong = logits.detach().argmax(-1) != y
            train_error = (wrong * weight).sum(-1) / n_included
            geometry = class_geometry(hidden.detach(), onehot)
            if epoch % config.test_every == 0 or last:
                test_logits, _ = forward(config, params, x_test, data.image_shape)
                test_error = (test_logits.argmax(-1) != y_test).float().mean(-1)
            else:
                test_error = torch.full((R,), float("nan"), device=device)
            # one host copy per epoch for all the numbers, one for the packed mask
            numbers = torch.cat([loss.detach()[:, None], train_error[:, None], test_error[:, None], geometry], 1)
            numbers = numbers.double().cpu().numpy()
            packed = pack_bits(wrong).cpu().numpy()
        diverged = ~np.isfinite(numbers[:, 0])
        yield EpochRecord(
            epoch=epoch, seeds=seed_ids, loss=numbers[:, 0], train_error=numbers[:, 1],
            test_error=numbers[:, 2], r_plus=numbers[:, 3], r_minus=numbers[:, 4],
            distance=numbers[:, 5], misclassified=packed, diverged=diverged,
        )
        if last or diverged.any():
            return
        if full_batch:
            loss.sum().backward()  # seeds are independent: d(sum)/d(theta_r) = dL_r/d(theta_r)
            opt.step()
            opt.zero_grad(set_to_none=True)
        else:
            _sgd_pass(config, data, params, opt, x, y, include, seeds, epoch)


def _sgd_pass(config, data, params, opt, x, y, include, seeds, epoch):
    """One pass over the included points in mini-batches of config.batch_size, a
    different shuffle per seed and per pass."""
    idx = np.flatnonzero(include)
    orders = torch.stack([torch.from_numpy(idx)[sgd_order(s, epoch, len(idx))] for s in seeds]).to(x.device)
    R = len(seeds)
    for start in range(0, len(idx), config.batch_size):
        batch = orders[:, start:start + config.batch_size]  # (R, B)
        logits, _ = forward(config, params, x[batch], data.image_shape)
        loss = F.cross_entropy(logits.reshape(-1, 2), y[batch].reshape(-1), reduction="none").view(R, -1).mean(-1)
        loss.sum().backward()
        opt.step()
        opt.zero_grad(set_to_none=True)


_BIT_WEIGHTS = {}


def pack_bits(mask: torch.Tensor) -> torch.Tensor:
    """np.packbits(mask, axis=-1) computed on mask's device (big-endian bit order)."""
    R, P = mask.shape
    pad = (-P) % 8
    if pad:
        mask = F.pad(mask, (0, pad))
    key = mask.device
    if key not in _BIT_WEIGHTS:
        _BIT_WEIGHTS[key] = torch.tensor([128, 64, 32, 16, 8, 4, 2, 1], dtype=torch.uint8, device=key)
    return (mask.view(R, -1, 8).to(torch.uint8) * _BIT_WEIGHTS[key]).sum(-1, dtype=torch.uint8)
