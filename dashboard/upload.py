"""The "Your data" page's logic, no Streamlit: check an uploaded file, save it,
and the run that analyses it. Validation itself is engine.data.upload (the engine
loads what it accepts)."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from engine.data.upload import (USER_PREFIX, UploadError, check_name, damage, describe, list_user_datasets,
                                save_user_dataset, validate_npz)


@dataclass
class Checked:
    """The outcome of checking one uploaded file: arrays and a description, or the error."""
    ok: bool
    error: str | None = None
    arrays: dict | None = field(default=None, repr=False)
    info: dict | None = None


_CHECKED: dict = {}  # key -> Checked: the last uploads, so a page rerun does not read the file again
_KEEP = 2


def check(data: bytes, max_bytes: int | None = None, key: str | None = None) -> Checked:
    """validate_npz once per uploaded file: with `key` (the uploader's file id) a
    rerun of the page gets the same Checked back instead of unpacking it again."""
    if key is not None and key in _CHECKED:
        return _CHECKED[key]
    try:
        arrays = validate_npz(data, max_bytes=max_bytes)
        checked = Checked(True, arrays=arrays, info=describe(arrays))
    except UploadError as e:
        checked = Checked(False, error=str(e))
    if key is not None:
        while len(_CHECKED) >= _KEEP:
            _CHECKED.pop(next(iter(_CHECKED)))
        _CHECKED[key] = checked
    return checked


def default_name(filename: str) -> str:
    """A valid dataset name from an uploaded file's name ('My data (2).npz' -> 'My_data_2')."""
    stem = re.sub(r"\.npz$", "", filename or "", flags=re.I)
    name = re.sub(r"[^A-Za-z0-9_-]+", "_", stem).strip("_-")[:48]
    return name or "upload"


def save(name: str, arrays: dict, root=None, overwrite: bool = False) -> tuple[str | None, str | None]:
    """(path, None) once saved, or (None, the reason) — an existing name is refused unless overwrite."""
    try:
        return str(save_user_dataset(check_name(name), arrays, root=root, overwrite=overwrite)), None
    except UploadError as e:
        return None, str(e)
    except OSError as e:
        return None, f"Could not write the dataset: {e}"


def dataset_id(name: str) -> str:
    return f"{USER_PREFIX}{name}"


def saved(root=None) -> list[str]:
    try:
        return list_user_datasets(root)
    except OSError:
        return []


def saved_by_state(root=None) -> tuple[list[str], dict[str, str]]:
    """(the saved datasets that can be used, {damaged one: why}): a file in the user
    data folder that was damaged since it was saved is listed with its reason, never
    read as a dataset, and never deleted (it may be someone's only copy)."""
    sound, damaged = [], {}
    for name in saved(root):
        why = damage(name, root)
        if why is None:
            sound.append(name)
        else:
            damaged[name] = why
    return sound, damaged


def damaged_text(name: str, why: str) -> str:
    """The Your data page's words for a damaged saved dataset."""
    return (f"**{dataset_id(name)}** is damaged and cannot be used: {why} The file is kept: saving a dataset "
            "under this name with *replace* ticked overwrites it.")


def run_options(info: dict, n_train: int = 8192) -> dict:
    """RunConfig values for a first run on an upload: the paper's defaults with P no
    larger than the training split (and even, at least 2)."""
    P = max(2, min(int(n_train), int(info["n_train"])))
    return {"n_train": P, "seeds": 10, "epochs": 300}


def examples(arrays: dict, per_class: int = 1) -> list[tuple[int, int]]:
    """(position, class) of the first `per_class` training images of each class, for a preview."""
    y = arrays["y_train"]
    out = []
    for c in np.unique(y):
        out += [(int(i), int(c)) for i in np.flatnonzero(y == c)[:per_class]]
    return out


def describe_saved(name: str, root=None) -> dict:
    """describe() of a saved user dataset."""
    from engine.data.upload import load_user_dataset
    return describe(load_user_dataset(name, root))

