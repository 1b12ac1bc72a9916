"""Classic difficulty scores of every training point, per seed, accumulated in the
training pass itself: the trajectory the ensemble already computes (epoch 0 ... T,
full batch) gives them all at O(R P) work and memory per epoch.

With two outputs everything follows from the margin d = o1 - o0 of each epoch's
forward (engine.training.loop.EpochRecord.margin). With s = +1 for y = 1, -1 for y = 0,
the true-class logit margin z_y - max_{k != y} z_k is s d and p(true label) =
softmax_y = sigmoid(s d); a point is misclassified when (d > 0) != y, the loop's
own argmax (ties go to class 0).

    forgetting_events    learned -> forgotten transitions, correct at t and wrong at t+1
                         (Toneva et al. 2019); a point never classified correctly in
                         epochs 0 ... T gets T + 1, a stand-in for their "infinitely forgotten"
    first_correct_epoch  first epoch at which the point is classified correctly: Toneva et al.'s
                         "first learning event"; T + 1 when never correct in 0 ... T (censored)
    presentations_to_learn  first epoch after which the point stays correct (the epoch after its
                         last mistake): Toneva et al.'s "presentations needed to learn"; T + 1
                         when it is still wrong at T (not learned by the end: censored)
    confidence           mean over epochs of p(true label)                (Swayamdipta et al. 2020,
    variability          population std over epochs of p(true label)      dataset cartography)
    correctness          fraction of epochs in which it is classified correctly
    aum                  mean over epochs of z_y - max_{k != y} z_k, on logits (Pleiss et al. 2020)
    el2n                 ||softmax - onehot(y)||_2 = sqrt(2) |sigmoid(d) - y| at the EL2N
                         epoch (Paul et al. 2021; default 10, a few epochs in)
    grand                ||grad_theta loss(x, y)||_2 at the GraNd epoch (Paul et al. 2021;
                         default 0, at initialisation, their headline GraNd; engine.training.grand)

Seeds are independent, so a run trained in chunks of seeds (engine.training.memory) gives
exactly the values of one chunk: one accumulator per chunk, finalised to the host
when the chunk ends.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from engine.training import grand as grand_norms
from engine.config import DEFAULT_EL2N_EPOCH, RunConfig
from engine.data.dataset import Dataset

SCORES = ("forgetting_events", "first_correct_epoch", "presentations_to_learn", "confidence", "variability", "correctness", "aum",
          "el2n", "grand")
DEFAULT_SCORE_EPOCH = DEFAULT_EL2N_EPOCH  # the name before EL2N and GraNd had an epoch each

FORMULAS = {
    "straggler_frequency": "fraction of the seeds with an inversion (straggler_frequency_seeds of them) in which "
                           "the point is in S(t*), t* = the seed's inversion epoch; empty when no seed has one",
    "forgetting_events": "number of epochs t in 0..T-1 with the point correct at t and misclassified at t+1 "
                         "(Toneva et al. 2019); never correct in 0..T: T+1",
    "first_correct_epoch": "first epoch t at which the point is classified correctly (Toneva et al. 2019's "
                           "first learning event); never correct in 0..T: T+1",
    "presentations_to_learn": "first epoch t such that the point is correct at every epoch >= t, the epoch after "
                              "its last mistake (Toneva et al. 2019's presentations needed to learn); "
                              "misclassified at T (not learned by the end): T+1",
    "confidence": "mean over epochs 0..T of p(true label) = softmax_y (Swayamdipta et al. 2020)",
    "variability": "population standard deviation over epochs 0..T of p(true label) (Swayamdipta et al. 2020)",
    "correctness": "fraction of epochs 0..T in which the point is classified correctly (Swayamdipta et al. 2020)",
    "aum": "mean over epochs 0..T of the logit margin z_y - max_{k != y} z_k (Pleiss et al. 2020)",
    "el2n": "||softmax - onehot(y)||_2 at el2n_epoch (Paul et al. 2021)",
    "grand": "||gradient of the point's own cross-entropy w.r.t. every weight and bias||_2 at grand_epoch "
             "(Paul et al. 2021; 0 = at initialisation)",
}
# stored scores' old names -> their names now (engine.training.scores.RunScores.from_stored)
RENAMED = {"first_learned_epoch": "presentations_to_learn"}  # the epoch after the last mistake, always
# +1: a larger value = a harder point; -1: a smaller one. Variability has no single
# direction in the cartography paper (hard-to-learn points have low variability,
# ambiguous ones high): it is compared as is, larger = "more ambiguous".
HARDER = {"straggler_frequency": 1, "forgetting_events": 1, "first_correct_epoch": 1, "presentations_to_learn": 1,
          "confidence": -1,
          "variability": 1, "correctness": -1, "aum": -1, "el2n": 1, "grand": 1}


def score_epochs(config: RunConfig) -> tuple[int, int, str | None]:
    """(the epoch EL2N is read at, the epoch GraNd is read at, a note when a default
    did not fit the run)."""
    el2n, grand = config.score_epochs
    if config.score_epoch >= 0 or config.epochs >= DEFAULT_EL2N_EPOCH:
        return el2n, grand, None
    short = [name for name, value in (("EL2N", config.el2n_epoch), ("GraNd", config.grand_epoch)) if value < 0]
    if not short:
        return el2n, grand, None
    return el2n, grand, (f"the run has {config.epochs} epochs, fewer than the default {'/'.join(short)} epoch "
                         f"{DEFAULT_EL2N_EPOCH}: {'they are' if len(short) > 1 else 'it is'} read at its last "
                         f"epoch, {config.epochs}")


class ScoreAccumulator:
    """Running sums of one chunk of seeds, on the device: (R, P) each, updated from
    every epoch's margin in about ten float32 elementwise passes; no per-epoch host
    copy. Why float32 and this shape: float64 adds of float32 terms, boolean masks and
    masked_fill cost 3x more on the CPU (benchmarks: `python -m benchmarks.measure scores`)."""

    FLUSH_EVERY = 16  # epochs summed in float32 before they join the float64 totals

    def __init__(self, config: RunConfig, data: Dataset, seeds):
        self.config, self.data, self.seeds = config, data, np.asarray(seeds)
        self.el2n_at, self.grand_at, _ = score_epochs(config)
        self.last = -1  # last epoch added
        self.diverged = np.zeros(len(self.seeds), dtype=bool)

    def _start(self, margin: torch.Tensor) -> None:
        R, P = margin.shape
        dev = margin.device
        y = torch.from_numpy(self.data.y_train).to(dev)
        self.y, self.sign = y.bool(), (2 * y - 1).to(margin.dtype)
        f32, f64 = dict(dtype=torch.float32, device=dev), dict(dtype=torch.float64, device=dev)
        # p, p^2 and the margin: 16 epochs summed in float32, then added to float64 totals,
        # so that 300+ epochs lose no digits. p is summed as q = p - c, c = the mean so
        # far (updated at each flush): q^2 is of the size of the variance, so its float32
        # sums keep the digits that variability = sqrt(E p^2 - (E p)^2) needs
        self.part = torch.zeros(3, R, P, **f32)
        self.total = torch.zeros(3, R, P, **f64)
        self.n_parts = 0
        self.shift = None
        # counts of epochs as float32 (exact below 2^24): correct, forgotten, the current
        # run of correct epochs (presentations_to_learn = T + 1 - that run at the end), whether
        # every epoch so far was wrong and how many were (first_correct_epoch, at the end)
        self.n_correct, self.forgotten, self.streak, self.leading_wrong = (torch.zeros(R, P, **f32) for _ in range(4))
        self.all_wrong = torch.ones(R, P, **f32)
        self.was_correct = None
        self.el2n = self.grand = None

    def update(self, record) -> None:
        d, epoch = record.margin, int(record.epoch)
        if epoch != self.last + 1:
            raise ValueError(f"scores need the epochs in order: got {epoch} after {self.last}")
        if self.last < 0:
            self._start(d)
        s = d * self.sign  # z_y - z_other
        p = torch.sigmoid(s)  # p(true label)
        if self.shift is None:
            self.shift = p.clone()
        q = p - self.shift
        self.part[0] += q
        self.part[1].addcmul_(q, q)
        self.part[2] += s
        correct = torch.eq(d > 0, self.y).to(d.dtype)  # the loop's argmax: 1 = correct
        wrong = 1 - correct
        self.n_correct += correct
        if self.was_correct is not None:  # correct at t - 1, wrong at t
            self.forgotten.addcmul_(self.was_correct, wrong)
        self.all_wrong.mul_(wrong)
        self.leading_wrong += self.all_wrong
        self.streak.add_(1).mul_(correct)
        self.was_correct = correct
        self.last = epoch
        self.n_parts += 1
        if self.n_parts == self.FLUSH_EVERY:
            self._flush()
        self.diverged |= np.asarray(record.diverged, dtype=bool)
        if epoch == self.el2n_at:
            self.el2n = (math.sqrt(2) * (1 - p)).float().cpu().numpy()  # |sigmoid(d) - y| = 1 - p(true)
        if epoch == self.grand_at:
            self._grand_at(record)

    def _flush(self) -> None:
        """sum p = sum q + m c, sum p^2 = sum q^2 + 2 c sum q + m c^2 over the m epochs."""
        m, c = self.n_parts, self.shift.double()
        q, q2, s = self.part.double()
        self.total[0] += q + m * c
        self.total[1] += q2 + 2 * c * q + m * c.square()
        self.total[2] += s
        self.part.zero_()
        self.n_parts = 0
        self.shift = (self.total[0] / (self.last + 1)).float()

    def _grand_at(self, record) -> None:
        """GraNd at the GraNd epoch, from this epoch's parameters."""
        device = record.margin.device
        x = torch.from_numpy(self.data.x_train).to(device)
        y = torch.from_numpy(self.data.y_train).to(device)
        self.grand = grand_norms.grand(self.config, record.params, x, y, self.data.image_shape).cpu().numpy()

    def finalise(self) -> dict:
        """name -> (R, P) float32 per seed, plus "epochs": the last epoch each seed has."""
        R, P = len(self.seeds), self.data.n_train
        if self.last < 0:
            return {**{n: np.full((R, P), np.nan, np.float32) for n in SCORES}, "epochs": np.full(R, -1),
                    "diverged": self.diverged}
        n, T = self.last + 1, self.last
        if self.n_parts:
            self._flush()
        sum_p, sum_p2, sum_margin = self.total
        confidence = sum_p / n
        out = {
            "forgetting_events": torch.where(self.n_correct == 0, T + 1, self.forgotten),
            "first_correct_epoch": self.leading_wrong,  # the wrong epochs before the first correct: T + 1 if never
            "presentations_to_learn": T + 1 - self.streak,  # 0 if never wrong, T + 1 if wrong at T
            "confidence": confidence,
            "variability": (sum_p2 / n - confidence.square()).clamp_min(0).sqrt(),
            "correctness": self.n_correct / n,
            "aum": sum_margin / n,
        }
        out = {k: v.float().cpu().numpy() for k, v in out.items()}
        nan = np.full((R, P), np.nan, np.float32)
        out["el2n"] = nan if self.el2n is None else self.el2n
        out["grand"] = nan.copy() if self.grand is None else self.grand
        for k in SCORES:  # a seed whose loss diverged has no meaningful scores: undetermined
            out[k] = out[k].astype(np.float32)
            out[k][self.diverged] = np.nan
        out["epochs"], out["diverged"] = np.full(R, T), self.diverged
        return out


