"""What a run leaves behind: summary.json, metrics.csv, stragglers.csv/.npy and a
manifest of how it was computed. The same dicts feed the store and the pages."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .data import Dataset
from .curves import CURVES, METRICS
from .files import output_folder, write_csv
from .provenance import git_commit, versions
from .results import RunResult
from .stragglers import CONSENSUS_THRESHOLD, TABLE_FIELDS, consensus, learned_epoch, stragglers_at, table_of


def summary(result: RunResult, data: Dataset) -> dict:
    invs = result.inversions()
    phi = np.array([i.phi for i in invs])
    S = stragglers_at(result, [i.straggler_epoch for i in invs])
    last = result.epochs_done
    run_epochs = len(result.seeds) * (last + 1)
    return {
        "config": result.config.to_dict(),
        "n_train": int(result.n_train),
        "seeds": [int(s) for s in result.seeds],
        "epochs_done": int(last),
        "inversion": {
            "t_star": {m: [i.t_star[m] for i in invs] for m in METRICS},
            "turns": {m: [i.turns[m] for i in invs] for m in METRICS},
            "present": [i.present for i in invs],
            "phi": {"per_seed": phi.tolist(), "mean": float(phi.mean()), "std": float(phi.std())},
        },
        "stragglers": {
            "epoch": [i.straggler_epoch for i in invs],
            "count": S.sum(axis=1).astype(int).tolist(),
            "consensus_count": int((consensus(S) >= CONSENSUS_THRESHOLD).sum()),
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
    }


def straggler_table(result: RunResult, data: Dataset) -> list[dict]:
    """stragglers.csv: the stragglers S(t*) of every seed, most consensual first."""
    return table_of(stragglers_at(result), data, learned_epoch(result))


def consensus_indices(result: RunResult, data: Dataset) -> np.ndarray:
    freq = consensus(stragglers_at(result))
    return data.index_train[freq >= CONSENSUS_THRESHOLD].astype(np.int64)


def metrics_rows(result: RunResult):
    """metrics.csv: one row per seed and epoch, every curve."""
    for r, seed in enumerate(result.seeds):
        for t in range(result.epochs_done + 1):
            yield {"seed": int(seed), "epoch": t, **{c: result.curves[c][r, t] for c in CURVES}}


def manifest(result: RunResult, data: Dataset, how: str = "python -m engine run") -> dict:
    return {
        "what": "stragglers = training points misclassified at the inversion epoch t* "
                "(rounded mean of argmin R+, argmin R-, argmax D), per seed; consensus = "
                f"fraction of seeds; consensus stragglers have consensus >= {CONSENSUS_THRESHOLD}",
        "how": how,
        "config": result.config.to_dict(),
        "config_hash": result.config.config_hash(),
        "seeds": [int(s) for s in result.seeds],
        "dataset": {"name": data.name, "source": data.source, "md5": data.md5,
                    "indices": "positions in the dataset's training split"},
        "versions": versions(),
        "git_commit": git_commit(),
    }


def write_outputs(result: RunResult, data: Dataset, out: Path) -> dict:
    """summary.json, metrics.csv, stragglers.csv/.npy and manifest.json, as one folder
    that appears whole or not at all (engine.files.output_folder)."""
    summ = summary(result, data)
    table = straggler_table(result, data)
    with output_folder(out) as tmp:
        (tmp / "summary.json").write_text(json.dumps(summ, indent=2))
        write_csv(tmp / "metrics.csv", metrics_rows(result), ["seed", "epoch", *CURVES])  # streamed: R x (T+1) rows
        write_csv(tmp / "stragglers.csv", table, list(TABLE_FIELDS))
        np.save(tmp / "stragglers.npy", consensus_indices(result, data))
        (tmp / "manifest.json").write_text(json.dumps(manifest(result, data), indent=2))
        if result.scores is not None:  # scores.csv, .parquet, .json (engine.score_table)
            from .score_table import write_scores
            write_scores(result, data, tmp)
    return summ
