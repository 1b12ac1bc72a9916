"""Job views: what a finished (or running) job means to a reader, built from the
store's rows — its prepared dataset, its summary, its stragglers. The store only
persists and queries; these compute, and cache what is costly to recompute."""
from __future__ import annotations

import functools
import json

import numpy as np

from engine.analysis.report import summary as run_summary
from engine.analysis.stragglers import stragglers_at
from engine.config import RunConfig, run_config
from engine.data.dataset import prepare
from engine.data.upload import data_version
from engine.jobs.store import Store

# the RunConfig fields that engine.data.dataset.prepare reads (the label noise too: a noisy
# run's pages show the labels it trained on, and which were flipped)
DATA_FIELDS = ("dataset", "n_train", "block", "labels", "label_seed", "label_noise", "label_noise_seed",
               "test_standardisation")


def dataset(store: Store, job_id: int):
    """The prepared Dataset of a job's run options (cached: preparing costs seconds)."""
    config = run_config(store.get_job(job_id)["config"]).to_dict()
    key = {k: config[k] for k in DATA_FIELDS}  # jobs on the same data share one Dataset
    key["data_version"] = data_version(config["dataset"])  # a replaced upload is other data
    return _prepared(json.dumps(key, sort_keys=True))


def summary(store: Store, job_id: int) -> dict:
    """engine.analysis.report.summary of the job: the stored one once done, computed from
    the epochs so far otherwise."""
    if store.get_job(job_id)["status"] == "done":
        stored = store.get_artifact(job_id, "summary")
        if stored is not None:
            return stored
    result = store.result(job_id)
    if not np.isfinite(result.curves["train_error"]).any():
        raise LookupError(f"job {job_id} has no epochs yet")
    return run_summary(result, dataset(store, job_id))


def scores(store: Store, job_id: int):
    """The job's difficulty scores (engine.training.scores.RunScores), None for a job that
    ran before they were recorded."""
    from engine.training.scores import RunScores
    array, meta = store.get_artifact(job_id, "scores"), store.get_artifact(job_id, "scores_meta")
    return None if array is None or meta is None else RunScores.from_stored(array, meta)


def score_frame(store: Store, job_id: int):
    """engine.analysis.score_table.frame of a job: one row per training point (a DataFrame),
    or None without stored scores."""
    from engine.analysis.score_table import frame
    stored = scores(store, job_id)
    return None if stored is None else frame(store.result(job_id), dataset(store, job_id), stored)


def stragglers(store: Store, job_id: int, epochs=None) -> np.ndarray:
    """S(t) per seed, (R, P) bool; default t = each seed's t* (engine.analysis.stragglers)."""
    return stragglers_at(store.result(job_id), epochs)


@functools.lru_cache(maxsize=4)
def _prepared(key_json: str):
    key = json.loads(key_json)
    key.pop("data_version")  # only in the key, so a replaced upload misses the cache
    return prepare(RunConfig.from_dict(key))