@dataclass
class RunScores:
    """The R x P aggregates of a run, per seed (what a job stores, not per-epoch arrays)."""
    seeds: np.ndarray                  # (R,)
    values: dict                       # name -> (R, P) float32, NaN where undetermined
    epochs: np.ndarray                 # (R,) last epoch each seed's trajectory scores cover
    el2n_epoch: int                    # where EL2N is read
    grand_epoch: int                   # where GraNd is read (0: at initialisation)
    grand_method: str
    notes: list = field(default_factory=list)

    def array(self) -> np.ndarray:
        """(len(SCORES), R, P) float32, in SCORES order: the job's artefact."""
        return np.stack([self.values[k] for k in SCORES])

    def meta(self) -> dict:
        return {"scores": list(SCORES), "seeds": [int(s) for s in self.seeds],
                "epochs": [int(e) for e in self.epochs], "el2n_epoch": int(self.el2n_epoch),
                "grand_epoch": int(self.grand_epoch),
                "grand_method": self.grand_method, "notes": list(self.notes)}

    @classmethod
    def from_stored(cls, array: np.ndarray, meta: dict) -> "RunScores":
        # stored before each had its own epoch: one score_epoch for both
        el2n, grand = (meta["el2n_epoch"], meta["grand_epoch"]) if "el2n_epoch" in meta else (meta["score_epoch"],) * 2
        values = {RENAMED.get(name, name): v for name, v in zip(meta["scores"], array)}
        for name in SCORES:  # a score added after the job ran: undetermined
            values.setdefault(name, np.full(array.shape[1:], np.nan, np.float32))
        return cls(seeds=np.asarray(meta["seeds"]), values=values,
                   epochs=np.asarray(meta["epochs"]), el2n_epoch=int(el2n), grand_epoch=int(grand),
                   grand_method=meta["grand_method"], notes=list(meta.get("notes", [])))


