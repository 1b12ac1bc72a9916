"""The ensemble training loop: R seeds at once, one record per epoch.

Epoch 0 is the initialisation; epoch t is after t steps (full batch) or t passes
(mini-batch SGD). For full-batch optimisers the forward pass that computes the
gradient at epoch t also gives that epoch's errors, loss and geometry, so the
training set is traversed exactly once per epoch; only the test set costs an
extra forward (every `test_every` epochs). The two-layer dense net (the paper's)
has a hand-written backward (`_Dense2`): three GEMMs per epoch and a few in-place
passes over the hidden layer. Everything stays on the device; each epoch makes
one host copy (`_record`) and no `.item()`.
"""
from __future__ import annotations

from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F

from engine.config import RunConfig, check_precision, has_manual_backward
from engine.data.dataset import Dataset
from engine.environment import resolve_device
from engine.geometry.inversion import DIVERGENCE_FACTOR
from engine.geometry.sphere import class_geometry, geometry_from_sums
from engine.training.models import (ACTIVATIONS_INPLACE, DERIVATIVE_FROM_OUTPUT, forward, init_ensemble,
                                    tanh_via_sigmoid_, used_columns)
from engine.training.optimizers import Adam, GradientDescent
from engine.training.precision import gemm_dtype, gemms, matmul_mode
from engine.training.records import EpochRecord


def make_optimizer(config: RunConfig, params: list[torch.Tensor]):
    """torch.optim's arithmetic on the stacked tensors (engine.training.optimizers): every
    update is elementwise, so this is exactly R independent optimisers (the golden
    test checks it)."""
    wd = config.weight_decay
    if config.optimizer == "adam":
        return Adam(params, lr=config.lr, weight_decay=wd)
    mu = config.momentum if config.optimizer == "momentum" else 0.0
    return GradientDescent(params, lr=config.lr, momentum=mu, weight_decay=wd)


