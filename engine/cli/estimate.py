"""`--dry-run` of `run` and of every experiment command: the options checked, then
the estimate the Run form and the pages show (engine.experiments.estimate), for a
person or, with --json, for a script. Nothing is trained; a machine never measured
is calibrated first (a few seconds, said on stderr)."""
from __future__ import annotations

import json
import sys

from engine.config import HORIZON
from engine.environment import runs_dir


def finished_runs() -> list[dict]:
    """The finished run jobs of the store, if there is one (they correct the model)."""
    from engine.jobs.store import Store, StoreError
    path = runs_dir() / "store.sqlite"
    if not path.exists():
        return []
    try:
        return Store(path).list_jobs(kind="run", status="done")
    except (StoreError, OSError):
        return []


def dry_run(kind: str, config: dict, as_json: bool, stream=None) -> int:
    from engine.experiments.estimate import estimate_job, phases_of
    from engine.planning import calibration
    from engine.planning.estimate import device_of, fmt_seconds
    stream = stream or sys.stdout
    phases = phases_of(kind, config)  # a bad option fails here, before any measuring
    device = device_of(phases[0].config)
    if calibration.cached(device) is None:
        print(f"measuring this machine once ({device}); the result is kept under "
              f"{calibration.cache_path(device).parent}", file=sys.stderr)
    est = estimate_job(kind, config, finished_runs())
    horizon = _horizon(kind, config)
    if as_json:
        print(json.dumps({"seconds": round(est["seconds"], 1), "memory_bytes": est["memory_bytes"],
                          "device": est["device"], "low": round(est["low"], 1), "high": round(est["high"], 1),
                          "phases": est["phases"], "how": est["how"], "horizon": horizon}),
              file=stream)
        return 0
    print(f"{kind}: about {fmt_seconds(est['seconds'])} ({fmt_seconds(est['low'])} to {fmt_seconds(est['high'])}) "
          f"and {est['memory_bytes'] / 2**20:.0f} MiB on {est['device']}; {est['how']}", file=stream)
    if len(est["phases"]) > 1:
        for p in est["phases"]:
            print(f"  {p['what']}: {p['rows']} rows x {p['epochs'] + 1} epochs, {fmt_seconds(p['seconds'])}",
                  file=stream)
    if horizon > 1:  # engine.experiments.verdicts: what the plan cannot know
        print(f"  an ensemble with an undetermined row trains on, up to {horizon}x its epochs (--horizon): "
              "then it takes longer", file=stream)
    return 0


def _horizon(kind: str, config: dict) -> int:
    if kind == "run":
        return 1
    return int(config.get("horizon", HORIZON))

