"""Time and memory of a run or of an experiment before it starts, on this machine.

An experiment is a list of phases, each one batched ensemble (the base run, the
retrains of every variant, one run per training-set size, ...) as the experiment
modules list them (engine.experiments.*.phases), plus work that is not training
(t-SNE, bootstrap fits). A run is one phase. The seconds of a phase are

    start-up (once) + data preparation + (epochs + 1) * seconds per epoch

with seconds per epoch from engine.planning.calibration's measured model of this machine
(fixed cost + elementwise passes + GEMM FLOPs, the autograd factor for deeper nets
and the CNN, a cost per mini-batch step for SGD). When runs have finished here, the
median ratio of their measured to their modelled training time corrects the model
(the machine's load changes; the calibration was one moment). The stated error is
the larger of ERROR and what those runs showed.

The same numbers drive the ETA of a job (`Clock`): its progress is counted in
modelled seconds, so a phase that costs six times as much per epoch moves the bar
six times slower, and the total is known before the first epoch.
"""
from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass

from engine.config import ConfigError, RunConfig, has_manual_backward
from engine.data.inventory import Shape, shape
from engine.planning import calibration as cal
from engine.planning import preflight  # the memory model: the same as the refusal's

ERROR = 1.5  # the stated error factor before any run here has shown a larger one
MIN_HISTORY_S = 5.0  # finished runs shorter than this (modelled) do not correct the model


@dataclass(frozen=True)
class Phase:
    """One batched ensemble of an experiment: `rows` rows (seeds x variants) trained
    with `config` (its epochs, test_every, architecture), whether it loads its data
    anew, and the work after it that is not training: forwards of every row over the
    test set (noisy copies), least-squares fits (Eq. 12 and its bootstrap), t-SNE
    maps of the training set."""
    what: str
    config: RunConfig
    rows: int
    loads_data: bool = True
    test_passes: int = 0
    fits: int = 0
    tsne_maps: int = 0
    tsne_iterations: int = 750
    chunked: bool = False  # a run (engine.run): its seeds train in chunks that fit; an experiment's ensemble: at once

    @property
    def records(self) -> int:
        """Epochs it records per row: 0 ... config.epochs."""
        return self.config.epochs + 1

    @property
    def seed_epochs(self) -> int:
        """Its work in the unit a job's progress counts: one row trained one epoch."""
        return self.rows * self.records


def run_phases(config: RunConfig) -> list[Phase]:
    return [Phase("training", config, config.seeds, chunked=True)]


# --- the data a config trains on ----------------------------------------------------------------

def dataset_shape(dataset: str) -> tuple[tuple[int, int], int, int]:
    """((h, w), training split size, test split size) without loading the data
    (engine.data.inventory.shape); MNIST's for an upload that cannot be read now (the run
    itself will say why)."""
    try:
        s = shape(dataset)
    except (OSError, ValueError):  # UploadError is a ValueError
        return (28, 28), 60000, 10000
    return tuple(s.image_shape[:2]), int(s.n_train), int(s.n_test)