def sgd_order(seed: int, epoch: int, n: int) -> torch.Tensor:
    """The shuffle of seed `seed` in pass `epoch`: its own generator, so a seed
    sees the same batches alone or in an ensemble."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))


def train(config: RunConfig, data: Dataset, include: np.ndarray | None = None,
          seeds: list[int] | None = None, device: torch.device | None = None) -> Iterator[EpochRecord]:
    """Yield one EpochRecord per epoch, 0 ... config.epochs, for `seeds` (default:
    config.seed_list). `include` is a (P,) or (R, P) boolean mask of the training
    points each seed trains on (default: all of them). The consumer may
    stop between epochs. A seed whose loss diverges (engine.geometry.inversion.diverged_at) is
    flagged from that epoch on and its later numbers are NaN; the others train on
    (seeds never mix), and the loop stops once every seed has diverged. `device`:
    the one engine.run resolved and checked; alone, train() resolves and checks it."""
    if device is None:
        device = resolve_device(config.device)
        check_precision(config.precision, device.type)
    seeds = list(config.seed_list if seeds is None else seeds)
    R, P = len(seeds), data.n_train
    include = np.ones(P, dtype=bool) if include is None else np.asarray(include, dtype=bool)

    x = torch.from_numpy(data.x_train).to(device)
    y = torch.from_numpy(data.y_train).to(device)
    x_test = torch.from_numpy(data.x_test).to(device)
    y_test = torch.from_numpy(data.y_test).to(device)
    weight = torch.from_numpy(include.astype(np.float32)).to(device)  # (P,) or (R, P)
    n_included = weight.sum(-1).expand(R) if weight.dim() == 2 else weight.sum().expand(R)

    params = init_ensemble(config, seeds, x.shape[1], data.image_shape, device)
    full_batch = config.optimizer != "sgd"
    manual = full_batch and has_manual_backward(config)
    if manual:
        params[0] = _Dense2.transposed_storage(params[0])
    opt = make_optimizer(config, params)
    seed_ids = np.asarray(seeds)
    if not full_batch and include.ndim == 2:
        raise ValueError("mini-batch SGD needs one training subset shared by all seeds")

    watch = _Divergence(R)
    if manual:
        net = _Dense2(config, params, x, y, x_test, y_test, weight, n_included)
    else:
        net = _Autograd(config, data, params, x, y, x_test, y_test, weight, n_included, include, seeds)
    for epoch in range(config.epochs + 1):
        last = epoch == config.epochs
        numbers, wrong, margin = net.epoch(with_test=epoch % config.test_every == 0 or last, backward=not last)
        rec = watch(_record(epoch, seed_ids, numbers, wrong))
        rec.params, rec.margin = params, margin
        yield rec
        if last or rec.diverged.all():
            return
        net.step(opt, epoch)


class _Autograd:
    """Any architecture and optimiser, by autograd: the forward gives this epoch's
    numbers; step() back-propagates the same forward (full batch) or makes one
    mini-batch pass (SGD). The same epoch()/step() shape as _Dense2."""

    def __init__(self, config, data, params, x, y, x_test, y_test, weight, n_included, include, seeds):
        self.config, self.data, self.params, self.include, self.seeds = config, data, params, include, seeds
        self.x, self.y, self.x_test, self.y_test = x, y, x_test, y_test
        self.weight, self.n_included, self.device = weight, n_included, x.device
        self.full_batch = config.optimizer != "sgd"
        self.onehot = F.one_hot(y, 2).to(torch.float32) * weight.unsqueeze(-1)
        self.y_rows = y.repeat(len(seeds))  # the labels of every seed's row of the logits
        self.no_test = torch.full((len(seeds),), float("nan"), device=x.device)  # epochs without a test evaluation
        self.loss = None

    def epoch(self, with_test: bool, backward: bool):
        config, R, P = self.config, len(self.seeds), len(self.x)
        with torch.set_grad_enabled(self.full_batch and backward):
            with gemms(config.precision, self.device):
                logits, hidden = forward(config, self.params, self.x, self.data.image_shape)
            logits, hidden = logits.float(), hidden.float()  # precision: loss and geometry in float32
            per_point = F.cross_entropy(logits.reshape(-1, 2), self.y_rows, reduction="none").view(R, P)
            self.loss = (per_point * self.weight).sum(-1) / self.n_included
        with torch.no_grad():
            wrong = logits.detach().argmax(-1) != self.y
            train_error = (wrong * self.weight).sum(-1) / self.n_included
            geometry = class_geometry(hidden.detach(), self.onehot)
            if with_test:
                with gemms(config.precision, self.device):
                    test_logits, _ = forward(config, self.params, self.x_test, self.data.image_shape)
                test_error = (test_logits.argmax(-1) != self.y_test).float().mean(-1)
            else:
                test_error = self.no_test
            numbers = torch.cat([self.loss.detach()[:, None], train_error[:, None], test_error[:, None], geometry], 1)
            margin = logits[..., 1].detach() - logits[..., 0].detach()
        return numbers, wrong, margin

    def step(self, opt, epoch: int) -> None:
        with matmul_mode(self.config.precision, self.device):  # precision: backward's GEMMs (TF32 flags)
            if self.full_batch:
                self.loss.sum().backward()  # seeds are independent: d(sum)/d(theta_r) = dL_r/d(theta_r)
                opt.step()
                opt.zero_grad(set_to_none=True)
            else:
                _sgd_pass(self.config, self.data, self.params, opt, self.x, self.y, self.include, self.seeds,
                          epoch, self.device)


class _Divergence:
    """engine.geometry's divergence rule applied as the records come: a loss that is
    non-finite or above DIVERGENCE_FACTOR x its epoch-0 value marks the seed diverged
    from that epoch on. The epoch of the blow-up is kept as recorded (it shows what
    happened); after it the seed's numbers are NaN, never read as evidence."""

    def __init__(self, R: int):
        self.loss0 = None
        self.since = np.full(R, -1)  # epoch of the divergence, -1: none

    def __call__(self, rec: EpochRecord) -> EpochRecord:
        if self.loss0 is None:
            self.loss0 = rec.loss.copy()
        new = (self.since < 0) & (~np.isfinite(rec.loss) | (rec.loss > DIVERGENCE_FACTOR * self.loss0))
        self.since[new] = rec.epoch
        after = (self.since >= 0) & (self.since < rec.epoch)
        if after.any():
            for name in ("loss", "train_error", "test_error", "r_plus", "r_minus", "distance"):
                getattr(rec, name)[after] = np.nan
        rec.diverged = self.since >= 0
        return rec


def _record(epoch: int, seed_ids: np.ndarray, numbers: torch.Tensor, wrong: torch.Tensor) -> EpochRecord:
    """numbers (R, 6): loss, train error, test error, R+, R-, D; wrong (R, P) bool.
    Both leave the device in ONE copy: the float64 numbers as bytes beside the packed mask."""
    R = len(seed_ids)
    blob = torch.cat([numbers.double().view(torch.uint8).view(R, 48), pack_bits(wrong)], 1).cpu().numpy()
    values = blob[:, :48].copy().view(np.float64)
    return EpochRecord(
        epoch=epoch, seeds=seed_ids, loss=values[:, 0], train_error=values[:, 1],
        test_error=values[:, 2], r_plus=values[:, 3], r_minus=values[:, 4],
        distance=values[:, 5], misclassified=np.ascontiguousarray(blob[:, 48:]),
        diverged=~np.isfinite(values[:, 0]),
    )


