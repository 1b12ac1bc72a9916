"""Run configuration: one frozen dataclass, its validation and a stable hash.

Defaults reproduce the paper (Ciceri et al. 2024, Methods): MNIST parity, the
first P = 8192 training points, a two-layer tanh network with 20 hidden units,
U(-1/sqrt(n), 1/sqrt(n)) init, full-batch GD with eta = 0.2 on the mean
cross-entropy, geometry at the first hidden layer.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
from dataclasses import dataclass, field

DATASETS = ("mnist", "kmnist", "fashion", "cifar10", "digits")
USER_PREFIX = "user:"                             # user:<name> = an uploaded .npz (engine/upload.py)
USER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,47}")  # as engine.upload.check_name
ACTIVATIONS = ("tanh", "relu", "leaky_relu", "silu", "linear")
OPTIMIZERS = ("gd", "momentum", "adam", "sgd")
MODELS = ("fc", "cnn")
DEVICES = ("auto", "cpu", "cuda")
STANDARDISATIONS = ("own", "train")


class ConfigError(ValueError):
    """A configuration value out of range. The message names the option, the
    value and what is allowed, so the CLI and the pages can show it as is."""

    def __init__(self, option: str, value, allowed: str):
        self.option, self.value, self.allowed = option, value, allowed
        super().__init__(f"--{option.replace('_', '-')}={value!r} is not valid: {allowed}")


@dataclass(frozen=True)
class RunConfig:
    # --- data -----------------------------------------------------------------
    dataset: str = "mnist"          # mnist | kmnist | fashion | cifar10 | digits | user:<name> (an upload)
    n_train: int = 8192             # P: training points, a block of the training split
    block: int = 0                  # k: use elements k*P ... (k+1)*P - 1 of the split
    labels: str = "parity"          # parity | random | a class split "0,1,2,3,4|5,6,7,8,9"
    label_seed: int = 0             # fixes the permutation for labels=random
    test_standardisation: str = "own"  # own: test set on its own statistics (paper);
                                       # train: with the training statistics (authors' code)
    # --- architecture -----------------------------------------------------------
    model: str = "fc"               # fc: fully connected | cnn: one conv layer + readout
    depth: int = 2                  # L: number of weight layers (2 = one hidden layer)
    width: int = 20                 # H: units per hidden layer (channels for the CNN)
    activation: str = "tanh"        # tanh | relu | leaky_relu (slope 0.1) | silu | linear
    init_scale: float = 1.0         # s: weights and biases ~ U(-s/sqrt(fan_in), s/sqrt(fan_in))
    kernel_size: int = 4            # CNN only: square kernel, stride = kernel (patches)
    layer: int = 1                  # hidden layer whose geometry is measured (1 = first)
    # --- optimiser ----------------------------------------------------------------
    optimizer: str = "gd"           # gd (full batch) | momentum | adam | sgd (mini-batch)
    lr: float = 0.2                 # eta
    momentum: float = 0.9           # mu, used by optimizer=momentum
    weight_decay: float = 0.0       # lambda, L2 on every parameter, any optimiser
    batch_size: int = 32            # B, used by optimizer=sgd
    # --- training -------------------------------------------------------------------
    epochs: int = 300               # T: steps (full batch) or passes (sgd) after init
    seeds: int = 20                 # R: independent initialisations trained at once
    seed_offset: int = 0            # seeds are seed_offset ... seed_offset + R - 1
    test_every: int = 1             # test error every k epochs (and at the last one)
    device: str = "auto"            # auto (cuda if present) | cpu | cuda
    # --- optional training subset (set by experiments, never by hand) -----------------
    exclude: tuple = field(default=())  # indices (in the P-block) removed from training

    def validate(self) -> "RunConfig":
        """Raise ConfigError on the first bad option; return self when all are fine."""
        if not self.dataset.startswith(USER_PREFIX) or not USER_NAME.fullmatch(self.dataset[len(USER_PREFIX):]):
            _one_of("dataset", self.dataset, DATASETS + ("user:<name>",))
        _int_at_least("n_train", self.n_train, 2)
        _int_at_least("block", self.block, 0)
        parse_labels(self.labels)
        _one_of("test_standardisation", self.test_standardisation, STANDARDISATIONS)
        _one_of("model", self.model, MODELS)
        _int_at_least("depth", self.depth, 2)
        _int_at_least("width", self.width, 1)
        _one_of("activation", self.activation, ACTIVATIONS)
        _positive_finite("init_scale", self.init_scale)
        _int_at_least("kernel_size", self.kernel_size, 1)
        if self.model == "cnn" and self.depth != 2:
            raise ConfigError("depth", self.depth, "the CNN has exactly 2 weight layers (conv + readout)")
        _int_at_least("layer", self.layer, 1)
        if self.layer > self.depth - 1:
            raise ConfigError("layer", self.layer, f"a hidden layer between 1 and depth-1 = {self.depth - 1}")
        _one_of("optimizer", self.optimizer, OPTIMIZERS)
        _positive_finite("lr", self.lr)
        if not (math.isfinite(self.momentum) and 0 <= self.momentum < 1):
            raise ConfigError("momentum", self.momentum, "a number in [0, 1)")
        if not (math.isfinite(self.weight_decay) and self.weight_decay >= 0):
            raise ConfigError("weight_decay", self.weight_decay, "a finite number >= 0")
        _int_at_least("batch_size", self.batch_size, 1)
        _int_at_least("epochs", self.epochs, 1)
        _int_at_least("seeds", self.seeds, 1)
        _int_at_least("seed_offset", self.seed_offset, 0)
        _int_at_least("test_every", self.test_every, 1)
        _one_of("device", self.device, DEVICES)
        if any(not (0 <= int(i) < self.n_train) for i in self.exclude):
            raise ConfigError("exclude", "...", f"indices in [0, {self.n_train})")
        if len(set(self.exclude)) > self.n_train - 2:
            raise ConfigError("exclude", len(self.exclude), "leave at least 2 training points")
        return self

    @property
    def seed_list(self) -> list[int]:
        return list(range(self.seed_offset, self.seed_offset + self.seeds))

    def replace(self, **changes) -> "RunConfig":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["exclude"] = sorted(int(i) for i in self.exclude)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "RunConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ConfigError(sorted(unknown)[0], d[sorted(unknown)[0]], "not a run option")
        d = dict(d)
        if "exclude" in d:
            d["exclude"] = tuple(sorted(int(i) for i in d["exclude"]))
        return cls(**d)

    def config_hash(self) -> str:
        """Stable across processes and versions of Python: hash of sorted JSON.
        The device is left out on purpose: it changes speed, not the science."""
        d = self.to_dict()
        d.pop("device")
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


def parse_labels(labels: str) -> tuple[frozenset, frozenset] | str:
    """'parity' | 'random' | 'a,b,...|c,d,...' (a partition of the classes 0..9).
    Returns the string for the named tasks, or (positive classes, negative classes)."""
    if labels in ("parity", "random"):
        return labels
    parts = labels.split("|")
    allowed = "parity, random, or a partition of 0..9 such as '0,1,2,3,4|5,6,7,8,9'"
    if len(parts) != 2:
        raise ConfigError("labels", labels, allowed)
    try:
        pos, neg = ({int(c) for c in p.split(",") if c.strip()} for p in parts)
    except ValueError:
        raise ConfigError("labels", labels, allowed) from None
    if not pos or not neg or pos & neg or (pos | neg) != set(range(10)):
        raise ConfigError("labels", labels, allowed)
    return frozenset(pos), frozenset(neg)


def _one_of(option, value, choices):
    if value not in choices:
        raise ConfigError(option, value, "one of " + ", ".join(choices))


def _int_at_least(option, value, low):
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(option, value, f"an integer >= {low}")


def _positive_finite(option, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ConfigError(option, value, "a finite number > 0")
