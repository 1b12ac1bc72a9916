"""The Stragglers page's logic as pure functions of a RunResult and its Dataset.

A *definition* says which epoch S(t) is read at, per seed:
    {"mode": "t*"}                    each seed's inversion epoch (the paper's stragglers)
    {"mode": "epoch", "epoch": t}     the same epoch t for every seed
    {"mode": "error", "epsilon": e}   t(e): each seed's first epoch with train error <= e
The table is engine.analysis.stragglers.table_of, the one behind the CLI's stragglers.csv, so
the page, the CLI and the downloads agree.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from engine.config import parse_labels
from engine.analysis.stragglers import (CONSENSUS_THRESHOLD, TABLE_FIELDS, consensus, learned_epoch,
                                        straggler_frequency, stragglers_at, stragglers_at_error, table_of,
                                        with_inversion)

MODES = {"t*": "inversion epoch t*", "epoch": "epoch t", "error": "training error ε"}
SORTS = {
    "consensus": ("consensus", False),
    "class": ("class", True),
    "index": ("index", True),
    "learned late first": ("learned_epoch", False),
}


def parse_definition(mode: str | None, value: str | float | None) -> dict:
    """A definition from URL query params (strings); falls back to t*."""
    try:
        if mode == "epoch":
            return {"mode": "epoch", "epoch": int(float(value))}
        if mode == "error":
            return {"mode": "error", "epsilon": float(value)}
    except (TypeError, ValueError):
        pass
    return {"mode": "t*"}


def describe_definition(definition: dict) -> str:
    if definition["mode"] == "epoch":
        return f"S(t) at t = {definition['epoch']}"
    if definition["mode"] == "error":
        return f"S(t(ε)) at ε = {definition['epsilon']:g}"
    return "S(t*) at each seed's inversion epoch"


def inversion_means(result) -> tuple[float | None, float | None]:
    """Means over the seeds whose inversion is present of t* (the epoch the paper reads
    the stragglers at) and of φ; (None, None) when no seed shows one."""
    invs = [i for i in result.inversions() if i.present]
    if not invs:
        return None, None
    return float(np.mean([i.straggler_epoch for i in invs])), float(np.mean([i.phi for i in invs]))


def t_star_caption(result) -> str:
    """What S(t*) means for this run: which seeds have a t*, and the others' states."""
    invs = result.inversions()
    present = [i for i in invs if i.present]
    others = {}
    for i in invs:
        if not i.present:
            others[i.state] = others.get(i.state, 0) + 1
    rest = "; " + ", ".join(f"{n} {s}" for s, n in others.items()) + ": no t*, no stragglers" if others else ""
    if not present:
        return (f"No seed shows an inversion ({', '.join(f'{n} {s}' for s, n in others.items())}): S(t*) is empty. "
                "Pick an epoch or a training error instead" + (", or run longer." if "undetermined" in others else "."))
    mean = np.mean([i.straggler_epoch for i in present])
    return f"Each seed with an inversion ({len(present)} of {len(invs)}) at its own t* (mean {mean:.1f}){rest}."


def rows_of(result, definition: dict) -> np.ndarray | None:
    """The seeds that count under a definition: at t*, only those with an inversion."""
    return with_inversion(result) if definition["mode"] == "t*" else None


def sets(result, definition: dict) -> np.ndarray:
    """(R, P) bool: the straggler set of each seed under the definition."""
    if definition["mode"] == "epoch":
        return stragglers_at(result, min(max(int(definition["epoch"]), 0), result.epochs_done))
    if definition["mode"] == "error":
        return stragglers_at_error(result, float(definition["epsilon"]))
    return stragglers_at(result)


