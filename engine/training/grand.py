"""GraNd (Paul et al. 2021): the norm of each training point's own loss gradient,
||grad_theta l(x, y)||_2 over every weight and bias, per seed, at one epoch.

For the two-layer dense net it has a closed form from the forward's quantities.
With two outputs the loss of a point depends on d = o1 - o0 only,
l = softplus(-s d) (s = +1 for y = 1, -1 for y = 0), so dl/dd = sigmoid(d) - y =: r.
With h = act(z), z = W1^T x + b1, d = v.h + b2[1] - b2[0] and v = W2[:, 1] - W2[:, 0]:

    dl/dW2[:, 1] = r h,  dl/dW2[:, 0] = -r h    ->  2 r^2 |h|^2
    dl/db2 = (-r, r)                            ->  2 r^2
    dl/dz = r v * act'(z) =: r u                ->  dl/db1 adds r^2 |u|^2
    dl/dW1 = x (r u)^T, an outer product        ->  |x|^2 r^2 |u|^2

so ||grad l||^2 = r^2 (2 |h|^2 + 2 + (1 + |x|^2) |u|^2), where act' is read off h
(tanh: 1 - h^2; relu, leaky relu, linear: engine.training.models.DERIVATIVE_FROM_OUTPUT).
That is O(R P H) work and no per-example gradient is ever formed.

Every other model (deeper nets, the CNN, silu) goes through torch.func: vmap over
seeds and points of the gradient of one point's loss, in chunks of points that
bound the per-example gradients held at once.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.func import grad, vmap

from engine.config import RunConfig
from engine.training.memory import SCORE_BLOCK_FLOATS  # the block size the memory model counts
from engine.training.models import DERIVATIVE_FROM_OUTPUT, forward

CLOSED_FORM = "closed form (two-layer dense net)"
AUTOGRAD = "torch.func per-example gradients (vmap of grad)"


def closed_form_applies(config: RunConfig) -> bool:
    return config.model == "fc" and config.depth == 2 and (
        config.activation == "tanh" or config.activation in DERIVATIVE_FROM_OUTPUT)


def method(config: RunConfig) -> str:
    return CLOSED_FORM if closed_form_applies(config) else AUTOGRAD


def grand(config: RunConfig, params: list[torch.Tensor], x: torch.Tensor, y: torch.Tensor,
          image_shape: tuple) -> torch.Tensor:
    """||grad_theta l(x_p, y_p)||_2 of every seed (rows of params) and point: (R, P)."""
    params = [p.detach() for p in params]
    if closed_form_applies(config):
        return closed_form(config, params, x, y, image_shape)
    return per_example(config, params, x, y, image_shape)


@torch.no_grad()
def closed_form(config: RunConfig, params, x, y, image_shape) -> torch.Tensor:
    R, P = params[0].shape[0], len(x)
    w2 = params[2]
    v2 = (w2[..., 1] - w2[..., 0]).square().unsqueeze(-1)  # (R, H, 1)
    derivative = DERIVATIVE_FROM_OUTPUT.get(config.activation)
    out = torch.empty(R, P, device=x.device)
    chunk = max(1, SCORE_BLOCK_FLOATS // (R * w2.shape[1]))  # points whose (R, n, H) hidden layer fits the block
    for start in range(0, P, chunk):
        xc, yc = x[start:start + chunk], y[start:start + chunk]
        logits, h = forward(config, params, xc, image_shape)  # (R, n, 2), (R, n, H)
        r = torch.sigmoid(logits[..., 1] - logits[..., 0]) - yc.to(h.dtype)
        act1 = 1 - h.square() if derivative is None else derivative(h)
        u2 = torch.bmm(act1.square(), v2).squeeze(-1)  # |v * act'(z)|^2, (R, n)
        sq = 2 * h.square().sum(-1) + 2 + (1 + xc.square().sum(-1)) * u2
        out[:, start:start + len(xc)] = r.abs() * sq.sqrt()
    return out


def per_example(config: RunConfig, params, x, y, image_shape) -> torch.Tensor:

    def loss(seed_params, xi, yi):  # one seed, one point
        logits, _ = forward(config, [p.unsqueeze(0) for p in seed_params], xi.unsqueeze(0), image_shape)
        return F.cross_entropy(logits[0], yi.unsqueeze(0))

    per_seed_and_point = vmap(vmap(grad(loss), in_dims=(None, 0, 0)), in_dims=(0, None, None))
    R, P = params[0].shape[0], len(x)
    chunk = max(1, SCORE_BLOCK_FLOATS // (R * sum(p[0].numel() for p in params)))
    out = torch.empty(R, P, device=x.device)
    for start in range(0, P, chunk):
        grads = per_seed_and_point(tuple(params), x[start:start + chunk], y[start:start + chunk])
        n = len(x[start:start + chunk])
        out[:, start:start + n] = sum(g.reshape(R, n, -1).square().sum(-1) for g in grads).sqrt()
    return out
