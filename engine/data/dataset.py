"""From raw splits to what the paper trains on (Methods, "Datasets and standardisation").

Training set: block k of P consecutive elements of the training split. Test set:
the whole test split. Every pixel standardised by its own mean and standard
deviation, the training set on its own statistics and the test set on its own
(paper's Methods; option: test on the training statistics, as the authors' code
does). Pixels with zero variance map to 0. Binary labels: 1 is the paper's
y = +1 class (even digits for parity), 0 is y = -1.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from engine.config import ConfigError, RunConfig, parse_labels
from engine.data.input_cache import cached, entry_key
from engine.data.sources import RawSplits, load_raw
from engine.data.upload import all_identical


@dataclass(frozen=True)
class Dataset:
    name: str
    x_train: np.ndarray       # (P, N) float32, standardised
    y_train: np.ndarray       # (P,) int64 binary labels, 1 = y=+1
    classes_train: np.ndarray  # (P,) original class (0..9), kept for galleries and maps
    index_train: np.ndarray   # (P,) position of each point in the training split
    x_test: np.ndarray
    y_test: np.ndarray
    classes_test: np.ndarray
    image_shape: tuple        # (h, w) of one image, for the CNN and galleries
    source: str
    md5: dict
    label_flipped: np.ndarray | None = None  # (P,) bool: the training labels the label noise flipped

    def __post_init__(self):
        if self.label_flipped is None:
            object.__setattr__(self, "label_flipped", np.zeros(len(self.y_train), bool))

    @property
    def n_train(self) -> int:
        return len(self.y_train)


def prepare(config: RunConfig, raw: RawSplits | None = None) -> Dataset:
    """The training block, test split, standardisation and labels that `config` asks for."""
    raw = raw if raw is not None else load_raw(config.dataset)
    start, stop = check_block(config, len(raw.y_train))
    classes_train = raw.y_train[start:stop].astype(np.int64)
    classes_test = raw.y_test.astype(np.int64)
    y_train, y_test = binary_labels(config, classes_train, classes_test)
    check_classes(config, y_train, start)  # before the pixels are standardised and cached
    check_images(config, raw.x_train[start:stop], raw.x_test, start)
    y_train, flipped = with_label_noise(y_train, config.label_noise, config.label_noise_seed)
    x_train, x_test = standardised(raw, start, stop, config.test_standardisation)
    return Dataset(
        name=config.dataset, x_train=x_train, y_train=y_train, classes_train=classes_train,
        index_train=np.arange(start, stop), x_test=x_test, y_test=y_test,
        classes_test=classes_test, image_shape=tuple(raw.x_train.shape[1:3]),
        source=raw.source, md5=dict(raw.md5), label_flipped=flipped,
    )


def with_label_noise(y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(labels, flipped): round(fraction * P) binary labels, drawn without replacement
    by a generator of its own seed, flipped (1 - y)."""
    flipped = np.zeros(len(y), bool)
    k = int(round(fraction * len(y)))
    if k:
        flipped[np.random.default_rng(seed).choice(len(y), size=k, replace=False)] = True
    return np.where(flipped, 1 - y, y).astype(y.dtype), flipped


def label_noise(config: RunConfig, data: "Dataset") -> dict:
    """What summary.json and manifest.json say about the label noise."""
    return {"fraction": float(config.label_noise), "seed": int(config.label_noise_seed),
            "flipped": int(data.label_flipped.sum())}


def check_block(config: RunConfig, n_split: int) -> tuple[int, int]:
    """(start, stop) of the training block, or ConfigError when the split is too short."""
    start, stop = config.block * config.n_train, (config.block + 1) * config.n_train
    if stop > n_split:
        blocks = n_split // config.n_train
        raise ConfigError(
            "n_train" if config.block == 0 else "block",
            config.n_train if config.block == 0 else config.block,
            f"{config.dataset} has {n_split} training points: P * (block + 1) must be <= {n_split}"
            + (f" (with P={config.n_train}, block < {blocks})" if blocks else ""),
        )
    return start, stop