class _Dense2:
    """The two-layer dense ensemble, full batch, with its backward written out.

    The hidden layer is kept seed-major, (R*H, n) rows, so that the first layer of
    all seeds is one GEMM, W1^T X^T, and the readout, the class sums and the
    gradient are batched over seeds without copies. With 2 outputs the loss of a
    point depends on d = o1 - o0 only: dL/dd = (sigmoid(d) - y) w / n =: g, so
    dL/dW2 = +-sum_p h g, dL/dh = g v (v = W2[:, 1] - W2[:, 0]) and
    dL/dW1 = X^T (act'(z) g) v, one more GEMM. Two preallocated buffers hold the
    training hidden layer (then the test one) and h*h (then act'(z) g). W1 (R, N, H)
    lives in (R, H, N) memory, so that W1^T is a view, not a copy, every epoch.

    Input pixels that are 0 for every point of a set (MNIST's borders: 115 of 784)
    add exactly 0 to z and get exactly 0 gradient, so the GEMMs skip them.

    Precision bf16 (engine/training/precision.py): the three GEMMs take bfloat16 inputs, X
    and X_test rounded once per run, W1^T and act'(z) g once per epoch, and sum in
    float32; z is widened back to float32 as the bias is added, so everything
    after the GEMMs (activation, loss, geometry, the update of the float32
    weights) is as in fp32. One more buffer holds the bfloat16 products.
    The two class attributes switch these speed-ups off (benchmarks/ablation.py)."""

    skip_zero_pixels = True
    tanh_via_sigmoid = True  # on the CPU only, see models.tanh_via_sigmoid_

    def __init__(self, config, params, x, y, x_test, y_test, weight, n_included):
        self.params, self.precision = params, config.precision
        R, N, H = params[0].shape
        P, P_test, dev = len(x), len(x_test), x.device
        self.cols, self.x = used_columns(x) if self.skip_zero_pixels else (None, x)
        self.cols_test, self.x_test = used_columns(x_test) if self.skip_zero_pixels else (None, x_test)
        self.act_ = ACTIVATIONS_INPLACE[config.activation]
        if config.activation == "tanh" and dev.type == "cpu" and self.tanh_via_sigmoid:
            self.act_ = tanh_via_sigmoid_
        self.derivative = DERIVATIVE_FROM_OUTPUT.get(config.activation)  # None: tanh, from h*h
        self.shape = R, N, H, P
        self.y, self.y_test = y.bool(), y_test.bool()
        self.yf, self.sign = y.float(), 2 * y.float() - 1
        self.weight, self.scale = weight, (weight / n_included.unsqueeze(-1))  # (P,) or (R, P); (R, P)
        self.n_included = n_included
        self.classes = torch.stack([1 - self.yf, self.yf], -1) * weight.unsqueeze(-1)  # (P, 2) or (R, P, 2)
        self.counts = self.classes.sum(-2)
        self.h_buf = torch.empty(R * H * max(P, P_test), device=dev)
        self.sq_buf = torch.empty(R * H * P, device=dev)
        self.dw1t = torch.zeros(R, H, N, device=dev)  # dL/dW1^T; skipped pixels stay 0
        self.rhs = torch.empty(R, P, 3, device=dev)
        self.nan = torch.full((R,), float("nan"), device=dev)
        self.lo = gemm_dtype(config.precision)  # None: float32 GEMMs
        if self.lo is not None:
            self.x, self.x_test = self.x.to(self.lo), self.x_test.to(self.lo)
            self.lo_buf = torch.empty(R * H * max(P, P_test), dtype=self.lo, device=dev)

    @staticmethod
    def transposed_storage(w1: torch.Tensor) -> torch.Tensor:
        """The same (R, N, H) leaf tensor, stored as (R, H, N)."""
        return w1.detach().transpose(1, 2).contiguous().transpose(1, 2).requires_grad_(w1.requires_grad)

    def first_layer_t(self, cols) -> torch.Tensor:
        """W1^T of every seed restricted to the pixels `cols`, as (R*H, N')."""
        w1t = self.params[0].detach().transpose(1, 2)
        w1t = w1t if cols is None else w1t.index_select(2, cols)
        return w1t.reshape(-1, w1t.shape[-1])

    def hidden(self, x: torch.Tensor, cols) -> torch.Tensor:
        """act(X W1 + b1) for every seed, as (R, H, n), in h_buf."""
        R, N, H, _ = self.shape
        out = self.h_buf[: R * H * len(x)].view(R * H, len(x))
        b1 = self.params[1].detach().reshape(R * H, 1)
        if self.lo is None:
            torch.addmm(b1, self.first_layer_t(cols), x.T, out=out)
        else:  # bf16 GEMM into lo_buf, widened to float32 by the bias addition
            z = torch.mm(self.first_layer_t(cols).to(self.lo), x.T, out=self.lo_buf[: R * H * len(x)].view(R * H, -1))
            torch.add(b1, z, out=out)
        return self.act_(out).view(R, H, len(x))

    def margin(self, h: torch.Tensor) -> torch.Tensor:
        """o1 - o0 per seed and point, (R, n): the prediction is class 1 iff > 0 (argmax)."""
        w2, b2 = self.params[2].detach(), self.params[3].detach()
        logits = torch.baddbmm(b2.unsqueeze(-1), w2.transpose(1, 2), h)
        return logits[:, 1] - logits[:, 0]

    def epoch(self, with_test: bool, backward: bool):
        """This epoch's numbers (R, 6), wrong (R, P) and margin (R, P); the gradient
        is kept for step()."""
        with matmul_mode(self.precision, self.x.device), torch.no_grad():
            numbers, wrong, self.grads = self._epoch(with_test, backward)
        return numbers, wrong, self.last_margin

    def step(self, opt, epoch: int) -> None:
        for p, g in zip(self.params, self.grads):
            p.grad = g
        opt.step()

    def _epoch(self, with_test: bool, backward: bool):
        R, N, H, P = self.shape
        h = self.hidden(self.x, self.cols)
        d = self.last_margin = self.margin(h)
        wrong = (d > 0) != self.y
        loss = (F.softplus(-self.sign * d) * self.weight).sum(-1) / self.n_included
        train_error = (wrong * self.weight).sum(-1) / self.n_included
        g = (torch.sigmoid(d) - self.yf).mul_(self.scale)  # dL_r/dd
        # geometry: class sums of h/|h| and dL/dW2 in one batched GEMM over h
        hsq = torch.mul(h, h, out=self.sq_buf.view(R, H, P))
        norm2 = hsq.sum(1)
        nonzero = norm2 > 0  # a zero representation (dead ReLUs) has no direction: weight 0
        inv_norm = torch.where(nonzero, norm2.rsqrt(), 0.0)
        self.rhs[..., 0] = g
        torch.mul(inv_norm.unsqueeze(-1), self.classes, out=self.rhs[..., 1:])
        sums = torch.bmm(h, self.rhs)  # (R, H, 3)
        sq = (nonzero.unsqueeze(-1) * self.classes).sum(-2)
        geometry = geometry_from_sums(sums[..., 1:].transpose(1, 2), sq, self.counts)
        grads = self.gradients(h, hsq, g, sums[..., 0]) if backward else None
        test_error = self.test_error() if with_test else self.nan
        numbers = torch.stack([loss, train_error, test_error], 1)
        return torch.cat([numbers, geometry], 1), wrong, grads

    def gradients(self, h, hsq, g, dw2):
        """[dW1, db1, dW2, db2] of sum_r L_r; overwrites hsq with act'(z) g."""
        R, N, H, P = self.shape
        gb = g.unsqueeze(1)
        if self.derivative is None:  # tanh' = 1 - h^2
            dz = torch.addcmul(gb, hsq, gb, value=-1, out=hsq)
        else:
            dz = torch.mul(self.derivative(h), gb, out=hsq)
        w2 = self.params[2].detach()
        v = w2[..., 1] - w2[..., 0]  # (R, H): dL/dh = g v
        dz_gemm = dz.view(R * H, P)
        if self.lo is not None:  # act'(z) g rounded to bf16 for the GEMM (db1 keeps the float32 sum)
            dz_gemm = self.lo_buf[: R * H * P].view(R * H, P).copy_(dz_gemm)
        dw1t = torch.mm(dz_gemm, self.x).view(R, H, -1).float().mul_(v.unsqueeze(-1))
        if self.cols is None:
            self.dw1t.copy_(dw1t)
        else:
            self.dw1t.index_copy_(2, self.cols, dw1t)
        gsum = g.sum(-1, keepdim=True)
        return [self.dw1t.transpose(1, 2), dz.sum(-1).mul_(v), torch.stack([-dw2, dw2], -1),
                torch.cat([-gsum, gsum], -1)]

    def test_error(self) -> torch.Tensor:
        d = self.margin(self.hidden(self.x_test, self.cols_test))
        return ((d > 0) != self.y_test).float().mean(-1)


def _sgd_pass(config, data, params, opt, x, y, include, seeds, epoch, device):
    """One pass over the included points in mini-batches of config.batch_size, a
    different shuffle per seed and per pass."""
    idx = np.flatnonzero(include)
    orders = torch.stack([torch.from_numpy(idx)[sgd_order(s, epoch, len(idx))] for s in seeds]).to(x.device)
    R = len(seeds)
    for start in range(0, len(idx), config.batch_size):
        batch = orders[:, start:start + config.batch_size]  # (R, B)
        with gemms(config.precision, device):
            logits, _ = forward(config, params, x[batch], data.image_shape)
        loss = F.cross_entropy(logits.float().reshape(-1, 2), y[batch].reshape(-1),
                               reduction="none").view(R, -1).mean(-1)
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
