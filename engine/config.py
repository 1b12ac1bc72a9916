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
USER_PREFIX = "user:"                             # user:<name> = an uploaded .npz (engine/data/upload.py)
USER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,47}")  # as engine.data.upload.check_name
ACTIVATIONS = ("tanh", "relu", "leaky_relu", "silu", "linear")
OPTIMIZERS = ("gd", "momentum", "adam", "sgd")
MODELS = ("fc", "cnn")
DEVICES = ("auto", "cpu", "cuda")
STANDARDISATIONS = ("own", "train")
SEED_LIMIT = 2**32  # seeds are 32-bit: the range every generator the engine seeds (torch, numpy) takes whole
PRECISIONS = ("fp32", "bf16", "tf32")             # of the GEMMs: engine/training/precision.py
# experiments train each ensemble on while a seed is undetermined, at most HORIZON x its
# epochs (engine/experiments/verdicts.py); here, with the other defaults, so the CLI needs no experiment
HORIZON = 4
# The float options are used as float32 (bf16 in the GEMMs with precision=bf16): a value must be
# one they hold, or training fails with "value cannot be converted to type float without overflow"
# (too large) or trains with 0 (too small). Both formats have float32's exponent range.
FLOAT32_TINY = 2.0 ** -126                     # the smallest normal float32 (and bf16), 1.18e-38
FLOAT_MAX = (2 - 2 ** -7) * 2.0 ** 127         # bf16's largest, 3.39e38 (float32's is 3.40e38)
BELOW_ONE = 1 - 2.0 ** -24                     # the largest float32 below 1


class ConfigError(ValueError):
    """A configuration value out of range. The message names the option, the
    value and what is allowed, so the CLI and the pages can show it as is."""

    def __init__(self, option: str, value, allowed: str):
        self.option, self.value, self.allowed = option, value, allowed
        super().__init__(f"--{option.replace('_', '-')}={value!r} is not valid: {allowed}")


@dataclass(frozen=True)
class Option:
    """How one run option is described to people: the CLI's --help, the Run form and
    the docs all read this, so an option is explained once, next to its default."""
    name: str
    default: object
    group: str                    # data | architecture | optimiser | training | device
    label: str                    # plain words, with the paper's symbol
    help: str                     # one or two sentences: what it does, what the paper used
    unit: str = ""                # "epochs", "points", ...
    choices: tuple | None = None  # the allowed values of a text option (dataset: + uploads)
    applies: tuple | None = None  # (option, values): shown only when that option has one of them


def option(default, group: str, label: str, help: str, unit: str = "", choices: tuple | None = None,
           applies: tuple | None = None):
    """A dataclass field whose metadata is its Option (the name is filled in by OPTIONS)."""
    return field(default=default, metadata={"option": dict(group=group, label=label, help=help, unit=unit,
                                                           choices=choices, applies=applies)})