def table(result, data, definition: dict, S: np.ndarray | None = None, learned=None) -> pd.DataFrame:
    """One row per point that is a straggler in at least one seed, most consensual
    first, with the columns of engine.analysis.stragglers.TABLE_FIELDS plus `position` (row in
    the P-block). At t* the rows are exactly the CLI's stragglers.csv."""
    S = sets(result, definition) if S is None else S
    freq = straggler_frequency(result) if definition["mode"] == "t*" else None  # at t*: the one definition
    rows = table_of(S, data, learned_epoch(result) if learned is None else learned, rows_of(result, definition),
                    freq=freq)
    df = pd.DataFrame(rows, columns=list(TABLE_FIELDS))
    df["position"] = np.searchsorted(data.index_train, df["index"].to_numpy()) if len(df) else []
    return df.astype({c: "int64" for c in ("index", "class", "label", "learned_epoch", "position")})


def filter_table(df: pd.DataFrame, S: np.ndarray, classes=None, min_consensus: float = 0.0,
                 seed_row: int | None = None) -> pd.DataFrame:
    """Rows of the given classes, with consensus >= min_consensus, and (seed_row given)
    only the stragglers of that seed."""
    keep = df["consensus"] >= min_consensus - 1e-9
    if classes is not None:
        keep &= df["class"].isin(list(classes))
    if seed_row is not None:
        keep &= S[seed_row][df["position"].to_numpy()] if len(df) else keep
    return df[keep]


def sort_table(df: pd.DataFrame, by: str) -> pd.DataFrame:
    col, ascending = SORTS.get(by, SORTS["consensus"])
    if col == "learned_epoch":  # -1 = "not learned by the end": the latest of all
        key = df[col].where(df[col] >= 0, np.iinfo(np.int64).max)
        return df.iloc[np.argsort(-key.to_numpy(), kind="stable")]
    if col == "index":
        return df.sort_values("index", kind="stable")
    return df.sort_values([col, "index"], ascending=[ascending, True], kind="stable")


def records(df: pd.DataFrame) -> list[dict]:
    """The rows as engine.analysis.stragglers.table_of dicts (for the downloads)."""
    return [{"index": int(r["index"]), "class": int(r["class"]), "label": int(r["label"]),
             "consensus": float(r["consensus"]), "learned_epoch": int(r["learned_epoch"])}
            for r in df[list(TABLE_FIELDS)].to_dict("records")]


def label_names(config) -> dict[int, str]:
    """Binary label -> words: even/odd for parity, the class sets for a split."""
    task = parse_labels(config.labels)
    if task == "parity":
        return {1: "even", 0: "odd"}
    if task == "random":
        return {1: "y=+1 (random)", 0: "y=−1 (random)"}
    pos, neg = task
    return {1: "{" + ",".join(map(str, sorted(pos))) + "}", 0: "{" + ",".join(map(str, sorted(neg))) + "}"}


def caption(row, names: dict) -> str:
    """Index, original class, label -> prediction (a straggler is predicted as the
    other class in the seeds where it is one), consensus frequency."""
    lab = int(row["label"])
    return (f"#{int(row['index'])} · class {int(row['class'])} · {names[lab]}→{names[1 - lab]} · "
            f"{float(row['consensus']):.0%}")


def counts(S: np.ndarray, seed_row: int | None = None, rows=None) -> dict:
    """How many stragglers: per seed, their mean, the union over seeds and the
    consensus ones (>= half the seeds); only the seeds `rows` (a bool mask: at t*,
    those with an inversion) count in the mean and the consensus."""
    per_seed = S.sum(axis=1).astype(int)
    rows = np.ones(len(S), bool) if rows is None else np.asarray(rows, bool)
    freq = consensus(S, rows)
    return {"per_seed": per_seed.tolist(), "mean": float(per_seed[rows].mean()) if rows.any() else float("nan"),
            "union": int((freq > 0).sum()), "consensus": int((freq >= CONSENSUS_THRESHOLD).sum()) if rows.any() else 0,
            "seed": int(per_seed[seed_row]) if seed_row is not None else None}


def fmt_mean(mean: float) -> str:
    """|S| per seed for the big number: "–" where no seed counts (at t* in a run without
    an inversion), never "nan"."""
    return f"{mean:.1f}" if np.isfinite(mean) else "–"


