"""Experiments of the paper beyond a single run, one module per concept:
coordinates (Fig. 1, 3a/c/d: eps coordinates, variants), pruning (Fig. 2a-c),
stability (Fig. 2d), scaling (Fig. 3b/e), embedding (SI Fig. 4), selection (which
points to keep: the stragglers against the difficulty scores and random).

JOB_KINDS maps a job kind to fn(config: dict, ctx) -> result dict, where config
is one flat dict (RunConfig fields + the experiment's options) and ctx has
progress(done, total), should_stop(), put_artifact(name, obj), on_epoch(record).
JOB_OPTIONS maps it to its options' defaults (jobs.submit validates against them).
"""
from engine.experiments.coordinates import OPTIONS as COMPARE_OPTIONS, compare
from engine.experiments.embedding import OPTIONS as EMBED_OPTIONS, embed
from engine.experiments.pruning import PRUNE_OPTIONS, SWEEP_OPTIONS, prune, sweep
from engine.experiments.scaling import OPTIONS as SCALING_OPTIONS, scaling
from engine.experiments.selection import OPTIONS as SELECT_OPTIONS, select
from engine.experiments.stability import OPTIONS as STABILITY_OPTIONS, stability

JOB_KINDS = {
    "compare": compare,
    "prune": prune,
    "sweep": sweep,
    "stability": stability,
    "scaling": scaling,
    "embed": embed,
    "select": select,
}
JOB_OPTIONS = {
    "compare": COMPARE_OPTIONS,
    "prune": PRUNE_OPTIONS,
    "sweep": SWEEP_OPTIONS,
    "stability": STABILITY_OPTIONS,
    "scaling": SCALING_OPTIONS,
    "embed": EMBED_OPTIONS,
    "select": SELECT_OPTIONS,
}

__all__ = ["JOB_KINDS", "JOB_OPTIONS"]
