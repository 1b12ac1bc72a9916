"""Experiments of the paper beyond a single run, one module per concept:
coordinates (Fig. 1, 3a/c/d: eps coordinates, variants), pruning (Fig. 2a-c),
stability (Fig. 2d), scaling (Fig. 3b/e), embedding (SI Fig. 4).

JOB_KINDS maps a job kind to fn(config: dict, ctx) -> result dict, where config
is one flat dict (RunConfig fields + the experiment's options) and ctx has
progress(done, total), should_stop(), put_artifact(name, obj), on_epoch(record).
"""
from .coordinates import compare
from .embedding import embed
from .pruning import prune, sweep
from .scaling import scaling
from .stability import stability

JOB_KINDS = {
    "compare": compare,
    "prune": prune,
    "sweep": sweep,
    "stability": stability,
    "scaling": scaling,
    "embed": embed,
}

__all__ = ["JOB_KINDS"]
