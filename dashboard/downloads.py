"""The bytes behind every download button: pure functions, no Streamlit.

Straggler tables have the columns of engine.analysis.stragglers.TABLE_FIELDS (index in the
dataset's training split, class, binary label, consensus, learned_epoch), so a
CSV downloaded from the page reads exactly like the CLI's stragglers.csv; the NPY
is, like the CLI's stragglers.npy, the consensus stragglers only (in at least
half of the seeds), and its button says so.
"""
from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd

from engine.files import csv_text, jsonable
from engine.analysis.stragglers import CONSENSUS_THRESHOLD, TABLE_FIELDS



def json_bytes(obj) -> bytes:
    return json.dumps(jsonable(obj), indent=2, allow_nan=False).encode()


def rows_csv(rows: list[dict], fields: list[str] | None = None) -> bytes:
    """CSV of row dicts; columns in first-seen order unless `fields` is given."""
    return csv_text(rows, fields).encode()


def frame_csv(frame: pd.DataFrame) -> bytes:
    """Any table shown on a page, as CSV (no pandas index)."""
    return frame.to_csv(index=False, lineterminator="\n").encode()


def stragglers_csv(rows: list[dict]) -> bytes:
    return rows_csv(rows, list(TABLE_FIELDS))


def indices(rows: list[dict]) -> np.ndarray:
    return np.array([int(r["index"]) for r in rows], dtype=np.int64)


def consensus_rows(rows: list[dict]) -> list[dict]:
    """The rows of consensus stragglers (in at least CONSENSUS_THRESHOLD of the seeds)."""
    return [r for r in rows if float(r["consensus"]) >= CONSENSUS_THRESHOLD]


def stragglers_npy(rows: list[dict]) -> bytes:
    """The consensus stragglers among `rows` as an int64 .npy array of indices in the
    training split, ascending: exactly what `python -m engine run` writes to
    stragglers.npy (engine.analysis.report.consensus_indices) when nothing is filtered."""
    buf = io.BytesIO()
    np.save(buf, np.sort(indices(consensus_rows(rows))), allow_pickle=False)
    return buf.getvalue()


def stragglers_json(rows: list[dict], definition: dict, dataset: str) -> bytes:
    """Indices plus the table and how the set was defined."""
    return json_bytes({"dataset": dataset, "definition": definition, "count": len(rows),
                       "indices": indices(rows).tolist(), "rows": rows})


def manifest_json(manifest: dict, definition: dict, count: int) -> bytes:
    """engine.analysis.report.manifest plus the page's selection (definition and filters)."""
    return json_bytes({**manifest, "selection": {**definition, "count": int(count)}})


def bundle(rows: list[dict], manifest: dict, definition: dict, dataset: str, stem: str) -> dict:
    """file name -> (bytes, mime) for the four straggler downloads: as the CLI's files,
    the CSV and JSON hold every row shown (with its consensus), the NPY the consensus
    stragglers among them."""
    return {
        f"{stem}.csv": (stragglers_csv(rows), "text/csv"),
        f"{stem}.json": (stragglers_json(rows, definition, dataset), "application/json"),
        f"{stem}.npy": (stragglers_npy(rows), "application/octet-stream"),
        f"{stem}-manifest.json": (manifest_json(manifest, definition, len(rows)), "application/json"),
    }