class ScoreCollector:
    """Feeds every record of a run (chunk after chunk of seeds, engine.run.train_chunked)
    to the accumulator of its chunk; `finish` gives the run's RunScores."""

    def __init__(self, config: RunConfig, data: Dataset):
        self.config, self.data = config, data
        self.done: list[dict] = []
        self.current: ScoreAccumulator | None = None
        self.key = None

    def update(self, record) -> None:
        key = tuple(int(s) for s in record.seeds)
        if key != self.key:
            self._close()
            self.current, self.key = ScoreAccumulator(self.config, self.data, record.seeds), key
        self.current.update(record)

    def _close(self) -> None:
        if self.current is not None:
            self.done.append({"seeds": self.current.seeds, **self.current.finalise()})
            self.current = None

    def finish(self) -> RunScores:
        self._close()
        el2n_at, grand_at, note = score_epochs(self.config)
        parts = self.done or [{"seeds": np.asarray(self.config.seed_list), **ScoreAccumulator(
            self.config, self.data, self.config.seed_list).finalise()}]
        values = {k: np.concatenate([c[k] for c in parts]) for k in SCORES}
        epochs, seeds, diverged = (np.concatenate([c[k] for c in parts]) for k in ("epochs", "seeds", "diverged"))
        notes = [note] if note else []
        if self.config.epochs < DEFAULT_EL2N_EPOCH:
            notes.append(f"a short run: the trajectory scores average over its {self.config.epochs + 1} epochs "
                         f"(0 ... {self.config.epochs})")

        def listed(mask):
            return ", ".join(map(str, seeds[mask]))
        if diverged.any():
            notes.append(f"seeds {listed(diverged)} diverged: their scores are undetermined (left out of the means)")
        stopped = (epochs < self.config.epochs) & ~diverged
        if stopped.any():
            early = [f"{name} (read at epoch {at}) is" for name, at in (("EL2N", el2n_at), ("GraNd", grand_at))
                     if (epochs[stopped] < at).any()]
            notes.append(f"seeds {listed(stopped)} stopped early (at epochs {', '.join(map(str, epochs[stopped]))}): "
                         "their scores cover the epochs they have"
                         + (f"; {' and '.join(early)} undetermined" if early else ""))
        return RunScores(seeds=seeds, values=values, epochs=epochs, el2n_epoch=el2n_at, grand_epoch=grand_at,
                         grand_method=grand_norms.method(self.config), notes=notes)
