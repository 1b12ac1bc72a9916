"""How every experiment reports the inversion of a set of rows: the per-seed state
(engine.geometry: present | absent | undetermined | diverged), t* and phi only where
curves turned, and means over the seeds that are present, with their number.

HORIZON: an experiment trains each ensemble until no row is undetermined, at most
HORIZON x its planned epochs (engine.experiments.ensemble.run_rows), so that a
pruned set whose segregation turns after the last planned epoch is not reported as
"no inversion"; what is still undetermined then is reported as such.
"""
from __future__ import annotations

import numpy as np

from engine.config import HORIZON  # noqa: F401 (the experiments read it from here
from engine.geometry.curves import METRICS
from engine.geometry.inversion import STATES


class NoInversion(ValueError):
    """An experiment that needs t* (Fig. 2a) on a run where no seed has one. Not bad
    input: the CLI prints the line and exits 1, a job fails with it."""


def max_epochs(epochs: int, horizon) -> int:
    """The cap of a run planned for `epochs`: horizon x epochs (horizon >= 1)."""
    return int(epochs) * max(1, int(horizon))


def verdict_fields(invs) -> dict:
    """The inversion fields of one variant (lists: one entry per seed/row)."""
    present = [i.present for i in invs]
    phi = np.array([i.phi for i in invs if i.present], dtype=float)
    return {
        "state": [i.state for i in invs],
        "states": {s: sum(i.state == s for i in invs) for s in STATES},
        "inversion_present": present,
        "t_star": {m: [i.t_star[m] for i in invs] for m in METRICS},  # null: that curve did not turn
        "phi": [i.phi for i in invs],                                 # null: no curve turned
        "phi_mean": float(phi.mean()) if len(phi) else None,          # over the present seeds
        "phi_std": float(phi.std()) if len(phi) else None,
        "n_present": int(sum(present)),
    }


def fraction_line(v: dict) -> str:
    """'present 3/5 (undetermined 2)': what a headline says about a variant."""
    n = len(v["state"])
    others = ", ".join(f"{s} {v['states'][s]}" for s in STATES[1:] if v["states"].get(s))
    return f"present {v['states']['present']}/{n}" + (f" ({others})" if others else "")
