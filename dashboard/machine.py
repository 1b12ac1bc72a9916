"""The machine and its data, in words for the pages: the device `auto` picks, which
datasets are ready (and how to fetch the others), the memory free now."""
from __future__ import annotations

import os

import pandas as pd

from engine.data.inventory import status


def device_info() -> str:
    """The device `device=auto` resolves to, in words. Without importing torch (seconds
    on a first page load): the GPUs the driver lists, else the CPU's cores."""
    from engine.planning.calibration import cpu_model, gpu_names
    gpus = gpu_names()
    if gpus:
        return f"CUDA: {gpus[0]}" + (f" (and {len(gpus) - 1} more)" if len(gpus) > 1 else "")
    return f"CPU ({os.cpu_count()} cores: {cpu_model()})"


def datasets_status() -> list[dict]:
    return status()


def datasets_table(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame([{
        "dataset": r["name"], "ready": "yes" if r.get("ready") else "no",
        "training / test points": f"{r['n_train']} / {r['n_test']}" if r.get("ready") else "",
        "source": r.get("source") or "",
        # the command only: the whole recipe (sources tried, files by hand) is in fetch_notes
        "how to fetch": "" if r.get("ready") else f"python -m engine data fetch {r['name']}",
    } for r in rows])


def fetch_notes(rows: list[dict]) -> list[str]:
    """For each missing dataset, the whole recipe (engine.data.sources: what `fetch` tries,
    and which files to put where by hand), as markdown list items."""
    return [f"- **{r['name']}**: {r.get('how_to_fetch') or ''}" for r in rows if not r.get("ready")]


def split_size(dataset: str, rows: list[dict] | None = None) -> int | None:
    """Training points of a ready dataset (None when unknown: not fetched yet)."""
    for r in rows if rows is not None else datasets_status():
        if r.get("name") == dataset and r.get("n_train"):
            return int(r["n_train"])
    return None


def memory_free() -> int:
    from engine.training.memory import available_bytes
    return available_bytes("cpu")