@dataclass(frozen=True)
class RunConfig:
    # --- data: MNIST parity, the first P = 8192 points, standardised pixel by pixel -----
    dataset: str = option("mnist", "data", "Dataset", "mnist | kmnist | fashion | cifar10 (greyscale) | digits "
                          "(scikit-learn's 8x8) | user:<name> (an uploaded .npz).", choices=DATASETS)
    n_train: int = option(8192, "data", "Training points P", "Size of the training set: a block of P consecutive "
                          "points of the training split (the paper: 8192).", unit="points")
    block: int = option(0, "data", "Block k", "Which block of the split: points k*P ... (k+1)*P - 1 "
                        "(disjoint blocks give independent training sets, Fig. 1c).")
    labels: str = option("parity", "data", "Labels", "parity (even vs odd digit, the paper's task) | random "
                         "(a fixed permutation: the no-inversion control) | a split of the classes such as "
                         "'0,1,2,3,4|5,6,7,8,9'.")
    label_seed: int = option(0, "data", "Random-label seed", "Fixes the permutation when labels=random.",
                             applies=("labels", ("random",)))
    label_noise: float = option(0.0, "data", "Label noise F", "Fraction of the training labels flipped (after "
                                "the parity or split mapping), drawn with the noise seed; the test set stays "
                                "clean. 0: none (the paper).")
    label_noise_seed: int = option(0, "data", "Label-noise seed", "Which training labels the label noise flips "
                                   "(not prune's --noise-seed, the seed of its test-set noise).")
    test_standardisation: str = option("own", "data", "Test-set standardisation", "own: the test set on its own "
                                       "pixel statistics (the paper's Methods) | train: with the training "
                                       "statistics (the authors' code).", choices=STANDARDISATIONS)
    # --- architecture: two weight layers, 20 tanh units, U(-1/sqrt(n), 1/sqrt(n)) --------
    model: str = option("fc", "architecture", "Model", "fc: fully connected | cnn: one convolution layer "
                        "(stride = kernel) and a linear readout.", choices=MODELS)
    depth: int = option(2, "architecture", "Depth L", "Weight layers (2 = one hidden layer, the paper's "
                        "default).", unit="layers")
    width: int = option(20, "architecture", "Width H", "Units per hidden layer (channels for the CNN).",
                        unit="units")
    activation: str = option("tanh", "architecture", "Activation σ", "tanh (the paper's) | relu | leaky_relu "
                             "(slope 0.1) | silu | linear.", choices=ACTIVATIONS)
    init_scale: float = option(1.0, "architecture", "Initialisation scale s", "Every weight and bias is drawn "
                               "from U(-s/sqrt(n), s/sqrt(n)), n = the layer's fan-in (s = 1 in the paper).")
    kernel_size: int = option(4, "architecture", "Kernel size", "Side of the CNN's square kernel; the stride "
                              "equals it, so the kernels tile the image.", unit="pixels",
                              applies=("model", ("cnn",)))
    layer: int = option(1, "architecture", "Measured hidden layer", "The hidden layer whose class manifolds "
                        "are measured (1 = the first, as in the paper).")
    # --- optimiser: full-batch gradient descent, eta = 0.2, mean cross-entropy -------------
    optimizer: str = option("gd", "optimiser", "Optimiser", "gd (full-batch gradient descent, the paper's) | "
                            "momentum | adam | sgd (mini-batch).", choices=OPTIMIZERS)
    lr: float = option(0.2, "optimiser", "Learning rate η", "Step size on the mean cross-entropy (0.2 in the "
                       "paper).")
    momentum: float = option(0.9, "optimiser", "Momentum μ", "Heavy-ball momentum, in [0, 1).",
                             applies=("optimizer", ("momentum",)))
    weight_decay: float = option(0.0, "optimiser", "Weight decay λ", "L2 penalty on every parameter, with any "
                                 "optimiser (0 in the paper).")
    batch_size: int = option(32, "optimiser", "Batch size B", "Points per mini-batch step of sgd.",
                             unit="points", applies=("optimizer", ("sgd",)))
    # --- training: 300 epochs, 20 seeds trained at once ------------------------------------
    epochs: int = option(300, "training", "Epochs T", "Steps after the initialisation (full batch), or passes "
                         "over the data (sgd). The inversion comes at t* ≈ 30-40 on MNIST.", unit="epochs")
    seeds: int = option(20, "training", "Seeds R", "Independent initialisations, trained at once as one "
                        "batched ensemble.", unit="seeds")
    seed_offset: int = option(0, "training", "First seed", "Seeds are first ... first + R - 1: another offset "
                              "gives other, independent initialisations.")
    test_every: int = option(1, "training", "Test error every", "Measure the test error every k epochs (and at "
                             "the last one); the training metrics are measured every epoch.", unit="epochs")
    score_epoch: int = option(-1, "training", "EL2N and GraNd epoch", "Sets the EL2N and the GraNd epoch both at "
                              "once (the one option before each had its own; kept for older commands and jobs). "
                              "-1: each at its own epoch (--el2n-epoch, --grand-epoch).", unit="epochs")
    el2n_epoch: int = option(-1, "training", "EL2N epoch", "Epoch at which the EL2N difficulty score is read "
                             "(Paul et al. 2021 read it a few epochs in). -1: epoch 10, before the inversion on "
                             "MNIST, or the last epoch of a shorter run.", unit="epochs")
    grand_epoch: int = option(0, "training", "GraNd epoch", "Epoch at which the GraNd difficulty score is read: 0 = "
                              "at initialisation, Paul et al. 2021's headline GraNd. -1: as EL2N's default (epoch "
                              "10, or the last epoch of a shorter run).", unit="epochs")
    device: str = option("auto", "device", "Device", "auto (the GPU when there is one) | cpu | cuda. Changes "
                         "the speed, not the results.", choices=DEVICES)
    precision: str = option("fp32", "device", "GEMM precision", "fp32 (exact) | bf16: the matrix products' "
                            "inputs rounded to bfloat16, summed in float32; weights, loss and geometry stay "
                            "float32 (2-4x faster GEMMs on CPUs with AMX/AVX512-BF16 and on GPUs) | tf32: CUDA "
                            "only. bf16 passes the fidelity check on MNIST (docs/precision.md).",
                            choices=PRECISIONS)

    def validate(self) -> "RunConfig":
        """Raise ConfigError on the first bad option; return self when all are fine."""
        if not self.dataset.startswith(USER_PREFIX) or not USER_NAME.fullmatch(self.dataset[len(USER_PREFIX):]):
            _one_of("dataset", self.dataset, DATASETS + ("user:<name>",))
        _int_at_least("n_train", self.n_train, 2)
        _int_at_least("block", self.block, 0)
        parse_labels(self.labels)
        _int_at_least("label_seed", self.label_seed, 0)  # numpy's generators take no negative seed
        if isinstance(self.label_noise, bool) or not isinstance(self.label_noise, (int, float)) \
                or not (math.isfinite(self.label_noise) and 0 <= self.label_noise < 1):
            raise ConfigError("label_noise", self.label_noise, "a fraction in [0, 1)")
        _int_at_least("label_noise_seed", self.label_noise_seed, 0)
        _one_of("test_standardisation", self.test_standardisation, STANDARDISATIONS)
        _one_of("model", self.model, MODELS)
        _int_at_least("depth", self.depth, 2)
        _int_at_least("width", self.width, 1)
        _one_of("activation", self.activation, ACTIVATIONS)
        _positive_finite("init_scale", self.init_scale)
        _float32("init_scale", self.init_scale, "a number")
        _int_at_least("kernel_size", self.kernel_size, 1)
        if self.model == "cnn" and self.depth != 2:
            raise ConfigError("depth", self.depth, "the CNN has exactly 2 weight layers (conv + readout)")
        _int_at_least("layer", self.layer, 1)
        if self.layer > self.depth - 1:
            raise ConfigError("layer", self.layer, f"a hidden layer between 1 and depth-1 = {self.depth - 1}")
        _one_of("optimizer", self.optimizer, OPTIMIZERS)
        _positive_finite("lr", self.lr)
        _float32("lr", self.lr, "a number")
        if not (math.isfinite(self.momentum) and 0 <= self.momentum < 1):
            raise ConfigError("momentum", self.momentum, "a number in [0, 1)")
        if self.momentum > BELOW_ONE:  # float32 rounds it to 1: no decay, the run blows up
            raise ConfigError("momentum", self.momentum, f"a number in [0, 1) that stays below 1 in float32, "
                              f"at most {BELOW_ONE:.8f}")
        _float32("momentum", self.momentum, "a number in [0, 1)")
        if not (math.isfinite(self.weight_decay) and self.weight_decay >= 0):
            raise ConfigError("weight_decay", self.weight_decay, "a finite number >= 0")
        _float32("weight_decay", self.weight_decay, "0 or a number")
        _int_at_least("batch_size", self.batch_size, 1)
        _int_at_least("epochs", self.epochs, 1)
        _int_at_least("seeds", self.seeds, 1)
        if self.seeds > SEED_LIMIT:
            raise ConfigError("seeds", self.seeds, f"an integer between 1 and {SEED_LIMIT}")
        _int_at_least("seed_offset", self.seed_offset, 0)
        if self.seed_offset + self.seeds > SEED_LIMIT:  # the last seed, first + R - 1, must be 32-bit
            raise ConfigError("seed_offset", self.seed_offset,
                              f"an integer >= 0 with seed-offset + seeds <= {SEED_LIMIT} (seeds are 32-bit)")
        _int_at_least("test_every", self.test_every, 1)
        for name in SCORE_EPOCH_OPTIONS:
            value = getattr(self, name)
            _int_at_least(name, value, -1)
            if value > self.epochs:
                raise ConfigError(name, value, f"an epoch of the run, 0 ... epochs = {self.epochs} "
                                  f"(or -1: epoch {DEFAULT_EL2N_EPOCH}, or the last epoch of a shorter run)")
        if self.score_epoch >= 0 and (self.el2n_epoch not in (-1, self.score_epoch)
                                      or self.grand_epoch not in (-1, OPTIONS["grand_epoch"].default, self.score_epoch)):
            raise ConfigError("score_epoch", self.score_epoch, "it sets the EL2N and the GraNd epoch both: give it "
                              "or --el2n-epoch/--grand-epoch, not both")
        _one_of("device", self.device, DEVICES)
        _one_of("precision", self.precision, PRECISIONS)
        if self.device != "auto":  # auto: checked once the device is known (engine.planning.preflight, engine.run)
            check_precision(self.precision, self.device)
        return self

    @property
    def seed_list(self) -> list[int]:
        return list(range(self.seed_offset, self.seed_offset + self.seeds))

    def normalised(self) -> "RunConfig":
        """The same run written one way, so that the same science is the same job:
        labels in canonical form ('0,2,4,6,8|1,3,5,7,9' is parity) and every option
        that does not apply (its `applies` condition fails) at its default."""
        changes = {"labels": canonical_labels(self.labels)}
        for name, opt in OPTIONS.items():
            if opt.applies and getattr(self, opt.applies[0]) not in opt.applies[1]:
                changes[name] = opt.default
        return self.replace(**changes)

    def replace(self, **changes) -> "RunConfig":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "RunConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        if not d.get("exclude", 1):  # stores written before `exclude` was removed keep an empty one
            d = {k: v for k, v in d.items() if k != "exclude"}
        unknown = set(d) - names
        if unknown:
            raise ConfigError(sorted(unknown)[0], d[sorted(unknown)[0]], "not a run option")
        return cls(**d)

    @property
    def score_epochs(self) -> tuple[int, int]:
        """(the EL2N epoch, the GraNd epoch) this run reads them at."""
        return resolve_score_epochs(self.score_epoch, self.el2n_epoch, self.grand_epoch, self.epochs)

    def config_hash(self, data_version: str | None = None) -> str:
        """The run's one hash: the job store keys run jobs on it and the manifest writes
        it (engine.config.science_hash: no device, and the data version of an upload,
        so a replaced upload is another run)."""
        return science_hash(self.to_dict(), data_version)