def empty_hint(mode: str, t_star, min_freq: float, seed) -> str:
    """Why the gallery is empty, and only the remedies that apply: a consensus slider
    already at 0 is not one; at t* in a run without an inversion there is no S(t*)."""
    if mode == "t*" and t_star is None:
        return ("No seed of this run shows the inversion, so there is no S(t*): define the stragglers at an "
                "epoch or a training error above, or pick a run with an inversion.")
    fixes = (["lower the consensus frequency"] if min_freq > 0 else []) + \
            (["pick another seed"] if seed != "all" else []) + ["define S(t) at another epoch or error"]
    return "No straggler matches these filters: " + " or ".join(fixes) + "."


def class_counts(df: pd.DataFrame, classes_train: np.ndarray) -> pd.DataFrame:
    """Per original class: points, stragglers shown, their fraction of the class."""
    n = pd.Series(classes_train).value_counts().sort_index()
    s = df["class"].value_counts().reindex(n.index, fill_value=0)
    return pd.DataFrame({"class": n.index.astype(int), "points": n.to_numpy().astype(int),
                         "stragglers": s.to_numpy().astype(int),
                         "fraction": np.where(n.to_numpy() > 0, s.to_numpy() / n.to_numpy(), 0.0)})


def non_stragglers(freq: np.ndarray, classes_train: np.ndarray, classes, n: int, seed: int = 0) -> np.ndarray:
    """Positions of up to n random points that are stragglers in NO seed, drawn from
    the given classes in proportion to how often each class appears in `classes`
    (the classes of the stragglers shown)."""
    classes = np.asarray(list(classes), dtype=int)
    rng = np.random.default_rng(seed)
    if len(classes) == 0 or n <= 0:
        return np.array([], dtype=int)
    wanted = pd.Series(classes).value_counts()
    quota = np.floor(wanted / wanted.sum() * n).astype(int)
    quota[quota.index[: n - quota.sum()]] += 1  # the remainder to the most frequent classes
    out = []
    for c, q in quota.items():
        pool = np.flatnonzero((freq == 0) & (classes_train == c))
        if q > 0 and len(pool):
            out.append(rng.choice(pool, size=min(q, len(pool)), replace=False))
    return np.sort(np.concatenate(out)) if out else np.array([], dtype=int)


def thumbnail(img: np.ndarray, vmax: float | None = None) -> np.ndarray:
    """An image as uint8 for st.image. uint8 images are stretched to 0..255 when the
    dataset's maximum `vmax` is lower (scikit-learn's digits go up to 16); floats are
    rescaled per image."""
    img = np.asarray(img)
    if img.dtype == np.uint8:
        if vmax is not None and 0 < vmax < 255:
            return (img.astype(np.float64) * (255.0 / vmax)).clip(0, 255).round().astype(np.uint8)
        return img
    lo, hi = float(np.min(img)), float(np.max(img))
    scaled = (img - lo) / (hi - lo) if hi > lo else np.zeros_like(img, dtype=float)
    return (255 * scaled).round().astype(np.uint8)


def sizes_by_epoch(result) -> pd.DataFrame:
    """Per epoch t: |S(t)| mean over seeds and the consensus count (>= half the seeds)."""
    T = result.epochs_done
    R = len(result.seeds)
    counts = np.zeros((T + 1, result.n_train), dtype=np.int32)
    for r in range(R):  # one seed at a time: (T+1, P) fits in memory
        counts += np.unpackbits(result.masks[r, :T + 1], axis=-1, count=result.n_train)
    return pd.DataFrame({"epoch": np.arange(T + 1), "mean": counts.sum(axis=1) / R,
                         "consensus": (counts >= CONSENSUS_THRESHOLD * R).sum(axis=1)})


def page_slice(n: int, page: int, per_page: int) -> slice:
    pages = max(1, -(-n // per_page))
    page = min(max(page, 1), pages)
    return slice((page - 1) * per_page, min(page * per_page, n))
