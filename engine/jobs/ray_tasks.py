"""What runs inside a Ray task: one piece of a job, on whichever node Ray chose.

The task prepares its data by name (or from an upload sent through the object
store), sets torch's threads to the CPUs Ray assigned, trains its piece as one
batched ensemble and streams it back to the job's driver (engine.jobs.executors):
("started", node and pid), then ("epoch", EpochRecord) for every epoch the store
keeps, or ("tick", n) progress every TICK_S, and ("done", Ensemble) for an
experiment's piece or ("scores", RunScores) for a run's chunk (engine.training.scores:
the same sums as a local run, made on the node). Nothing here opens the store.
"""
from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import time

import numpy as np

from engine.config import USER_PREFIX, RunConfig
from engine.data.dataset import prepare
from engine.data.sources import RawSplits
from engine.data.upload import user_dataset_path

TICK_S = 0.2  # a task that streams no records reports progress at most this often


def piece_task(piece, mode: str, data_hint: str, cpus: int, upload_name, upload_bytes):
    """A Ray task (a streaming generator): train one piece, yield ("epoch", record) for
    each EpochRecord the driver writes (mode "run", or a piece that streams), else
    ("tick", n) every TICK_S; then ("done", its Ensemble) for an experiment's piece."""
    import ray
    import torch
    os.environ.setdefault("STRAGGLERS_DATA", data_hint)  # a node may set its own before `ray start`
    given = ray.get_runtime_context().get_assigned_resources().get("CPU", cpus)
    torch.set_num_threads(max(1, int(given)))
    data = prepare(piece.config, raw=raw_from_upload(upload_name, upload_bytes))
    yield "started", {"node": ray.get_runtime_context().get_node_id()[:12], "pid": os.getpid(),
                      "threads": torch.get_num_threads(), "data": data.source}
    collector = None
    if mode == "run":  # the difficulty scores are summed here, where the margins are (they never travel)
        from engine.run import train_chunked
        from engine.training.scores import ScoreCollector
        gen, collector = train_chunked(piece.config, data), ScoreCollector(piece.config, data)
    else:
        from engine.experiments.ensemble import train_rows
        gen = train_rows(piece.config, data, piece.seeds, piece.include, piece.keep_epochs, piece.masks,
                         max_epochs=piece.max_epochs)
    pending, last = 0, time.monotonic()
    while True:
        try:
            rec = next(gen)
        except StopIteration as finished:
            if pending:
                yield "tick", pending
            if mode != "run":
                yield "done", portable(finished.value)
            else:
                yield "scores", collector.finish()
            return
        if collector is not None:
            collector.update(rec)
        if mode == "run" or piece.stream:
            yield "epoch", dataclasses.replace(rec, params=None)  # the live tensors stay here
        else:
            pending += 1
            if time.monotonic() - last >= TICK_S:
                yield "tick", pending
                pending, last = 0, time.monotonic()


def portable(ensemble):
    """The Ensemble with its parameters on the CPU (a GPU tensor would pin the sender)."""
    if ensemble is None:
        return None
    ensemble.params = {t: [p.detach().cpu() for p in ps] for t, ps in ensemble.params.items()}
    return ensemble


def upload_ref(config: RunConfig):
    """(name, object ref of the .npz bytes) for an uploaded dataset, else (None, None)."""
    if not config.dataset.startswith(USER_PREFIX):
        return None, None
    import ray
    name = config.dataset[len(USER_PREFIX):]
    return name, ray.put(user_dataset_path(name).read_bytes())


def raw_from_upload(name, blob):
    if name is None:
        return None
    with np.load(io.BytesIO(blob), allow_pickle=False) as a:
        arrays = [np.asarray(a[k]) for k in ("x_train", "y_train", "x_test", "y_test")]
    return RawSplits(f"{USER_PREFIX}{name}", arrays[0], arrays[1].astype(np.int64), arrays[2],
                     arrays[3].astype(np.int64), source="user upload (via Ray's object store)",
                     md5={f"{name}.npz": hashlib.md5(blob).hexdigest()})


def lost_errors() -> tuple:
    """Ray's exceptions for a task that died with its worker or node (not its own error)."""
    import ray.exceptions as rx
    names = ("WorkerCrashedError", "NodeDiedError", "ObjectLostError", "OwnerDiedError", "LocalRayletDiedError",
             "RaySystemError", "ObjectReconstructionFailedError")
    return tuple(getattr(rx, n) for n in names if hasattr(rx, n))


def why(e: BaseException) -> str:
    text = {"WorkerCrashedError": "its Ray worker died", "NodeDiedError": "its node left the cluster"}
    return text.get(type(e).__name__, type(e).__name__)