def check_classes(config: RunConfig, y_train: np.ndarray, start: int) -> None:
    """ConfigError when the training block holds one class only: R+ or R- and the
    inversion are then undefined, and training would only end in NaNs."""
    ones = int(np.sum(y_train))
    if 0 < ones < len(y_train):
        return
    which = "positive (y = +1)" if ones else "negative (y = -1)"
    raise ConfigError("labels", config.labels,
                      f"the training block (points {start}..{start + len(y_train) - 1} of {config.dataset}) holds "
                      f"only {which} points with these labels, and a run needs both classes: raise --n-train, "
                      "choose another --block or other --labels")


def check_images(config: RunConfig, x_block: np.ndarray, x_test: np.ndarray, start: int) -> None:
    """ConfigError when the training block's images, or the test set's, are all one image:
    standardised, every pixel is 0, and training has no input to learn from (an upload
    saved before engine.data.upload refused a constant split, or a block of copies in one)."""
    if all_identical(x_block):
        option = "n_train" if config.block == 0 else "block"
        raise ConfigError(option, getattr(config, option),
                          f"the training block (points {start}..{start + len(x_block) - 1} of {config.dataset}) is "
                          f"{len(x_block)} identical images (no pixel varies): standardised they are all 0 and there "
                          "is nothing to learn; choose another --block or a larger --n-train")
    if all_identical(x_test):
        raise ConfigError("dataset", config.dataset, f"the {len(x_test)} test images of {config.dataset} are "
                          "identical (no pixel varies): standardised they are all 0; upload it again with test "
                          "images that differ")


def standardised(raw: RawSplits, start: int, stop: int, test_standardisation: str):
    """x_train (the block start:stop on its own pixel statistics) and x_test (on its
    own, or on the training block's), float32, through the on-disk cache."""
    @functools.cache
    def block():  # the block flattened and its pixel statistics: at most once, on a cache miss
        flat = _flatten(raw.x_train[start:stop])
        return flat, _pixel_stats(flat)

    x_train = cached(entry_key(raw.md5, part="train", start=start, stop=stop),
                     lambda: _standardise(block()[0], *block()[1]))
    if test_standardisation == "own":
        key = entry_key(raw.md5, part="test", standardisation="own")
        x_test = cached(key, lambda: _standardise(xte := _flatten(raw.x_test), *_pixel_stats(xte)))
    else:
        key = entry_key(raw.md5, part="test", standardisation="train", start=start, stop=stop)
        x_test = cached(key, lambda: _standardise(_flatten(raw.x_test), *block()[1]))
    return x_train, x_test


def binary_labels(config: RunConfig, classes_train: np.ndarray, classes_test: np.ndarray):
    """Parity (even -> 1), a class split (first part -> 1), or randomised labels.

    Randomised labels are a fixed permutation of the parity labels (label_seed),
    so the two classes keep their sizes and only the link to the inputs is cut."""
    task = parse_labels(config.labels)
    if task == "random":
        rng = np.random.default_rng(config.label_seed)
        ytr, yte = binary_labels(config.replace(labels="parity"), classes_train, classes_test)
        return rng.permutation(ytr), rng.permutation(yte)
    positive = set(range(0, 10, 2)) if task == "parity" else task[0]
    pos = np.array(sorted(positive))
    return np.isin(classes_train, pos).astype(np.int64), np.isin(classes_test, pos).astype(np.int64)


def with_noise(x: np.ndarray, sigma: float, seed: int = 0) -> np.ndarray:
    """White Gaussian noise of standard deviation sigma on each (standardised) pixel (Fig. 2c)."""
    if sigma == 0:
        return x
    noise = np.random.default_rng(seed).standard_normal(x.shape, dtype=np.float32)
    return (x + np.float32(sigma) * noise).astype(np.float32)


def _flatten(x: np.ndarray) -> np.ndarray:
    return x.reshape(len(x), -1).astype(np.float64)


def _pixel_stats(x: np.ndarray):
    return x.mean(axis=0), x.std(axis=0)


def _standardise(x, mean, std) -> np.ndarray:
    safe = np.where(std > 0, std, 1.0)
    return np.where(std > 0, (x - mean) / safe, 0.0).astype(np.float32)
