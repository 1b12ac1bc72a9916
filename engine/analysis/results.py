"""A finished (or stopped) ensemble run held in memory: per-seed metric curves and
the bit-packed misclassified masks of every epoch, plus the inversion analysis.

The arrays grow as epochs arrive (engine.training.memory.capacities: doubling, capped at
T + 1), so a run of 10^6 epochs that stops, diverges or is read back early holds
what it recorded, not what it might have; a run that completes ends with exactly
T + 1 columns."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Iterable

import numpy as np

from engine.config import RunConfig
from engine.geometry.curves import CURVES, METRICS
from engine.geometry.inversion import Inversion, inversion
from engine.training.memory import N_CURVES, capacities
from engine.training.records import EpochRecord

assert len(CURVES) == N_CURVES  # engine.training.memory counts them



@dataclass
class RunResult:
    config: RunConfig
    seeds: np.ndarray                 # (R,)
    n_train: int                      # P (before any exclusion)
    curves: dict                      # name -> (R, C) float64, NaN where not reached; C <= T+1 grows
    masks: np.ndarray                 # (R, C, ceil(P/8)) uint8, packed S(t)
    epochs_done: int = 0              # last epoch recorded
    diverged: dict = field(default_factory=dict)  # seed -> epoch where its loss diverged
    seconds: float = 0.0
    device: str = "cpu"
    stopped: bool = False             # a consumer stopped it (cancel) before its last record
    scores: object = None             # engine.training.scores.RunScores: difficulty scores per seed and point
    _verdicts: tuple = field(default=None, repr=False, compare=False)  # (fingerprint, list): inversions()

    @classmethod
    def empty(cls, config: RunConfig, seeds, n_train: int, device: str = "cpu") -> "RunResult":
        R, C = len(seeds), capacities(config.epochs + 1)[0]
        return cls(
            config=config, seeds=np.asarray(seeds), n_train=n_train,
            curves={c: np.full((R, C), np.nan) for c in CURVES},
            masks=np.zeros((R, C, (n_train + 7) // 8), dtype=np.uint8), device=device,
        )

    def reserve(self, epochs: int) -> None:
        """Room for epochs 0 .. epochs - 1 (the next capacity that holds them)."""
        C = self.masks.shape[1]
        if epochs <= C:
            return
        C = next(c for c in capacities(self.config.epochs + 1) + [epochs] if c >= epochs)
        for name, old in self.curves.items():
            new = np.full((old.shape[0], C), np.nan)
            new[:, :old.shape[1]] = old
            self.curves[name] = new
        masks = np.zeros((self.masks.shape[0], C, self.masks.shape[2]), dtype=np.uint8)
        masks[:, :self.masks.shape[1]] = self.masks
        self.masks = masks

    def grow(self, epochs: int) -> None:
        """Room for epochs 0..`epochs` (a run trained on past its planned length)."""
        if epochs > self.config.epochs:
            self.config = self.config.replace(epochs=epochs)
        self.reserve(epochs + 1)

    def add(self, rec: EpochRecord) -> None:
        self.reserve(rec.epoch + 1)
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
        """The verdict of every seed (engine.geometry.inversion): state, t*, phi. Kept
        while the curves it read are unchanged: a report asks for it several times
        (summary, straggler table, consensus set), each judging every curve anew."""
        T = self.epochs_done + 1
        used = ("loss", "train_error", *METRICS)
        key = hash(b"".join(np.ascontiguousarray(self.curves[c][:, :T]).tobytes() for c in used))
        if self._verdicts is None or self._verdicts[0] != key:
            self._verdicts = (key, [
                inversion({m: self.curves[m][r, :T] for m in METRICS}, self.curves["train_error"][r, :T],
                          self.curves["loss"][r, :T])
                for r in range(len(self.seeds))
            ])
        return list(self._verdicts[1])


def _sorted(a: np.ndarray) -> bool:
    return bool(np.all(a[1:] > a[:-1]))
