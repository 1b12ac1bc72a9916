"""A finished (or stopped) ensemble run held in memory: per-seed metric curves and
the bit-packed misclassified masks of every epoch, plus the inversion analysis."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Iterable

import numpy as np

from .config import RunConfig
from .geometry import METRICS, Inversion, inversion
from .train import EpochRecord

CURVES = ("loss", "train_error", "test_error") + METRICS


@dataclass
class RunResult:
    config: RunConfig
    seeds: np.ndarray                 # (R,)
    n_train: int                      # P (before any exclusion)
    curves: dict                      # name -> (R, T+1) float64, NaN where not reached
    masks: np.ndarray                 # (R, T+1, ceil(P/8)) uint8, packed S(t)
    epochs_done: int = 0              # last epoch recorded
    diverged: dict = field(default_factory=dict)  # seed -> epoch where its loss diverged
    seconds: float = 0.0
    device: str = "cpu"
    stopped: bool = False             # a consumer stopped it (cancel) before its last record

    @classmethod
    def empty(cls, config: RunConfig, seeds, n_train: int, device: str = "cpu") -> "RunResult":
        R, T1 = len(seeds), config.epochs + 1
        return cls(
            config=config, seeds=np.asarray(seeds), n_train=n_train,
            curves={c: np.full((R, T1), np.nan) for c in CURVES},
            masks=np.zeros((R, T1, (n_train + 7) // 8), dtype=np.uint8), device=device,
        )

    def grow(self, epochs: int) -> None:
        """Room for epochs 0..`epochs` (a run trained on past its planned length)."""
        extra = epochs + 1 - self.masks.shape[1]
        if extra <= 0:
            return
        R = len(self.seeds)
        for c in CURVES:
            self.curves[c] = np.concatenate([self.curves[c], np.full((R, extra), np.nan)], 1)
        self.masks = np.concatenate([self.masks, np.zeros((R, extra, self.masks.shape[2]), np.uint8)], 1)
        self.config = self.config.replace(epochs=epochs)

    def add(self, rec: EpochRecord) -> None:
        rows = np.searchsorted(self.seeds, rec.seeds) if _sorted(self.seeds) else \
            np.array([int(np.flatnonzero(self.seeds == s)[0]) for s in rec.seeds])
        for c in CURVES:
            self.curves[c][rows, rec.epoch] = getattr(rec, c)
        self.masks[rows, rec.epoch] = rec.misclassified
        self.epochs_done = max(self.epochs_done, rec.epoch)
        for s, bad in zip(rec.seeds, rec.diverged):
            if bad:
                self.diverged.setdefault(int(s), rec.epoch)

    def collect(self, records: Iterable[EpochRecord], on_epoch=None) -> "RunResult":
        start = time.perf_counter()
        for rec in records:
            self.add(rec)
            if on_epoch is not None:
                on_epoch(rec)
        self.seconds += time.perf_counter() - start
        return self

    def misclassified(self, epoch) -> np.ndarray:
        """S(t) as a (R, P) boolean array; `epoch` is an int or one epoch per seed."""
        ep = np.broadcast_to(np.asarray(epoch), (len(self.seeds),))
        packed = self.masks[np.arange(len(self.seeds)), ep]
        return np.unpackbits(packed, axis=-1, count=self.n_train).astype(bool)

    def inversions(self) -> list[Inversion]:
        """The verdict of every seed (engine.geometry.inversion): state, t*, phi."""
        T = self.epochs_done + 1
        return [
            inversion({m: self.curves[m][r, :T] for m in METRICS}, self.curves["train_error"][r, :T],
                      self.curves["loss"][r, :T])
            for r in range(len(self.seeds))
        ]


def _sorted(a: np.ndarray) -> bool:
    return bool(np.all(a[1:] > a[:-1]))
