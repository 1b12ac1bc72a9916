"""The estimate shown before every launch button (Run form, presets, experiments):
engine.experiments.estimate's numbers in one sentence. The first estimate on a
machine measures it (a few seconds, once; engine.planning.calibration caches the result);
after that an estimate is arithmetic."""
from __future__ import annotations

import json
import threading

import streamlit as st

from engine.planning.estimate import fmt_seconds

from . import jobs_view


def fmt_bytes(n: float) -> str:
    return jobs_view.fmt_bytes(n)


def sentence(est: dict, what: str = "") -> str:
    """'about **45 s** (30 s to 1 min 08 s) and **170 MiB** on cpu: base run 10 s, ...'"""
    line = (f"Estimate on this machine{what}: about **{fmt_seconds(est['seconds'])}** "
            f"({fmt_seconds(est['low'])} to {fmt_seconds(est['high'])}) and **{fmt_bytes(est['memory_bytes'])}** "
            f"of memory on {est['device']}")
    if len(est["phases"]) > 1:
        line += ": " + ", ".join(f"{p['what']} {fmt_seconds(p['seconds'])}" for p in est["phases"])
    return line + f" (start-up {fmt_seconds(est['start_s'])} included; {est['how']})."


@st.cache_data(max_entries=64, show_spinner=False)
def _estimate(kind: str, config_json: str, finished_json: str, calibrated: tuple, hints_json: str) -> dict:
    config, finished = json.loads(config_json), json.loads(finished_json)
    if kind == "run":  # without importing the experiments (and torch with them): the home page's presets
        from engine.config import RunConfig
        from engine.planning.estimate import estimate_phases, run_phases
        return estimate_phases(run_phases(RunConfig.from_dict(config).validate()), finished)
    from engine.experiments.estimate import estimate_job
    return estimate_job(kind, config, finished, **json.loads(hints_json))


def estimate(kind: str, config: dict, store=None, **hints) -> dict:
    """engine.experiments.estimate.estimate_job, cached per config and per state of
    the calibration and of the finished runs that correct it."""
    from engine.planning import calibration
    from engine.planning.estimate import device_of
    from engine.config import run_config
    finished = [{k: j.get(k) for k in ("kind", "config", "seconds", "device")}
                for j in (jobs_view.finished_runs(store)[:5] if store is not None else [])]
    device = device_of(run_config(config))
    key = tuple(calibration.cache_path(device, w).exists() for w in ("calibration", "experiments"))
    if not key[0]:
        with st.spinner("Measuring this machine once, for the estimates (a few seconds)…"):
            calibration.calibration(device)
        key = (True, key[1])
    return _estimate(kind, json.dumps(config, sort_keys=True), json.dumps(finished, sort_keys=True, default=str),
                     key, json.dumps(hints, sort_keys=True))


_measuring: dict = {}  # device -> the thread measuring it, one per server process
_lock = threading.Lock()


def calibrated_or_measuring(device: str) -> bool:
    """Whether this machine is measured; if not, start measuring it in a background
    thread (once per process) and say False. For the home page: its first paint and
    its buttons must not wait for the measurement."""
    from engine.planning import calibration
    if calibration.cached(device) is not None:
        return True
    with _lock:
        thread = _measuring.get(device)
        if thread is None or not thread.is_alive():
            thread = threading.Thread(target=_measure_quietly, args=(device,), daemon=True,
                                      name=f"calibration-{device}")
            _measuring[device] = thread
            thread.start()
    return False


def _measure_quietly(device: str) -> None:
    from engine.planning import calibration
    try:
        calibration.calibration(device)
    except Exception:  # the pages that need it measure again, in the open, and say why it fails
        pass


def show(kind: str, config: dict, store=None, **hints) -> dict | None:
    """The estimate as a caption before a launch button; a config the engine refuses
    shows nothing here (the launch itself says why)."""
    from engine.config import ConfigError
    try:
        est = estimate(kind, config, store, **hints)
    except (ConfigError, ValueError, TypeError):
        return None
    st.markdown(sentence(est) + memory_warning(est))
    return est


def memory_warning(est: dict) -> str:
    from .machine import memory_free
    free = memory_free()
    if est["memory_bytes"] > 0.5 * free:
        return f" **Warning:** that is more than half of the {fmt_bytes(free)} free now."
    return ""
