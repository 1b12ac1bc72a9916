"""The Run form: one widget per run option as engine.config.OPTIONS describes it
(plain words with the paper's symbol and unit), grouped as the paper's Methods are
(data, architecture, optimiser, training, device), only the options that apply
(momentum with the momentum optimiser, the kernel with the CNN, ...), labels as a
choice (parity, random, or a split of the classes), the presets, the estimate of
time and memory before launch, and launching. A bad value is named at its own
field, in words, by what RunConfig.validate() says about it."""
from __future__ import annotations

import dataclasses
import math
import os
import re

import streamlit as st

from engine.config import DATASETS, OPTIONS, ConfigError, RunConfig, parse_labels, parse_overrides
from engine.planning.preflight import NoRoom, TooLarge, check_run

from . import estimates, jobs_view
from .analysis_ui import KIND_WORDS, unusable_text, usable
from .machine import datasets_status, split_size


# name -> (button label, RunConfig overrides, one line on what it shows). The small
# presets measure the test error every 5 epochs: on MNIST the 10000 test points cost
# more than the 2048 training points, and the training metrics (geometry, t*,
# stragglers) are measured every epoch anyway.
PRESETS = {
    "quick": ("Quick demo: MNIST, P = 2048, 10 seeds, 150 epochs",
              dict(dataset="mnist", n_train=2048, seeds=10, epochs=150, test_every=5),
              "the inversion in well under a minute on a laptop CPU (test error every 5 epochs)"),
    "fig1b": ("Paper, Fig. 1b: MNIST, P = 8192, 20 seeds, 300 epochs",
              dict(dataset="mnist", n_train=8192, seeds=20, epochs=300),
              "the paper's setting: minutes on a CPU, seconds on a GPU"),
    "random": ("Random labels: MNIST, P = 2048, 10 seeds, 300 epochs",
               dict(dataset="mnist", n_train=2048, seeds=10, epochs=300, labels="random", test_every=5),
               "the control: no structure to find, no inversion"),
    "fashion": ("Fashion-MNIST: P = 2048, 10 seeds, 300 epochs",
                dict(dataset="fashion", n_train=2048, seeds=10, epochs=300, test_every=5),
                "another data set, the same inversion"),
}
QUICK_ENV = "STRAGGLERS_QUICK_PRESET"  # e.g. "dataset=digits,n_train=512,epochs=60" (tests)


def preset_config(name: str, env: dict | None = None) -> RunConfig:
    """The RunConfig of a preset; $STRAGGLERS_QUICK_PRESET (key=value,...) overrides
    the quick demo (tests use it to shrink the demo)."""
    env = os.environ if env is None else env
    values = dict(PRESETS[name][1])
    if name == "quick" and env.get(QUICK_ENV):
        values.update(parse_overrides(env[QUICK_ENV]))
    return RunConfig(**values).validate()


# --- the run form -----------------------------------------------------------------------------


def dataset_choices() -> tuple:
    """The built-in datasets, then every saved upload as `user:<name>` (read from disk
    each time: a dataset saved on the Your data page shows up without a restart)."""
    from engine.data.upload import USER_PREFIX, list_user_datasets
    try:
        uploads = list_user_datasets()
    except OSError:  # an unreadable data folder: the built-in ones still work
        uploads = []
    return tuple(DATASETS) + tuple(f"{USER_PREFIX}{n}" for n in uploads)


@dataclasses.dataclass(frozen=True)
class FormField:
    name: str
    group: str
    kind: type
    default: object
    label: str
    help: str
    choices: tuple | None = None
    unit: str = ""
    applies: tuple | None = None

    @property
    def title(self) -> str:
        """The widget's label: the option's words and symbol, with its unit when the
        words do not already say it ('Width H (units)', not 'Epochs T (epochs)')."""
        return f"{self.label} ({self.unit})" if self.unit and self.unit.lower() not in self.label.lower() \
            else self.label

    def shown(self, values: dict) -> bool:
        """Whether the option matters for these values (OPTIONS' `applies`; the measured
        layer only when there is more than one hidden layer)."""
        if self.name == "layer":
            return int(values.get("depth", OPTIONS["depth"].default) or 2) > 2
        if self.applies is None:
            return True
        option, allowed = self.applies
        return values.get(option, OPTIONS[option].default) in allowed


def form_fields() -> list[FormField]:
    """One field per run option, as engine.config.OPTIONS describes it (the dataset's
    choices are the built-in ones plus the saved uploads)."""
    return [FormField(o.name, o.group, type(o.default), o.default, o.label, o.help,
                      dataset_choices() if o.name == "dataset" else o.choices, o.unit, o.applies)
            for o in OPTIONS.values()]


