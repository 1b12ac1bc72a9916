"""Stragglers: the training points still misclassified at the inversion epoch.

S(t) = training points misclassified after t epochs (Eq. 2); stragglers = S(t*),
with t* per seed the rounded mean of the inversion epochs of its curves that turned
(or any epoch the caller picks). A seed without an inversion (state other than
"present", engine.geometry) has no t* and so no stragglers: its row of S(t*) is
empty and it is left out of the consensus. t(eps) = first epoch whose training
error is <= eps. Consensus: for each training point, the fraction of seeds (with an
inversion) in which it is a straggler.

The straggler frequency (`straggler_frequency`) is that consensus at t*: over the seeds
with an inversion only (diverged, undetermined and absent seeds have no t*), NaN for
every point when no seed inverted. It is the one definition behind scores.csv,
stragglers.csv/.npy, summary.json, scores.json and the pages.
"""
from __future__ import annotations

import numpy as np

from engine.analysis.results import RunResult

CONSENSUS_THRESHOLD = 0.5  # a consensus straggler is one in at least half the seeds
TABLE_FIELDS = ("index", "class", "label", "consensus", "learned_epoch")  # stragglers.csv, the page's CSV


def epoch_at_error(train_error: np.ndarray, epsilon: float) -> int | None:
    """t(eps): the first epoch whose training error is <= eps, None if never."""
    hit = np.flatnonzero(np.asarray(train_error) <= epsilon)
    return int(hit[0]) if len(hit) else None


def straggler_epochs(result: RunResult) -> np.ndarray:
    """Each seed's t*, -1 for a seed without an inversion."""
    return np.array([inv.straggler_epoch if inv.present else -1 for inv in result.inversions()])


def with_inversion(result: RunResult) -> np.ndarray:
    """(R,) bool: the seeds whose state is "present", the ones that have stragglers."""
    return straggler_epochs(result) >= 0


def stragglers_at(result: RunResult, epochs=None) -> np.ndarray:
    """S(t) per seed as a (R, P) boolean array; default t = each seed's t*, and an
    empty row for a seed without an inversion."""
    if epochs is not None:
        return result.misclassified(epochs)
    t = straggler_epochs(result)
    return result.misclassified(np.maximum(t, 0)) & (t >= 0)[:, None]


def stragglers_at_error(result: RunResult, epsilon: float) -> np.ndarray:
    """S(t(eps)) per seed; a seed that never reaches eps contributes its last epoch."""
    epochs = [epoch_at_error(result.curves["train_error"][r], epsilon) for r in range(len(result.seeds))]
    return result.misclassified([result.epochs_done if e is None else e for e in epochs])


def consensus(sets: np.ndarray, rows=None) -> np.ndarray:
    """Fraction of seeds (rows, or only the `rows` given as a bool mask) in which each
    point (column) is in the set; NaN (undetermined) when no row counts."""
    sets = sets if rows is None else sets[np.asarray(rows, dtype=bool)]
    return sets.mean(axis=0) if len(sets) else np.full(sets.shape[1], np.nan)


def straggler_frequency(result: RunResult) -> np.ndarray:
    """(P,) float64: for every training point, the fraction of the seeds with an
    inversion (`with_inversion`, their count: `frequency_seeds`) in whose S(t*) it is;
    NaN for every point when no seed inverted. The only definition of the straggler
    frequency: the exports, the scores and the pages all read it from here."""
    return consensus(stragglers_at(result), with_inversion(result)).astype(np.float64)


def frequency_seeds(result: RunResult) -> int:
    """How many seeds the straggler frequency is over: those with an inversion."""
    return int(with_inversion(result).sum())


def consensus_stragglers(freq: np.ndarray) -> np.ndarray:
    """(P,) bool: a straggler frequency >= CONSENSUS_THRESHOLD (none where it is NaN)."""
    freq = np.asarray(freq, dtype=float)
    return np.isfinite(freq) & (np.nan_to_num(freq, nan=0.0) >= CONSENSUS_THRESHOLD)


LEARNED_BLOCK = 256  # epochs unpacked at a time by learned_epoch: its memory does not grow with T


def learned_epoch(result: RunResult) -> np.ndarray:
    """For every training point, the first epoch after which it stays correctly
    classified: the median over seeds, -1 when that median is "not by the end".
    The masks are read backwards, LEARNED_BLOCK epochs at a time, until every point's
    last misclassified epoch is found."""
    T = result.epochs_done
    first_right = np.empty((len(result.seeds), result.n_train))
    for r in range(len(result.seeds)):
        last_wrong = np.full(result.n_train, -1)
        for stop in range(T + 1, 0, -LEARNED_BLOCK):
            start = max(0, stop - LEARNED_BLOCK)
            wrong = np.unpackbits(result.masks[r, start:stop], axis=-1, count=result.n_train).astype(bool)
            hit = wrong.any(axis=0) & (last_wrong < 0)
            last_wrong[hit] = stop - 1 - np.argmax(wrong[::-1, hit], axis=0)
            if (last_wrong >= 0).all():
                break
        # wrong at T: not learned by the end (T + 1); never wrong: learned from the start (0)
        first_right[r] = np.where(last_wrong < 0, 0, last_wrong + 1)
    med = np.median(first_right, axis=0)
    return np.where(med > T, -1, np.round(med)).astype(int)


def table_of(S: np.ndarray, data, learned: np.ndarray, rows=None, freq=None) -> list[dict]:
    """One row (TABLE_FIELDS) per training point in S of at least one seed (of the
    seeds `rows` selects, e.g. those with an inversion), most consensual first: index
    in the dataset's training split, class, binary label, consensus (fraction of those
    seeds; `freq` when given, e.g. straggler_frequency at t*), the epoch after which it
    stays learned."""
    freq = consensus(S, rows) if freq is None else np.asarray(freq, dtype=float)
    rows = np.flatnonzero(np.nan_to_num(freq, nan=0.0) > 0)
    rows = rows[np.argsort(-freq[rows], kind="stable")]
    return [{"index": int(data.index_train[p]), "class": int(data.classes_train[p]), "label": int(data.y_train[p]),
             "consensus": round(float(freq[p]), 6), "learned_epoch": int(learned[p])} for p in rows]
