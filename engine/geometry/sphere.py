"""Class-manifold geometry on the unit sphere (paper, Eqs. 8-10).

Each hidden representation h is projected on the unit sphere, h/|h|. For the
class manifolds M+ and M- (Eq. 1):
  R^2 = 1/(2 n^2) sum_{x,y} |x - y|^2  =  mean |x|^2 - |centroid|^2     (Eq. 8)
  D   = |centroid+ - centroid-|                                       (Eq. 9)
The right-hand form needs only per-class sums, so the geometry of all seeds comes
from two GEMMs over the hidden layer the training step already computed.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch


def class_geometry(hidden: torch.Tensor, onehot: torch.Tensor) -> torch.Tensor:
    """R+, R-, D for every seed: (R, 3).

    hidden: (R, P, H). onehot: (P, 2) or (R, P, 2) class weights, column 1 for
    y=+1 and column 0 for y=-1; a zero row removes that point (pruned sets)."""
    import torch  # here, not at import: the pages read inversions (below) without torch
    norm2 = hidden.square().sum(-1, keepdim=True)
    # a representation that is exactly zero (dead ReLUs) has no direction: keep it at 0
    unit = hidden * torch.where(norm2 > 0, norm2.rsqrt(), torch.zeros_like(norm2))
    nonzero = (norm2.squeeze(-1) > 0).to(unit.dtype)
    if onehot.dim() == 2:
        sums = torch.einsum("pc,rph->rch", onehot, unit)
        sq = torch.einsum("pc,rp->rc", onehot, nonzero)
    else:
        sums = torch.einsum("rpc,rph->rch", onehot, unit)
        sq = torch.einsum("rpc,rp->rc", onehot, nonzero)
    return geometry_from_sums(sums, sq, onehot.sum(-2))


def geometry_from_sums(sums: torch.Tensor, sq: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """R+, R-, D (R, 3) from per-class sums of the unit vectors, sums (R, 2, H),
    of their squared norms (1, or 0 for a zero vector), sq (R, 2), and the class
    sizes, counts (2,) or (R, 2): Eq. 8 as mean |u|^2 - |centroid|^2, no centred copy."""
    import torch
    centroid = sums / counts.unsqueeze(-1)
    r2 = sq / counts - centroid.square().sum(-1)
    radius = r2.clamp_min(0).sqrt()
    distance = (centroid[:, 1] - centroid[:, 0]).norm(dim=-1)
    return torch.stack([radius[:, 1], radius[:, 0], distance], dim=1)


def gyration_radius_direct(points: np.ndarray) -> float:
    """Eq. 8 evaluated literally, O(n^2): the reference the tests check against."""
    u = points / np.linalg.norm(points, axis=1, keepdims=True)
    diff = u[:, None, :] - u[None, :, :]
    return float(np.sqrt((diff ** 2).sum() / (2 * len(u) ** 2)))