def config_from_form(values: dict, dataset_rows: list[dict] | None = None) -> RunConfig:
    """RunConfig from the form's values; ConfigError (with the engine's message) on
    the first bad value, including a training block larger than the dataset. Options
    that do not apply (momentum without the momentum optimiser, ...) take their
    defaults, so two forms that run the same thing are the same job."""
    fields = {f.name: f for f in form_fields()}
    clean = {}
    for name, v in values.items():
        if name not in fields:
            continue
        f = fields[name]
        if f.kind is int and isinstance(v, float):
            if not v.is_integer():
                raise ConfigError(name, v, "a whole number")
            v = int(v)
        clean[name] = v
    clean = {n: (v if fields[n].shown(clean) else fields[n].default) for n, v in clean.items()}
    config = RunConfig(**clean).validate()
    size = split_size(config.dataset, dataset_rows)
    if size is not None and config.n_train * (config.block + 1) > size:
        raise ConfigError("n_train" if config.block == 0 else "block",
                          config.n_train if config.block == 0 else config.block,
                          f"{config.dataset} has {size} training points: P × (block + 1) must be at most {size}")
    return config


def initial_values(job: dict | None, params) -> dict:
    """The form's starting values: the paper's defaults, then the shown job's config,
    then what the URL says (so a link carries a configuration). A link's value that
    no widget of the form can hold is named in a warning and left out (link_value)."""
    values = {f.name: f.default for f in form_fields()}
    if job is not None and job.get("kind") == "run":
        values.update({k: v for k, v in job["config"].items() if k in values})
    for f in form_fields():
        if f.name in params:
            value, what = link_value(f, params[f.name])
            if what is None:
                values[f.name] = value
            else:
                st.warning(unusable_text(f.name, params[f.name], values[f.name], what), icon=":material/link_off:")
    return values


def link_value(f: FormField, text) -> tuple[object, str | None]:
    """(the field's value, None) from a link's text, or (None, what the field takes in
    words) when its widget cannot hold it: a number input takes a finite number within
    a browser's range (1e309 or 99999999999999999999 make Streamlit raise), the labels'
    radio and class picker take what parse_labels reads. A number the widget holds but
    the engine refuses (a negative η) is kept: RunConfig.validate() names it at its field."""
    if f.kind in (int, float):
        value = usable(text, f.kind)
        return (value, None) if value is not None else (None, f"{KIND_WORDS[f.kind]} for {f.label}")
    if f.name == "labels":
        try:
            parse_labels(str(text))
        except ConfigError:
            return None, ("value for Labels (parity, random, or a split of the classes 0-9 such as "
                          "0,1,2,3,4|5,6,7,8,9)")
    return text, None


def plain_error(e: ConfigError) -> str:
    """A ConfigError in the form's words: the option's label, the value, what it
    must be ('Learning rate η: -0.1 is not possible; it must be a finite number > 0.')."""
    if isinstance(e, NoRoom):  # the store's place, not an option: its message says it all
        return f"{e}."
    opt = OPTIONS.get(e.option)
    label = opt.label if opt else e.option.replace("_", " ")
    if e.option == "labels":
        return f"{label}: give each label at least one class (between 1 and 9 classes with y = +1)."
    if isinstance(e, TooLarge):  # the CLI's --flags in the form's labels
        words = re.sub(r"--([a-z][a-z-]*)", lambda m: OPTIONS[m[1].replace("-", "_")].label
                       if m[1].replace("-", "_") in OPTIONS else m[0], e.allowed)
        return f"{label}: {e.value} is too large for this machine; {words}."
    allowed = e.allowed.replace(">=", "≥").replace("<=", "≤")
    must = allowed.startswith(("a ", "an ", "one of", "parity")) and "must" not in allowed
    return f"{label}: {e.value} is not possible; " + (f"it must be {allowed}." if must else f"{allowed}.")


# the learning rate a fresh choice of optimiser starts from (README: Adam with η = 0.005);
# the others start from the paper's η
SUGGESTED_LR = {"adam": 0.005}


def suggested_lr(optimizer: str) -> float:
    return SUGGESTED_LR.get(optimizer, OPTIONS["lr"].default)


