"""The machine and its data, in words for the pages: the device `auto` picks, which
datasets are ready (and how to fetch the others), the memory free now."""
from __future__ import annotations

import os

import pandas as pd

from engine.inventory import status


def device_info() -> str:
    """The device `device=auto` resolves to, in words."""
    import torch
    if torch.cuda.is_available():
        return f"CUDA: {torch.cuda.get_device_name(0)}"
    return f"CPU ({os.cpu_count()} cores, {torch.get_num_threads()} threads for torch)"


def datasets_status() -> list[dict]:
    return status()


def datasets_table(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame([{
        "dataset": r["name"], "ready": "yes" if r.get("ready") else "no",
        "training / test points": f"{r['n_train']} / {r['n_test']}" if r.get("ready") else "",
        "source": r.get("source") or "",
        "how to fetch": "" if r.get("ready") else r.get("how_to_fetch") or f"python -m engine data fetch {r['name']}",
    } for r in rows])


def split_size(dataset: str, rows: list[dict] | None = None) -> int | None:
    """Training points of a ready dataset (None when unknown: not fetched yet)."""
    for r in rows if rows is not None else datasets_status():
        if r.get("name") == dataset and r.get("n_train"):
            return int(r["n_train"])
    return None


def memory_free() -> int:
    from engine.memory import available_bytes
    return available_bytes("cpu")
