"""The numerical precision of the GEMMs: fp32 | bf16 | tf32 (the `precision` run option).

Only the matrix products change. Master weights, the optimiser, the activations,
the loss, the errors and the geometry stay in float32 in every precision:

  fp32  every product in IEEE float32 (on CUDA TF32 is switched off, convolutions
        included: cuDNN allows it by default).
  bf16  the GEMMs' inputs rounded to bfloat16 (8 mantissa bits), products summed in
        float32 by the GEMM. CPUs with AVX512-BF16/AMX and recent GPUs run these
        2-4x faster than float32 GEMMs. The two-layer net (engine.training.loop._Dense2)
        casts explicitly: the inputs once per run, W1 and dL/dz once per epoch; the
        generic path runs its forward under torch.autocast.
  tf32  CUDA only: float32 tensors, GEMMs on TensorFloat-32 cores (10 mantissa bits).

Whether a precision is fit for the science is decided by engine.analysis.fidelity against
an fp32 run of the same seeds (docs/precision.md has the numbers).
"""
from __future__ import annotations

from contextlib import contextmanager, nullcontext

import torch


def gemm_dtype(precision: str) -> torch.dtype | None:
    """The dtype the GEMM inputs are cast to, None when they stay float32."""
    return torch.bfloat16 if precision == "bf16" else None


@contextmanager
def matmul_mode(precision: str, device: torch.device):
    """On CUDA, while the block runs: float32 GEMMs (and cuDNN convolutions) as TF32
    for tf32, strict IEEE for fp32 and bf16; and bf16 GEMMs summed in float32 all
    the way (cuBLAS may otherwise reduce split-K partial sums in bf16: the weight
    gradient's K is P = 8192). The previous flags come back after it, so nothing
    else in the process (a page, another run) is affected."""
    if device.type != "cuda":
        yield
        return
    matmul, cudnn = torch.backends.cuda.matmul, torch.backends.cudnn
    saved = matmul.allow_tf32, cudnn.allow_tf32, matmul.allow_bf16_reduced_precision_reduction
    matmul.allow_tf32 = cudnn.allow_tf32 = precision == "tf32"
    matmul.allow_bf16_reduced_precision_reduction = False
    try:
        yield
    finally:
        matmul.allow_tf32, cudnn.allow_tf32, matmul.allow_bf16_reduced_precision_reduction = saved


def autocast(precision: str, device: torch.device):
    """torch.autocast to bfloat16 for bf16 (the generic path's forward), else nothing."""
    if precision != "bf16":
        return nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)


@contextmanager
def gemms(precision: str, device: torch.device):
    """A forward pass of the generic path (autograd) in `precision`: the CUDA flags
    and, for bf16, autocast. Its backward needs matmul_mode only: autocast records
    the casts, and the backward of a bf16 GEMM runs in bf16."""
    with matmul_mode(precision, device), autocast(precision, device):
        yield