# Options added after stores held jobs: hashed only when they differ from their default,
# so a job submitted before the option existed still matches the same config now.
HASHED_WHEN_SET = {"precision": "fp32", "label_noise": 0.0, "label_noise_seed": 0}
# The epochs EL2N and GraNd are read at: hashed as what they resolve to (science_options)
SCORE_EPOCH_OPTIONS = ("score_epoch", "el2n_epoch", "grand_epoch")
DEFAULT_EL2N_EPOCH = 10  # early: well before the inversion on MNIST (t* ~ 30-40), as Paul et al. read EL2N early


def resolve_score_epochs(score_epoch: int, el2n_epoch: int, grand_epoch: int, epochs: int) -> tuple[int, int]:
    """(EL2N epoch, GraNd epoch): score_epoch >= 0 sets both; -1 is DEFAULT_EL2N_EPOCH,
    or the last epoch of a run shorter than that."""
    if score_epoch >= 0:
        return score_epoch, score_epoch
    default = min(DEFAULT_EL2N_EPOCH, epochs)
    return (default if el2n_epoch < 0 else el2n_epoch), (default if grand_epoch < 0 else grand_epoch)

# name -> Option, in the dataclass's order: the one description of every run option
OPTIONS = {f.name: Option(name=f.name, default=f.default, **f.metadata["option"]) for f in dataclasses.fields(RunConfig)}