def _work(config: RunConfig, rows: int, tested: float) -> tuple[dict, bool]:
    """One epoch's work (engine.planning.calibration.epoch_work) and whether it goes through autograd."""
    (h, w), _, P_test = dataset_shape(config.dataset)
    N, P = h * w, config.n_train
    patches = (h // config.kernel_size) * (w // config.kernel_size) if config.model == "cnn" else 1
    sgd = config.optimizer == "sgd"
    batches = -(-P // config.batch_size) if sgd else 0
    work = cal.epoch_work(rows, P, N, config.width, P_test, tested, config.depth, patches, batches, eval_pass=sgd)
    autograd = not has_manual_backward(config)
    return work, autograd


def epoch_seconds(config: RunConfig, rows: int, coef: dict, tested: float | None = None) -> float:
    """Modelled seconds of one epoch of `rows` rows (tested: the fraction of epochs
    with a test evaluation, default from config.test_every)."""
    if tested is None:
        tested = min(1.0, (config.epochs // config.test_every + 1) / (config.epochs + 1))
    work, autograd = _work(config, rows, tested)
    seconds = cal.seconds_per_epoch(coef, work, config.precision) * (coef["autograd_factor"] if autograd else 1.0)
    return seconds + coef["batch_s"] * work["batches"]


def phase_seconds(phase: Phase, coef: dict) -> dict:
    """{"data", "train", "extra"} seconds of one phase."""
    c = phase.config
    (h, w), n_split, P_test = dataset_shape(c.dataset)
    data = coef["standardise_s"] * h * w * (n_split + P_test) if phase.loads_data else 0.0
    train = phase.records * epoch_seconds(c, phase.rows, coef)
    extra = 0.0
    if phase.test_passes:  # a forward of every row over the test set, per pass
        one = cal.epoch_work(phase.rows, 0, h * w, c.width, P_test, 1.0, c.depth)
        extra += phase.test_passes * (coef["elementwise_s"] * one["elementwise"] + coef["gemm_s"] * one["gemm"])
    if phase.fits:
        extra += phase.fits * coef["fit_s"]
    if phase.tsne_maps:  # Barnes-Hut t-SNE: n log n per iteration
        extra += phase.tsne_maps * coef["tsne_s"] * c.n_train * math.log2(max(c.n_train, 2)) * \
            phase.tsne_iterations
    return {"data": data, "train": train, "extra": extra}


# --- corrections from runs that finished here ------------------------------------------------------

def history_ratio(finished: list[dict], coef: dict, device: str, last: int = 5) -> tuple[float, float, int]:
    """(median, largest) of measured / modelled training seconds over the newest
    `last` finished run jobs on this kind of device (job dicts, newest first);
    (1, 1, 0) before any."""
    ratios = []
    for job in finished:
        if len(ratios) >= last:
            break
        seconds = job.get("seconds")
        if job.get("kind", "run") != "run" or not seconds or seconds <= 0 or \
                not str(job.get("device") or "cpu").startswith(device):
            continue
        try:
            config = RunConfig.from_dict(job["config"])
            modelled = (config.epochs + 1) * epoch_seconds(config, config.seeds, coef)
        except (ValueError, TypeError, KeyError):
            continue
        if modelled >= MIN_HISTORY_S:  # a run of a few seconds is start-up noise, not the machine's speed
            ratios.append(seconds / modelled)
    if not ratios:
        return 1.0, 1.0, 0
    ratios.sort()
    worst = max(max(ratios), 1 / min(ratios))
    return float(min(max(ratios[len(ratios) // 2], 0.25), 4.0)), float(worst), len(ratios)


# --- the estimate ------------------------------------------------------------------------------------

def device_of(config: RunConfig) -> str:
    """'cpu' or 'cuda', where a run of this config will train (without importing torch
    when the answer is plain: no GPU listed, or device=cpu)."""
    if config.device == "cpu":
        return "cpu"
    if config.device == "cuda":
        return "cuda"
    from engine.environment import loaded_torch
    torch = loaded_torch()
    if torch is not None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    return "cuda" if cal.gpu_names() else "cpu"


def estimate_phases(phases: list[Phase], finished: list[dict] = (), coef: dict | None = None,
                    device: str | None = None, extra: dict | None = None) -> dict:
    """Seconds (with a low..high range), peak memory and the device of the phases,
    with the time of each. `coef`: the calibration's coefficients (default: this
    machine's, measured now if never measured); `extra`: more of them (the
    experiments' fits and t-SNE, engine.experiments.estimate)."""
    device = device or device_of(phases[0].config)
    how = "given coefficients"
    if coef is None:
        calib = cal.calibration(device)
        coef = calib["coefficients"]
        how = f"model measured on this machine {_ago(calib['measured_at'])}"
    coef = {**coef, **(extra or {})}
    ratio, worst, n = history_ratio(list(finished), coef, device)
    if n:
        how += f", corrected by the last {n} finished run{'s' if n > 1 else ''} here (x{ratio:.2f})"
    parts = [phase_seconds(p, coef) for p in phases]
    train = ratio * sum(p["train"] for p in parts)
    start = coef["start_s"]
    if any(p.config.dataset == "digits" for p in phases):  # scikit-learn ships them: its import, once
        start += coef.get("sklearn_s", 0.0)
    seconds = start + sum(p["data"] + p["extra"] for p in parts) + train
    error = max(ERROR, min(worst, 4.0))
    memory = max(_phase_bytes(p) for p in phases)
    return {"seconds": seconds, "low": seconds / error, "high": seconds * error, "error": error,
            "memory_bytes": memory, "device": device, "how": how,
            "phases": [{"what": p.what, "rows": p.rows, "epochs": p.config.epochs,
                        "seconds": ratio * q["train"] + q["data"] + q["extra"]} for p, q in zip(phases, parts)],
            "start_s": start, "ratio": ratio}


def estimate(config: RunConfig, finished: list[dict] = (), coef: dict | None = None) -> dict:
    """estimate_phases of a single run."""
    return estimate_phases(run_phases(config), finished, coef)


def _phase_bytes(phase: Phase) -> int:
    """Working set while the phase trains (engine.training.memory) plus what it keeps: every
    epoch's curves and packed misclassified masks of every row."""
    c = phase.config.replace(seeds=phase.rows)
    try:
        found = preflight.dataset_shape(c)
    except ConfigError:  # an upload that is not there: MNIST's sizes (the run itself will say why)
        found = Shape(60000, 10000, (28, 28), 1)
    device = "cuda" if device_of(c) == "cuda" else "cpu"
    est = preflight.estimate(c, found, device, at_once=None if phase.chunked else phase.rows)
    return est.on_device if device == "cuda" else est.host


def fmt_seconds(s) -> str:
    """'45 s', '3 min 05 s', '1 h 20 min'; '–' for nothing or not a number."""
    if s is None or not isinstance(s, (int, float)) or not math.isfinite(s) or s < 0:
        return "–"
    s = int(round(s))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def _ago(when: float) -> str:
    minutes = (time.time() - when) / 60
    if minutes < 2:
        return "just now"
    if minutes < 120:
        return f"{minutes:.0f} min ago"
    hours = minutes / 60
    return f"{hours:.0f} h ago" if hours < 48 else f"{hours / 24:.0f} days ago"


# --- the ETA of a job under way ---------------------------------------------------------------------

class Clock:
    """The ETA of a job whose work is known up front, in modelled seconds (each epoch
    of each phase worth what the model says it costs). The speed is measured as the
    job goes and blended with the model's:

        eta = modelled seconds left * (elapsed + prior) / (modelled seconds done + prior)

    so the first ETA is the estimate itself, and it follows the machine's real speed
    more and more as the work gets done (prior: how many seconds of evidence the model
    is worth). Without a model (`total_s` None: this machine not calibrated) the ETA
    is the measured rate alone, and None before the second report."""

    def __init__(self, total_s: float | None, prior_s: float | None = None, now=time.monotonic):
        self.total_s, self.now = total_s, now
        self.prior_s = 0.0 if total_s is None else (prior_s if prior_s is not None else min(10.0, 0.1 * total_s))
        self.start = None   # (time, done) of the first report
        self.done_s = 0.0

    def update(self, done: float, total: float | None = None) -> float | None:
        """Record `done` (modelled seconds, or any unit when there is no model, with
        `total` in the same unit) and return the ETA in seconds."""
        now = self.now()
        if total is not None:
            self.total_s = total
        if self.start is None:
            self.start = (now, done)
        self.done_s = done
        left = max(0.0, self.total_s - done)
        elapsed, gained = now - self.start[0], done - self.start[1]
        if self.prior_s > 0:
            return left * (elapsed + self.prior_s) / (gained + self.prior_s)
        return left * elapsed / gained if gained > 0 and elapsed > 0 else None
