"""engine.training.optimizers is torch.optim's foreach SGD and Adam written out (without
the torch._dynamo import their constructors cost): same arithmetic, so the same
bits, step after step, on stacked tensors of the engine's shapes and layouts."""
import pytest
import torch

from engine.training.optimizers import Adam, GradientDescent

CASES = {
    "gd": (None, lambda p: torch.optim.SGD(p, lr=0.2, foreach=True),
           lambda p: GradientDescent(p, lr=0.2)),
    "momentum": (None, lambda p: torch.optim.SGD(p, lr=0.2, momentum=0.9, foreach=True),
                 lambda p: GradientDescent(p, lr=0.2, momentum=0.9)),
    "weight_decay": (None, lambda p: torch.optim.SGD(p, lr=0.2, momentum=0.5, weight_decay=0.01, foreach=True),
                     lambda p: GradientDescent(p, lr=0.2, momentum=0.5, weight_decay=0.01)),
    "adam": (None, lambda p: torch.optim.Adam(p, lr=0.005, foreach=True), lambda p: Adam(p, lr=0.005)),
    "adam_weight_decay": (None, lambda p: torch.optim.Adam(p, lr=0.005, weight_decay=0.01, foreach=True),
                          lambda p: Adam(p, lr=0.005, weight_decay=0.01)),
}


def _params(seed: int):
    g = torch.Generator().manual_seed(seed)
    w1 = torch.rand(3, 20, 64, generator=g).transpose(1, 2)  # W1 (R, N, H) stored as (R, H, N), as the engine does
    return [w1, torch.rand(3, 20, generator=g), torch.rand(3, 20, 2, generator=g), torch.rand(3, 2, generator=g)]


@pytest.mark.parametrize("name", list(CASES))
def test_same_bits_as_torch_optim(name):
    _, theirs, ours = CASES[name]
    a = [p.clone().requires_grad_(True) for p in _params(0)]
    b = [p.clone().requires_grad_(True) for p in _params(0)]
    opt_a, opt_b = theirs(a), ours(b)
    g = torch.Generator().manual_seed(1)
    for step in range(12):
        grads = [torch.randn(p.shape, generator=g) * 10 ** (step % 3 - 1) for p in a]
        for p, q, grad in zip(a, b, grads):
            p.grad, q.grad = grad.clone(), grad.clone()
        opt_a.step()
        opt_b.step()
        opt_a.zero_grad(set_to_none=True)
        opt_b.zero_grad(set_to_none=True)
        for p, q in zip(a, b):
            assert torch.equal(p, q), f"{name}: step {step} differs"
            assert q.grad is None
    assert not torch.equal(a[0], _params(0)[0])  # they did move