# activations the two-layer net's hand-written backward has (engine.training.models.ACTIVATIONS_INPLACE)
MANUAL_ACTIVATIONS = ("tanh", "relu", "leaky_relu", "linear")


def has_manual_backward(config: RunConfig) -> bool:
    """Full-batch training of the two-layer dense net: the engine's fast path (the
    rule that training, the memory model and the time model share; no torch here)."""
    return (config.model == "fc" and config.depth == 2 and config.optimizer != "sgd"
            and config.activation in MANUAL_ACTIVATIONS)


def check_precision(precision: str, device_type: str) -> None:
    """ConfigError when `precision` cannot run on a `device_type` ("cpu" | "cuda")
    device: TF32 exists only on CUDA. The one check: options, preflight and the run."""
    if precision == "tf32" and device_type != "cuda":
        raise ConfigError("precision", precision, f"tf32 needs a CUDA GPU and this run is on {device_type}: "
                          "use fp32, or bf16 for faster GEMMs on the CPU")


def science_options(config: dict) -> dict:
    """A flat config without what does not change results: the device (and the
    executor); and each option of HASHED_WHEN_SET at its default, so that hashes made
    before the option existed (job reuse, caches) still match. bf16 and tf32 runs hash apart."""
    out = {k: v for k, v in config.items()
           if k not in ("device", "executor") and not (k in HASHED_WHEN_SET and v == HASHED_WHEN_SET[k])}
    if any(k in config for k in SCORE_EPOCH_OPTIONS):
        # the same two epochs hash alike however they were spelt; both at the old default
        # (epoch 10, or the last of a shorter run) is how every job before these options
        # was hashed, one score_epoch for both as those that set it. A config without
        # grand_epoch is from before it: GraNd was read where EL2N was.
        for k in SCORE_EPOCH_OPTIONS:
            out.pop(k, None)
        epochs = int(config.get("epochs", OPTIONS["epochs"].default))
        el2n, grand = resolve_score_epochs(int(config.get("score_epoch", -1)), int(config.get("el2n_epoch", -1)),
                                           int(config.get("grand_epoch", -1)), epochs)
        if el2n != grand:
            out.update(el2n_epoch=el2n, grand_epoch=grand)
        elif el2n != min(DEFAULT_EL2N_EPOCH, epochs):
            out["score_epoch"] = el2n
    return out


