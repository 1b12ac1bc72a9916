"""The plain way, one seed at a time: a torch.nn model and a torch.optim optimiser
per seed, and the geometry by its definition. The golden test and the benchmark
baseline compare the ensemble engine against this."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from engine.config import RunConfig
from engine.training.models import init_seed
from engine.training.loop import sgd_order

ACT = {"tanh": nn.Tanh, "relu": nn.ReLU, "leaky_relu": lambda: nn.LeakyReLU(0.1), "silu": nn.SiLU,
       "linear": nn.Identity}


def single_seed_model(config: RunConfig, seed: int, n_in: int) -> nn.Sequential:
    layers = []
    params = init_seed(config, seed, n_in, None)
    for i in range(0, len(params), 2):
        w, b = params[i], params[i + 1]
        lin = nn.Linear(w.shape[0], w.shape[1])
        with torch.no_grad():
            lin.weight.copy_(w.T)
            lin.bias.copy_(b)
        layers.append(lin)
        if i + 2 < len(params):
            layers.append(ACT[config.activation]())
    return nn.Sequential(*layers)


def single_seed_optimizer(config: RunConfig, model: nn.Module):
    if config.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    mu = config.momentum if config.optimizer == "momentum" else 0.0
    return torch.optim.SGD(model.parameters(), lr=config.lr, momentum=mu, weight_decay=config.weight_decay)


def geometry_by_definition(h: np.ndarray, y: np.ndarray):
    u = h / np.linalg.norm(h, axis=1, keepdims=True)
    cp, cm = u[y == 1].mean(0), u[y == 0].mean(0)
    rp = np.sqrt(((u[y == 1] - cp) ** 2).sum(1).mean())
    rm = np.sqrt(((u[y == 0] - cm) ** 2).sum(1).mean())
    return rp, rm, np.linalg.norm(cp - cm)


def train_single_seed(config: RunConfig, data, seed: int):
    """Per-epoch (loss, train_error, test_error, R+, R-, D) and misclassified mask,
    computed the naive way: a step, then separate forward passes for each metric."""
    x, y = torch.from_numpy(data.x_train), torch.from_numpy(data.y_train)
    xt, yt = torch.from_numpy(data.x_test), torch.from_numpy(data.y_test)
    model = single_seed_model(config, seed, x.shape[1])
    opt = single_seed_optimizer(config, model)
    hidden = nn.Sequential(*list(model)[: 2 * config.layer])
    rows, masks = [], []
    for epoch in range(config.epochs + 1):
        with torch.no_grad():
            out = model(x)
            loss = F.cross_entropy(out, y).item()
            wrong = (out.argmax(1) != y).numpy()
            test_err = (model(xt).argmax(1) != yt).float().mean().item()
            geo = geometry_by_definition(hidden(x).double().numpy(), data.y_train)
        rows.append([loss, wrong.mean(), test_err, *geo])
        masks.append(wrong)
        if epoch == config.epochs:
            break
        if config.optimizer == "sgd":
            order = sgd_order(seed, epoch, len(y))
            for s in range(0, len(y), config.batch_size):
                b = order[s:s + config.batch_size]
                opt.zero_grad()
                F.cross_entropy(model(x[b]), y[b]).backward()
                opt.step()
        else:
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step()
    return np.array(rows), np.array(masks)


CURVES = ["loss", "train_error", "test_error", "r_plus", "r_minus", "distance"]


def assert_matches_reference(result, config: RunConfig, data, reference=None, label: str = "") -> None:
    """Every seed's per-epoch metrics (float32 tolerance) and misclassified masks
    (exactly) in `result` equal those of `reference(config, data, seed)` -> (rows
    (T+1, 6) in CURVES order, masks (T+1, P)); default: train_single_seed."""
    reference = reference or train_single_seed
    for r, seed in enumerate(config.seed_list):
        rows, masks = reference(config, data, seed)
        ours = np.stack([result.curves[c][r] for c in CURVES], axis=1)
        np.testing.assert_allclose(ours, rows, rtol=2e-4, atol=2e-5, err_msg=f"{label} seed {seed}")
        ours_masks = np.stack([result.misclassified(t)[r] for t in range(config.epochs + 1)])
        np.testing.assert_array_equal(ours_masks, np.asarray(masks).astype(bool), err_msg=f"{label} seed {seed}")
