"""The estimate of any job kind before it is launched: its phases as the experiment
itself counts them (each module's `phases`), timed by engine.planning.estimate.

Fits and t-SNE maps are experiments' work, not the science's, so their speed is
measured here (once per machine, cached beside the training calibration): an Eq. 12
fit on four sizes, and openTSNE on random points.
"""
from __future__ import annotations

import time

import numpy as np

from engine.planning import calibration as cal
from engine.config import RunConfig
from engine.planning.estimate import Phase, device_of, estimate_phases, run_phases
from engine.experiments import JOB_OPTIONS
from engine.experiments.context import split
from engine.experiments.coordinates import phases as compare_phases
from engine.experiments.embedding import phases as embed_phases, tsne
from engine.experiments.pruning import prune_phases, sweep_phases
from engine.experiments.scaling import fit_phi, phases as scaling_phases
from engine.experiments.selection import phases as select_phases
from engine.experiments.stability import phases as stability_phases

JOB_PHASES = {"compare": compare_phases, "prune": prune_phases, "sweep": sweep_phases,
              "stability": stability_phases, "scaling": scaling_phases, "embed": embed_phases,
              "select": select_phases}
TSNE_PROBE = (1000, 150)  # points, iterations


def phases_of(kind: str, config: dict, **hints) -> list[Phase]:
    """The phases a job of `kind` with this flat config will go through (a bad config
    raises ConfigError, as submitting it would). `hints`: what only the caller knows
    (embed: map_cached)."""
    if kind == "run":
        return run_phases(RunConfig.from_dict(config).validate())
    cfg, opts = split(config, JOB_OPTIONS[kind])
    return JOB_PHASES[kind](cfg, opts, **hints)


def estimate_job(kind: str, config: dict, finished: list[dict] = (), **hints) -> dict:
    """engine.planning.estimate.estimate_phases of the job: seconds, low, high, memory_bytes,
    device, how, and the seconds of each phase."""
    phases = phases_of(kind, config, **hints)
    needs_extra = any(p.fits or p.tsne_maps for p in phases)
    device = device_of(phases[0].config)
    extra = cal.calibration(device, "experiments", measure)["coefficients"] if needs_extra else None
    return estimate_phases(phases, finished, device=device, extra=extra)


# --- measuring what is not training -------------------------------------------------------------

def time_fit(n: int = 20) -> float:
    """Seconds of one Eq. 12 fit (scaling.fit_phi) on four sizes."""
    P, phi = [1024, 2048, 4096, 8192], [0.05, 0.08, 0.1, 0.11]
    start = time.perf_counter()
    for k in range(n):
        fit_phi(P, [v * (1 + 0.01 * k) for v in phi])
    return (time.perf_counter() - start) / n


def time_tsne() -> float:
    """Seconds per point x log2(points) x iteration of the engine's t-SNE (PCA and
    openTSNE, affinities included) on random points."""
    n, iters = TSNE_PROBE
    x = np.random.default_rng(0).standard_normal((n, 64))
    start = time.perf_counter()
    tsne(x, n_iter=iters - 50, early_iter=50, n_jobs=-1)
    return (time.perf_counter() - start) / (n * np.log2(n) * iters)


def measure(device: str = "cpu") -> dict:
    started = time.perf_counter()
    coef = {"fit_s": time_fit(), "tsne_s": time_tsne()}  # openTSNE is a requirement, not an option
    return {"version": cal.VERSION, "machine": cal.machine(device), "measured_at": time.time(),
            "calibration_seconds": time.perf_counter() - started, "coefficients": coef}
