"""The optimisers on the stacked (R, ...) parameter tensors: gradient descent (with
heavy-ball momentum and L2 weight decay) and Adam.

Every update is elementwise, so one step on the stacked tensors is exactly R
independent steps. The arithmetic is torch.optim's multi-tensor ("foreach") SGD
and Adam, operation for operation, so the results are bit for bit the same
(tests/test_optimizers.py checks it). Why not torch.optim itself: constructing a
torch.optim optimiser imports torch._dynamo, about 1.4 s of CPU time, as much as
importing torch; a 60-epoch run spent a quarter of its start-up there.
"""
from __future__ import annotations

import torch


class _Optimizer:
    def __init__(self, params: list[torch.Tensor]):
        self.params = list(params)

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad.zero_()

    def _grads(self, weight_decay: float) -> list[torch.Tensor]:
        grads = [p.grad for p in self.params]
        return torch._foreach_add(grads, self.params, alpha=weight_decay) if weight_decay else grads


class GradientDescent(_Optimizer):
    """torch.optim.SGD(params, lr, momentum, weight_decay, foreach=True), full batch or mini-batch."""

    def __init__(self, params, lr: float, momentum: float = 0.0, weight_decay: float = 0.0):
        super().__init__(params)
        self.lr, self.momentum, self.weight_decay = lr, momentum, weight_decay
        self.buffers: list[torch.Tensor] | None = None

    @torch.no_grad()
    def step(self) -> None:
        grads = self._grads(self.weight_decay)
        if self.momentum:
            if self.buffers is None:  # the first step's buffer is the gradient itself
                self.buffers = [g.detach().clone() for g in grads]
            else:
                torch._foreach_mul_(self.buffers, self.momentum)
                torch._foreach_add_(self.buffers, grads, alpha=1.0)
            grads = self.buffers
        torch._foreach_add_(self.params, grads, alpha=-self.lr)


class Adam(_Optimizer):
    """torch.optim.Adam(params, lr, weight_decay, foreach=True): betas (0.9, 0.999), eps 1e-8."""

    def __init__(self, params, lr: float, weight_decay: float = 0.0, betas=(0.9, 0.999), eps: float = 1e-8):
        super().__init__(params)
        self.lr, self.weight_decay, self.betas, self.eps = lr, weight_decay, betas, eps
        self.exp_avgs = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params]
        self.exp_avg_sqs = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params]
        self.steps = 0

    @torch.no_grad()
    def step(self) -> None:
        beta1, beta2 = self.betas
        self.steps += 1
        grads = self._grads(self.weight_decay)
        torch._foreach_lerp_(self.exp_avgs, grads, 1 - beta1)
        torch._foreach_mul_(self.exp_avg_sqs, beta2)
        torch._foreach_addcmul_(self.exp_avg_sqs, grads, grads, 1 - beta2)
        # torch.optim counts steps in a float32 tensor: exact integers, as here
        step_size = (self.lr / (1 - beta1 ** self.steps)) * -1
        denom = torch._foreach_sqrt(self.exp_avg_sqs)
        torch._foreach_div_(denom, [(1 - beta2 ** self.steps) ** 0.5] * len(denom))
        torch._foreach_add_(denom, self.eps)
        torch._foreach_addcdiv_(self.params, self.exp_avgs, denom, [step_size] * len(denom))
