"""What a run leaves behind: summary.json, metrics.csv, stragglers.csv/.npy and a
manifest of how it was computed. The same dicts feed the store and the pages."""
from __future__ import annotations

import csv
import io
import json
import platform
import subprocess
from pathlib import Path

import numpy as np

from . import __version__
from .data import Dataset
from .files import atomic_write
from .geometry import METRICS
from .results import RunResult
from .stragglers import consensus, learned_epoch, stragglers_at

CONSENSUS_THRESHOLD = 0.5  # a consensus straggler is one in at least half the seeds


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
    """One row per training point that is a straggler in at least one seed,
    most consensual first."""
    S = stragglers_at(result)
    freq = consensus(S)
    learned = learned_epoch(result)
    rows = np.flatnonzero(freq > 0)
    rows = rows[np.argsort(-freq[rows], kind="stable")]
    return [
        {"index": int(data.index_train[p]), "class": int(data.classes_train[p]), "label": int(data.y_train[p]),
         "consensus": round(float(freq[p]), 6), "learned_epoch": int(learned[p])}
        for p in rows
    ]


def consensus_indices(result: RunResult, data: Dataset) -> np.ndarray:
    freq = consensus(stragglers_at(result))
    return data.index_train[freq >= CONSENSUS_THRESHOLD].astype(np.int64)


def metrics_rows(result: RunResult):
    for r, seed in enumerate(result.seeds):
        for t in range(result.epochs_done + 1):
            yield [int(seed), t] + [_num(result.curves[c][r, t]) for c in
                                     ("loss", "train_error", "test_error", "r_plus", "r_minus", "distance")]


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
        "versions": _versions(),
        "git_commit": _git_commit(),
    }


def write_outputs(result: RunResult, data: Dataset, out: Path) -> dict:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    summ = summary(result, data)
    atomic_write(out / "summary.json", json.dumps(summ, indent=2))
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["seed", "epoch", "loss", "train_error", "test_error", "r_plus", "r_minus", "distance"])
    w.writerows(metrics_rows(result))
    atomic_write(out / "metrics.csv", buf.getvalue())
    table = straggler_table(result, data)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=["index", "class", "label", "consensus", "learned_epoch"])
    w.writeheader()
    w.writerows(table)
    atomic_write(out / "stragglers.csv", buf.getvalue())
    npy = io.BytesIO()
    np.save(npy, consensus_indices(result, data))
    atomic_write(out / "stragglers.npy", npy.getvalue())
    atomic_write(out / "manifest.json", json.dumps(manifest(result, data), indent=2))
    return summ


def _num(v):
    return "" if not np.isfinite(v) else float(v)


def _versions() -> dict:
    import torch
    out = {"stragglers": __version__, "python": platform.python_version(), "numpy": np.__version__,
           "torch": torch.__version__}
    try:  # the installed version, without importing scipy (a second of start-up)
        from importlib.metadata import version
        out["scipy"] = version("scipy")
    except ImportError:
        pass
    return out


def _git_commit() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
                              text=True, timeout=5).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None
