"""The difficulty scores as users get them: one row per training point of the
P-block (`columns`: name -> array; a pandas DataFrame from the Python API; scores.csv
and scores.parquet in every run's --out and job export, written without pandas, whose
import is a tenth of a short run) and the scores.json sidecar that says how each
column was computed, at which epoch, from which seeds, and how well each score
predicts the consensus stragglers (engine.analysis.score_comparison).

Every score column is the mean over seeds of the per-seed values (engine.training.scores);
seeds whose value is undetermined (a diverged seed, EL2N before the epoch it is
read at) are left out of that mean; with none left, the cell is empty (NaN).
"""
from __future__ import annotations

import io
import json
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from engine.analysis.provenance import git_commit, versions
from engine.analysis.results import RunResult
from engine.analysis.noise_detection import detect, line
from engine.analysis.score_comparison import compare
from engine.config import SCORE_EPOCH_OPTIONS
from engine.analysis.stragglers import frequency_seeds, straggler_frequency
from engine.data.dataset import Dataset
from engine.data.upload import data_version
from engine.files import atomic_write, jsonable
from engine.training.scores import FORMULAS, HARDER, SCORES, RunScores

if TYPE_CHECKING:
    import pandas as pd

COLUMNS = ("index", "class", "label", "label_flipped", "straggler_frequency") + SCORES  # label: as trained on


def columns(result: RunResult, data: Dataset, scores: RunScores | None = None) -> dict[str, np.ndarray]:
    """The scores table of a run, column by column (COLUMNS): `scores` (default:
    result.scores) beside the straggler frequency (engine.analysis.stragglers.straggler_frequency:
    over the seeds with an inversion, NaN when none has one)."""
    scores = result.scores if scores is None else scores
    if scores is None:
        raise LookupError("this run has no difficulty scores (it was trained without them)")
    with warnings.catch_warnings():  # a point undetermined in every seed is NaN, said in the docs
        warnings.simplefilter("ignore", RuntimeWarning)
        means = {k: np.nanmean(scores.values[k].astype(np.float64), axis=0) for k in SCORES}
    return {"index": data.index_train.astype(np.int64), "class": data.classes_train.astype(np.int64),
            "label": data.y_train.astype(np.int64), "label_flipped": data.label_flipped.astype(np.int64),
            "straggler_frequency": straggler_frequency(result), **means}


def frame(result: RunResult, data: Dataset, scores: RunScores | None = None) -> "pd.DataFrame":
    """`columns` as a pandas DataFrame (the Python API, the pages)."""
    import pandas as pd
    return pd.DataFrame(columns(result, data, scores), columns=list(COLUMNS))


def sidecar(result: RunResult, scores: RunScores, comparison: dict | None = None) -> dict:
    """What scores.json says: formulas, the EL2N and GraNd epochs, seeds, versions, config hash."""
    return jsonable({
        "what": "difficulty scores of every training point of the P-block, mean over seeds; "
                "index = position in the dataset's training split, label = binary label (1 = y=+1)",
        "formulas": {k: FORMULAS[k] for k in ("straggler_frequency",) + SCORES},
        "harder": {k: "larger" if v > 0 else "smaller" for k, v in HARDER.items()},
        "el2n_epoch": scores.el2n_epoch, "grand_epoch": scores.grand_epoch,  # where they were read (0 = init)
        "epoch_options": {k: getattr(result.config, k) for k in SCORE_EPOCH_OPTIONS},
        "epochs": int(result.config.epochs), "epochs_per_seed": scores.epochs,
        "grand_method": scores.grand_method,
        "never_learned": "forgetting_events, first_correct_epoch (never correct) and presentations_to_learn "
                         "(still wrong at T) are T+1 for a point not learned by the end (T = the seed's last "
                         "epoch): censored values, so their means are lower bounds",
        "seeds": scores.seeds, "notes": scores.notes,
        # straggler_frequency is over the seeds with an inversion only: how many they are
        "straggler_frequency_seeds": frequency_seeds(result),
        "config": result.config.to_dict(), "config_hash": result.config.config_hash(data_version(result.config.dataset)),  # the job's
        "versions": versions(), "git_commit": git_commit(),
        "comparison": comparison,
    })


def write_scores(result: RunResult, data: Dataset, out: Path) -> dict:
    """scores.csv, scores.parquet and scores.json in `out`; returns the sidecar."""
    out = Path(out)
    table = columns(result, data)
    meta = sidecar(result, result.scores, compare(table))
    meta["label_noise"] = jsonable(detect(table))  # which score finds the flipped labels (None: no noise)
    atomic_write(out / "scores.csv", _csv(table))
    import pyarrow as pa
    import pyarrow.parquet as pq
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_arrays([_arrow(table[name]) for name in COLUMNS], names=list(COLUMNS)), buf)
    atomic_write(out / "scores.parquet", buf.getvalue())
    atomic_write(out / "scores.json", json.dumps(meta, indent=2))
    return meta


def _arrow(values: np.ndarray):
    """One column as an Arrow array straight from its buffer, NaN as null (as pandas'
    to_parquet writes it); pa.array/pa.table would import pandas to inspect the input."""
    import pyarrow as pa
    values = np.ascontiguousarray(values)
    kind = pa.int64() if values.dtype.kind in "iu" else pa.float64()
    values = values.astype(np.int64 if kind == pa.int64() else np.float64, copy=False)
    valid = np.isfinite(values) if kind == pa.float64() else np.ones(len(values), bool)
    mask = None if valid.all() else pa.py_buffer(np.packbits(valid, bitorder="little"))
    return pa.Array.from_buffers(kind, len(values), [mask, pa.py_buffer(values)], null_count=int((~valid).sum()))


def _csv(table: dict[str, np.ndarray]) -> str:
    """COLUMNS as CSV: integers as they are, floats to 7 significant digits (what
    float32 per-seed values carry; scores.parquet keeps every bit), NaN as empty."""
    def cells(values: np.ndarray) -> list[str]:
        if values.dtype.kind in "iu":
            return [str(v) for v in values.tolist()]
        return ["" if v != v else f"{v:.7g}" for v in values.tolist()]
    rows = zip(*(cells(table[name]) for name in COLUMNS))
    return "\n".join([",".join(COLUMNS), *(",".join(row) for row in rows)]) + "\n"


def noise_line(meta: dict) -> str | None:
    return line(meta.get("label_noise"))


def summary_line(meta: dict) -> str:
    """One line for the CLI: AUROC of each score for the consensus stragglers."""
    cmp = meta.get("comparison") or {}
    parts = [f"{r['score']} {r['auroc']:.2f}" for r in cmp.get("scores", []) if r.get("auroc") is not None]
    return (f"difficulty scores (scores.csv): AUROC for the {cmp.get('n_stragglers', 0)} consensus stragglers: "
            + (", ".join(parts) if parts else "undetermined"))
