"""One epoch of an ensemble, as the loop hands it on: numpy arrays for the store and
the results, and (live, not copied) the parameters and margins for the scores. It
lives apart from the loop so that what reads records (results, the store, the
pages) need not import torch."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch


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
    diverged: np.ndarray       # (R,) bool: the loss diverged at this epoch or before
                               # (engine.geometry.inversion.diverged_at: non-finite or > 10x epoch 0)
    # the live parameter tensors (R, ...) at this epoch, NOT copies: valid until the
    # loop resumes; clone them to keep (experiments evaluate extra test sets on them)
    params: list | None = None
    # o1 - o0 of every seed and training point at this epoch, (R, P) on the device, live
    # like params: what engine.training.scores accumulates (the prediction is class 1 iff > 0)
    margin: torch.Tensor | None = None
