"""Ensembles of R networks whose parameters are stacked along a leading seed axis.

Every parameter tensor has shape (R, ...), so one elementwise optimiser step
(torch.optim on the stacked tensors) is exactly R independent steps, and the
first layer of all seeds is a single GEMM over the shared training inputs:
(P, N) @ (N, R*H). Initialisation is drawn per seed on the CPU with that seed's
own generator, so seed s gets the same weights alone or in any ensemble, on any
device.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from engine.config import MANUAL_ACTIVATIONS, RunConfig

ACTIVATIONS = {
    "tanh": torch.tanh,
    "relu": F.relu,
    "leaky_relu": lambda z: F.leaky_relu(z, 0.1),
    "silu": F.silu,
    "linear": lambda z: z,
}


# The dense two-layer net has a hand-written backward (engine.training.loop): each activation
# applied in place, and its derivative written in terms of its output h, so the
# pre-activation need not be kept (tanh' = 1 - h^2 is done there from h*h).
ACTIVATIONS_INPLACE = {
    "tanh": torch.tanh_,
    "relu": torch.relu_,
    "leaky_relu": lambda z: F.leaky_relu_(z, 0.1),
    "linear": lambda z: z,
}
assert set(ACTIVATIONS_INPLACE) == set(MANUAL_ACTIVATIONS)  # config.has_manual_backward's rule
DERIVATIVE_FROM_OUTPUT = {
    "relu": lambda h: (h > 0).to(h.dtype),
    "leaky_relu": lambda h: torch.where(h > 0, 1.0, 0.1).to(h.dtype),
    "linear": torch.ones_like,
}


def used_columns(x: torch.Tensor):
    """(columns, x[:, columns]) without the columns that are 0 for every row, or
    (None, x) when there are none. A few zero columns are kept to make the row
    length a multiple of 16 floats (aligned rows for the GEMM)."""
    zero = ~x.any(0)  # (x == 0).all(0) without the (P, N) boolean temporary
    n_keep = min(x.shape[1], -(-int((~zero).sum()) // 16) * 16)
    if n_keep == x.shape[1]:
        return None, x
    keep = torch.cat([torch.nonzero(~zero)[:, 0], torch.nonzero(zero)[:, 0]])[:n_keep].sort().values
    return keep, x.index_select(1, keep)  # contiguous, 5x faster than x[:, keep] (a run's start-up)


def tanh_via_sigmoid_(z: torch.Tensor) -> torch.Tensor:
    """tanh in place as 2 sigmoid(2z) - 1: three passes of vectorised kernels, 3-5x
    faster than torch.tanh on the CPU. Its error (< 2e-7, absolute) is below the
    rounding of z itself, a sum of 784 float32 products."""
    return torch.sigmoid(z.mul_(2), out=z).mul_(2).sub_(1)


def layer_sizes(config: RunConfig, n_in: int, image_shape: tuple) -> list[tuple[int, int]]:
    """(fan_in, fan_out) of each weight layer. For the CNN the first is the conv
    (fan_in = k*k, fan_out = channels) and the readout sees channels * patches."""
    if config.model == "cnn":
        k = config.kernel_size
        patches = (image_shape[0] // k) * (image_shape[1] // k)
        return [(k * k, config.width), (config.width * patches, 2)]
    return [(n_in, config.width)] + [(config.width, config.width)] * (config.depth - 2) + [(config.width, 2)]


def init_seed(config: RunConfig, seed: int, n_in: int, image_shape: tuple) -> list[torch.Tensor]:
    """One seed's parameters [W1, b1, W2, b2, ...], W as (fan_in, fan_out),
    every entry ~ U(-s/sqrt(fan_in), s/sqrt(fan_in)) (paper, Methods)."""
    gen = torch.Generator().manual_seed(int(seed))
    params = []
    for fan_in, fan_out in layer_sizes(config, n_in, image_shape):
        bound = config.init_scale / math.sqrt(fan_in)
        params.append((torch.rand(fan_in, fan_out, generator=gen) * 2 - 1) * bound)
        params.append((torch.rand(fan_out, generator=gen) * 2 - 1) * bound)
    return params


def init_ensemble(config: RunConfig, seeds, n_in: int, image_shape: tuple, device) -> list[torch.Tensor]:
    per_seed = [init_seed(config, s, n_in, image_shape) for s in seeds]
    return [torch.stack(group).to(device).requires_grad_(True) for group in zip(*per_seed)]


def forward(config: RunConfig, params: list[torch.Tensor], x: torch.Tensor, image_shape: tuple):
    """Logits (R, n, 2) and the hidden representation at config.layer (R, n, H').

    x is either shared by all seeds, (n, N), or one batch per seed, (R, n, N)."""
    act = ACTIVATIONS[config.activation]
    if config.model == "cnn":
        h = act(_conv_patches(config, params[0], params[1], x, image_shape))
        return torch.baddbmm(params[3].unsqueeze(1), h, params[2]), h
    h = act(_first_layer(params[0], params[1], x))
    hidden = h
    n_layers = len(params) // 2
    for i in range(1, n_layers):
        z = torch.baddbmm(params[2 * i + 1].unsqueeze(1), h, params[2 * i])
        if i == n_layers - 1:
            return z, hidden
        h = act(z)
        if i + 1 == config.layer:
            hidden = h
    raise AssertionError("unreachable: depth >= 2")


def _first_layer(w: torch.Tensor, b: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    R, N, H = w.shape
    if x.dim() == 2:  # shared inputs: one GEMM for all seeds
        z = (x @ w.permute(1, 0, 2).reshape(N, R * H)).view(len(x), R, H).transpose(0, 1)
        return z + b.unsqueeze(1)
    return torch.baddbmm(b.unsqueeze(1), x, w)


def _conv_patches(config, w, b, x, image_shape):
    """Conv with stride = kernel (non-overlapping patches), all seeds as groups of
    one grouped convolution over the shared images. Returns (R, n, C * patches)."""
    R, kk, C = w.shape
    k = config.kernel_size
    h, wd = image_shape
    if x.dim() == 3:  # per-seed batches: fold seeds into the channel axis
        n = x.shape[1]
        imgs = x.transpose(0, 1).reshape(n, R, h, wd)
        kernel = w.permute(0, 2, 1).reshape(R * C, 1, k, k)
        z = F.conv2d(imgs, kernel, stride=k, groups=R)
    else:
        n = x.shape[0]
        kernel = w.permute(0, 2, 1).reshape(R * C, 1, k, k)
        z = F.conv2d(x.view(n, 1, h, wd), kernel, stride=k)
    z = z.view(n, R, C, -1) + b.view(1, R, C, 1)
    return z.reshape(n, R, -1).transpose(0, 1)
