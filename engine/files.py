"""Writing results so that readers can trust them: strict-JSON values and files
that appear whole (written beside the target, then renamed) or not at all."""
from __future__ import annotations

import csv
import io
import math
import os
import tempfile
from pathlib import Path

import numpy as np


def jsonable(obj):
    """numpy scalars/arrays -> Python; NaN and infinities -> None (strict JSON)."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, (np.bool_, bool)):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        return float(obj) if math.isfinite(obj) else None
    return obj


def atomic_write(path: Path, content: str | bytes) -> Path:
    """Write next to the target and rename: a reader or a crash never sees half a file."""
    path = Path(path)
    mode = "wb" if isinstance(content, bytes) else "w"
    # hidden name, so a glob of the folder never lists the half-written file
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode) as f:
            f.write(content)
        os.chmod(tmp, 0o644)  # mkstemp makes it 0600; results and data are meant to be readable
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def csv_text(rows, fields: list[str] | None = None) -> str:
    """CSV of row dicts (columns in first-seen order unless `fields`); NaN, infinities
    and None are empty cells, numpy values plain numbers."""
    rows = list(rows)
    fields = fields or list(dict.fromkeys(k for row in rows for k in row))
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for row in rows:
        w.writerow({k: "" if v is None else v for k, v in jsonable(dict(row)).items()})
    return buf.getvalue()
