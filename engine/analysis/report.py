"""What a run leaves behind: summary.json, metrics.csv, stragglers.csv/.npy and a
manifest of how it was computed. The same dicts feed the store and the pages."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from engine.data.dataset import Dataset, label_noise
from engine.geometry.curves import CURVES, METRICS
from engine.geometry.inversion import STATES
from engine.files import jsonable, output_folder, write_csv
from engine.analysis.provenance import git_commit, versions
from engine.analysis.results import RunResult
from engine.analysis.stragglers import (CONSENSUS_THRESHOLD, TABLE_FIELDS, consensus_stragglers, learned_epoch,
                                        straggler_frequency, stragglers_at, table_of, with_inversion)
from engine.data.upload import data_version


def summary(result: RunResult, data: Dataset) -> dict:
    invs = result.inversions()
    present = np.array([i.present for i in invs], dtype=bool)
    phi = np.array([i.phi for i in invs if i.present])  # averages: the seeds with an inversion only
    S = stragglers_at(result)
    last = result.epochs_done
    run_epochs = len(result.seeds) * (last + 1)
    more = [i.more_epochs for i in invs if i.more_epochs is not None]
    return {
        "config": result.config.to_dict(),
        "n_train": int(result.n_train),
        "seeds": [int(s) for s in result.seeds],
        "epochs_done": int(last),
        "inversion": {
            # one verdict per seed (engine.geometry): present | absent | undetermined | diverged
            "state": [i.state for i in invs],
            "states": {st: sum(i.state == st for i in invs) for st in STATES},
            "curve_state": {m: [i.curves[m].state for i in invs] for m in METRICS},
            "t_star": {m: [i.t_star[m] for i in invs] for m in METRICS},      # null: that curve did not turn
            "extremum": {m: [i.extremum[m] for i in invs] for m in METRICS},  # Eq. 10 as written, raw
            "turns": {m: [i.turns[m] for i in invs] for m in METRICS},
            "present": present.tolist(),
            "phi": {"per_seed": [i.phi for i in invs],  # null: no curve of that seed turned
                    "mean": _mean(phi), "std": _std(phi), "seeds": int(present.sum())},
            "phi_eq10": {"per_seed": [i.phi_eq10 for i in invs]},  # at the three raw extrema, turned or not
            "diverged_epoch": [i.diverged_epoch for i in invs],
            "more_epochs": max(more) if more else None,  # undetermined seeds: epochs that would likely tell
        },
        "stragglers": {
            "epoch": [i.straggler_epoch if i.present else None for i in invs],
            "count": [int(n) if p else None for n, p in zip(S.sum(axis=1), present)],
            "consensus_count": int(consensus_stragglers(straggler_frequency(result)).sum()),
            "seeds": int(present.sum()),  # the seeds the straggler frequency and the consensus are over
        },
        "final": {
            "train_error": result.curves["train_error"][:, last].tolist(),
            "test_error": result.curves["test_error"][:, last].tolist(),
        },
        "diverged": {str(s): e for s, e in result.diverged.items()},
        "timing": {
            "seconds": result.seconds,
            "run_epochs_per_second": run_epochs / result.seconds if result.seconds else None,
            "device": result.device,
        },
        "dataset": {"source": data.source, "md5": data.md5},
        "label_noise": {**label_noise(result.config, data), "detection": _noise_detection(result, data)},
    }


def _noise_detection(result: RunResult, data: Dataset) -> dict | None:
    """engine.analysis.noise_detection of a noisy run with scores (None otherwise)."""
    if result.scores is None or not data.label_flipped.any():
        return None
    from engine.analysis.noise_detection import detect
    from engine.analysis.score_table import columns
    return detect(columns(result, data))


def _mean(values: np.ndarray) -> float | None:
    return float(values.mean()) if len(values) else None


def _std(values: np.ndarray) -> float | None:
    return float(values.std()) if len(values) else None


def straggler_table(result: RunResult, data: Dataset) -> list[dict]:
    """stragglers.csv: the stragglers S(t*) of every seed with an inversion, most consensual
    first; consensus = the straggler frequency."""
    return table_of(stragglers_at(result), data, learned_epoch(result), with_inversion(result),
                    freq=straggler_frequency(result))


def consensus_indices(result: RunResult, data: Dataset) -> np.ndarray:
    """stragglers.npy: the indices of the consensus stragglers (straggler frequency >= the threshold)."""
    return data.index_train[consensus_stragglers(straggler_frequency(result))].astype(np.int64)


def metrics_rows(result: RunResult):
    """metrics.csv: one row per seed and epoch, every curve."""
    for r, seed in enumerate(result.seeds):
        for t in range(result.epochs_done + 1):
            yield {"seed": int(seed), "epoch": t, **{c: result.curves[c][r, t] for c in CURVES}}


def manifest(result: RunResult, data: Dataset, how: str = "python -m engine run") -> dict:
    return {
        "what": "stragglers = training points misclassified at the inversion epoch t* "
                "(rounded mean of argmin R+, argmin R-, argmax D over the curves that turned), per seed "
                "whose inversion is present (engine/geometry/); consensus = fraction of those seeds; "
                f"consensus stragglers have consensus >= {CONSENSUS_THRESHOLD}",
        "how": how,
        "config": result.config.to_dict(),
        "config_hash": result.config.config_hash(data_version(result.config.dataset)),  # = the job's
        "seeds": [int(s) for s in result.seeds],
        "dataset": {"name": data.name, "source": data.source, "md5": data.md5,
                    "indices": "positions in the dataset's training split"},
        "label_noise": label_noise(result.config, data),
        "versions": versions(),
        "git_commit": git_commit(),
    }


def write_outputs(result: RunResult, data: Dataset, out: Path) -> dict:
    """summary.json, metrics.csv, stragglers.csv/.npy and manifest.json, as one folder
    that appears whole or not at all (engine.files.output_folder)."""
    summ = summary(result, data)
    table = straggler_table(result, data)
    with output_folder(out) as tmp:
        (tmp / "summary.json").write_text(json.dumps(jsonable(summ), indent=2))  # strict JSON: NaN -> null
        write_csv(tmp / "metrics.csv", metrics_rows(result), ["seed", "epoch", *CURVES])  # streamed: R x (T+1) rows
        write_csv(tmp / "stragglers.csv", table, list(TABLE_FIELDS))
        np.save(tmp / "stragglers.npy", consensus_indices(result, data))
        (tmp / "manifest.json").write_text(json.dumps(manifest(result, data), indent=2))
        if result.scores is not None:  # scores.csv, .parquet, .json (engine.analysis.score_table)
            from engine.analysis.score_table import write_scores
            write_scores(result, data, tmp)
    return summ