def carried(prev: dict | None, now: dict, size_of) -> dict:
    """What a changed choice carries into the fields the user did not type this time:
    a new dataset too small for P gets its largest valid P (its training points over
    block + 1); a new optimiser gets its suggested η when η was the old one's suggestion.
    `prev`/`now`: the form's values on the last run and now (dataset, n_train, block,
    optimizer, lr); `size_of(dataset)` -> its training points or None. -> {option: value}."""
    if not prev:
        return {}
    out = {}
    if now.get("dataset") != prev.get("dataset") and now.get("n_train") == prev.get("n_train"):
        size = size_of(now.get("dataset"))
        block = int(now.get("block") or 0)
        if size and int(now["n_train"]) * (block + 1) > size:
            out["n_train"] = max(2, size // (block + 1))
    if now.get("optimizer") != prev.get("optimizer") and now.get("lr") == prev.get("lr") \
            and prev.get("lr") == suggested_lr(prev.get("optimizer")):
        out["lr"] = suggested_lr(now.get("optimizer"))
    return out


CARRIED = ("dataset", "n_train", "block", "optimizer", "lr")
_PREV = "_run-form-prev"


def _carry_choices(initial: dict) -> None:
    """carried() applied to the widgets' state before they are drawn (a selectbox change
    reruns the script with the new choice already in st.session_state)."""
    now = {n: st.session_state.get(f"opt-{n}", initial.get(n, OPTIONS[n].default)) for n in CARRIED}
    rows = None

    def size_of(dataset):
        nonlocal rows
        rows = datasets_status() if rows is None else rows
        return split_size(dataset, rows)

    for name, value in carried(st.session_state.get(_PREV), now, size_of).items():
        st.session_state[f"opt-{name}"] = value
        now[name] = value
    st.session_state[_PREV] = now


def run_form(initial: dict) -> tuple[dict, dict]:
    """One widget per run option that applies, grouped (data, architecture,
    optimiser, training, device), each with its help text and, under it, a slot for
    its error. No bounds on the number inputs: a bad value reaches
    RunConfig.validate() and is named at its field. Returns (values, slots)."""
    fields = form_fields()
    _carry_choices(initial)
    values, slots = {}, {}
    rows = [("data", "architecture", "optimiser"), ("training", "device")]
    for groups in rows:
        for col, group in zip(st.columns(3), groups):
            with col:
                st.markdown(f"**{group.capitalize()}**")
                for f in (f for f in fields if f.group == group):
                    if not f.shown(values):
                        values[f.name] = f.default
                        continue
                    value = initial.get(f.name, f.default)
                    values[f.name] = _labels_widget(f, value) if f.name == "labels" else _widget(f, value)
                    slots[f.name] = st.empty()
    return values, slots


def choice_options(choices, value) -> tuple[list, int, bool]:
    """(options, index of `value`, whether it is unknown) for a selectbox. An unknown
    value (a deleted upload, a typo in a link) is kept as an extra option rather than
    replaced by the first choice: a job's form must not silently become another run."""
    options = list(choices)
    if value in options:
        return options, options.index(value), False
    return options + [value], len(options), True


def _widget(f, value):
    key = f"opt-{f.name}"
    if f.choices:
        options, index, unknown = choice_options(f.choices, value)
        if unknown:
            st.warning(f"{f.title}: {value!r} is not available here (choices: {', '.join(map(str, f.choices))}); "
                       "pick another one to run.")
        words = CHOICE_WORDS.get(f.name, {})
        return st.selectbox(f.title, options, index=index, help=f.help, key=key,
                            format_func=lambda v: words.get(v, str(v)))
    if f.kind is int:
        return st.number_input(f.title, value=int(value), step=1, format="%d", help=f.help, key=key)
    if f.kind is float:
        return st.number_input(f.title, value=float(value), step=_step(f.default), format="%g", help=f.help,
                               key=key)
    return st.text_input(f.title, value=str(value), help=f.help, key=key)


# a choice in words (the value, the engine's name, stays in the link and the job)
CHOICE_WORDS = {
    "dataset": {"mnist": "MNIST", "kmnist": "KMNIST", "fashion": "Fashion-MNIST", "cifar10": "CIFAR-10 (greyscale)",
                "digits": "digits (scikit-learn's 8×8)"},
    "test_standardisation": {"own": "on its own statistics (the paper's)",
                             "train": "on the training statistics (the authors' code)"},
    "model": {"fc": "fully connected", "cnn": "convolutional (one layer)"},
    "activation": {"tanh": "tanh (the paper's)", "relu": "ReLU", "leaky_relu": "leaky ReLU (slope 0.1)",
                   "silu": "SiLU", "linear": "linear"},
    "optimizer": {"gd": "gradient descent, full batch (the paper's)", "momentum": "gradient descent with momentum",
                  "adam": "Adam", "sgd": "SGD, mini-batches"},
    "device": {"auto": "auto (the GPU when there is one)", "cpu": "CPU", "cuda": "GPU (CUDA)"},
}
LABEL_KINDS = {"parity": "parity: even vs odd digit (the paper's)", "random": "random: a fixed permutation "
               "(the control)", "split": "a split of the classes of your choice"}


def _labels_widget(f, value) -> str:
    """Labels as a choice: parity, random, or a split of the ten classes, the y = +1
    classes picked from 0-9 (the rest are y = -1). Returns the option's text."""
    try:
        parsed = parse_labels(str(value))
    except ConfigError:
        parsed = None  # a bad split from a link: shown as a split, and named at the field
    kind = parsed if isinstance(parsed, str) else "split"
    kind = st.radio(f.title, list(LABEL_KINDS), index=list(LABEL_KINDS).index(kind), format_func=LABEL_KINDS.get,
                    help=f.help, key="opt-labels")
    if kind != "split":
        return kind
    default = sorted(parsed[0]) if isinstance(parsed, tuple) else _split_positives(str(value))
    positive = st.multiselect("Classes with label y = +1 (the others are y = −1)", list(range(10)), default=default,
                              key="opt-labels-split")
    rest = [c for c in range(10) if c not in positive]
    return f"{','.join(map(str, sorted(positive)))}|{','.join(map(str, rest))}"


def _split_positives(text: str) -> list[int]:
    """The y = +1 classes of a split written by hand ('0,1,2|...'), or 0-4."""
    head = text.split("|")[0] if "|" in text else ""
    # isascii: '²' is a digit to str.isdigit, and int('²') raises
    got = sorted({int(c) for c in head.split(",") if c.strip().isascii() and c.strip().isdigit() and int(c) < 10})
    return got if head else [0, 1, 2, 3, 4]


def _step(default) -> float:
    return 10 ** round(math.log10(abs(default))) / 10 if default else 0.01


def sync_form_to_url(values: dict) -> None:
    """Options that differ from the defaults go into the URL; the rest leave it."""
    for f in form_fields():
        v = values.get(f.name, f.default)
        if v != f.default:
            st.query_params[f.name] = str(v)
        elif f.name in st.query_params:
            del st.query_params[f.name]


def check(values: dict, local: bool = True):
    """(RunConfig or None, the ConfigError or None). `local`: the run will train on this
    machine, so what the CLI and the queue would refuse (memory, disk, the data) is
    refused here, at its field, before the click: the same model and figure
    (engine.planning.preflight.check_run) as the estimate line shows."""
    try:
        config = config_from_form(values, datasets_status())
        if local:
            check_run(config, job=True)
        return config, None
    except ConfigError as e:
        return None, e
    except (TypeError, ValueError) as e:
        return None, ConfigError("form", values, f"not a valid run ({e})")


def show_error(error: ConfigError, slots: dict) -> None:
    """The error at the field it names (at the end of the form when that field is not shown)."""
    slot = slots.get(error.option)
    (slot if slot is not None else st).error(plain_error(error), icon=":material/error:")


def estimate_line(config, store=None) -> str:
    """The Run form's estimate: engine.planning.estimate's numbers for this run in one sentence."""
    est = estimates.estimate("run", config.to_dict(), store)
    return estimates.sentence(est) + estimates.memory_warning(est)


def launch(config, store) -> None:
    """Queue the run and show its live view (the job id goes into the URL)."""
    try:
        job_id = jobs_view.submit_run(config, store)
        jobs_view.refresh(store)
    except Exception as e:  # ConfigError from jobs.normalise, a store problem: a message
        st.error(f"Could not launch: {e}")
        return
    st.query_params["job"] = str(job_id)
    st.rerun()


RUN_PAGE = "pages/1_Run.py"


def preset_estimate(name: str, store=None) -> str:
    """'About 45 s here (30 s to 1 min 08 s), 60 MiB.' for a preset, from the same estimator."""
    from engine.planning.estimate import fmt_seconds
    est = estimates.estimate("run", preset_config(name).to_dict(), store)
    return (f"Estimate here: about {fmt_seconds(est['seconds'])} ({fmt_seconds(est['low'])} to "
            f"{fmt_seconds(est['high'])}), {jobs_view.fmt_bytes(est['memory_bytes'])} of memory.")


def preset_estimates(store=None) -> dict | None:
    """name -> preset_estimate, or None while this machine is still being measured
    (in the background: the home page does not wait for it)."""
    from engine.planning.estimate import device_of
    if not estimates.calibrated_or_measuring(device_of(preset_config("quick"))):
        return None
    return {name: preset_estimate(name, store) for name in PRESETS}


def launch_preset(name: str, store) -> None:
    """Queue a preset run (an identical finished one is reused) and open its live view."""
    try:
        job_id = jobs_view.submit_run(preset_config(name), store)
        jobs_view.refresh(store)
    except Exception as e:  # ConfigError, a missing dataset, a store problem: a message, not a traceback
        st.error(f"Could not start “{PRESETS[name][0]}”: {e}")
        return
    st.switch_page(RUN_PAGE, query_params={"job": str(job_id)})