def science_hash(config: dict, data_version: str | None = None) -> str:
    """sha256 (16 hex digits) of sorted JSON of science_options(config) and the
    dataset's data_version (engine.data.upload.data_version: an upload's content, None for a
    built-in dataset): the hash of a run (RunConfig.config_hash) and of every job
    (engine.jobs.queue), stable across processes and versions of Python."""
    science = {**science_options(config), "data_version": data_version}
    return hashlib.sha256(json.dumps(science, sort_keys=True).encode()).hexdigest()[:16]


def run_config(config: dict) -> RunConfig:
    """The RunConfig inside a flat job config (experiments add their own keys to it)."""
    return RunConfig.from_dict({k: v for k, v in config.items() if k in OPTIONS})


def typed_value(option: str, text: str):
    """A run option's value parsed from text with the option's type ('depth', '3' -> 3)."""
    if option not in OPTIONS:
        raise ConfigError(option, text, "a run option such as optimizer, block, dataset, depth")
    kind = type(OPTIONS[option].default)
    try:
        return kind(text) if kind in (int, float) else text
    except ValueError:
        raise ConfigError(option, text, f"a value of type {kind.__name__}") from None


def parse_overrides(spec: str, what: str = "overrides") -> dict:
    """'depth=3,lr=0.02' -> {'depth': 3, 'lr': 0.02}: typed run options."""
    out = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        key, sep, value = part.partition("=")
        if not sep:
            raise ConfigError(what, spec, "key=value pairs separated by commas, e.g. depth=3,lr=0.02")
        out[key.strip()] = typed_value(key.strip(), value.strip())
    return out


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


def canonical_labels(labels: str) -> str:
    """One spelling per task: 'parity', 'random', or the two parts sorted without
    spaces. The parts keep their order: the first part is the positive class, so a
    flipped split is another task (R+ and R- swap)."""
    task = parse_labels(labels)
    if isinstance(task, str):
        return task
    if task[0] == frozenset(range(0, 10, 2)):
        return "parity"
    return "|".join(",".join(str(c) for c in sorted(part)) for part in task)


def _one_of(option, value, choices):
    if value not in choices:
        raise ConfigError(option, value, "one of " + ", ".join(choices))


def _int_at_least(option, value, low):
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(option, value, f"an integer >= {low}")


def _positive_finite(option, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ConfigError(option, value, "a finite number > 0")


def _float32(option, value, allowed):
    """ConfigError unless `value` (already checked finite and in range) is 0 or of a size
    float32 and bf16 hold: training rounds it to float32, where 1e40 overflows and 1e-50 is 0."""
    if value != 0 and not FLOAT32_TINY <= abs(value) <= FLOAT_MAX:
        raise ConfigError(option, value, f"{allowed} between {FLOAT32_TINY:.3g} and {FLOAT_MAX:.3g} in size, "
                          "which float32 and bf16 hold (training computes in float32)")
