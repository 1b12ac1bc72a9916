"""The Run form: one widget per run option as engine.config.OPTIONS describes it,
grouped as the paper's Methods are (data, architecture, optimiser, training,
device), the presets, the estimate of time and memory before launch, and launching.
Bad values reach RunConfig.validate() and its message is shown, not a traceback."""
from __future__ import annotations

import dataclasses
import math
import os

import streamlit as st

from engine.config import DATASETS, OPTIONS, ConfigError, RunConfig, parse_overrides
from engine.estimate import estimate

from . import jobs_view
from .machine import datasets_status, device_info, memory_free, split_size


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
    from engine.upload import USER_PREFIX, list_user_datasets
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


def form_fields() -> list[FormField]:
    """One field per run option, as engine.config.OPTIONS describes it (the dataset's
    choices are the built-in ones plus the saved uploads)."""
    return [FormField(o.name, o.group, type(o.default), o.default, o.label, o.help,
                      dataset_choices() if o.name == "dataset" else o.choices) for o in OPTIONS.values()]


def config_from_form(values: dict, dataset_rows: list[dict] | None = None) -> RunConfig:
    """RunConfig from the form's values; ConfigError (with the engine's message) on
    the first bad value, including a training block larger than the dataset."""
    fields = {f.name: f for f in form_fields()}
    clean = {}
    for name, v in values.items():
        if name not in fields:
            continue
        f = fields[name]
        if f.kind is int and isinstance(v, float):
            if not v.is_integer():
                raise ConfigError(name, v, "an integer")
            v = int(v)
        clean[name] = v
    config = RunConfig(**clean).validate()
    size = split_size(config.dataset, dataset_rows)
    if size is not None and config.n_train * (config.block + 1) > size:
        raise ConfigError("n_train" if config.block == 0 else "block",
                          config.n_train if config.block == 0 else config.block,
                          f"{config.dataset} has {size} training points: P * (block + 1) must be <= {size}")
    return config


def initial_values(job: dict | None, params) -> dict:
    """The form's starting values: the paper's defaults, then the shown job's config,
    then what the URL says (so a link carries a configuration)."""
    values = {f.name: f.default for f in form_fields()}
    if job is not None and job.get("kind") == "run":
        values.update({k: v for k, v in job["config"].items() if k in values})
    for f in form_fields():
        if f.name in params:
            raw = params[f.name]
            try:
                values[f.name] = f.kind(raw) if f.kind in (int, float) else raw
            except ValueError:
                pass
    return values


def run_form(initial: dict) -> dict:
    """One widget per RunConfig option, grouped (data, architecture, optimiser,
    training, device), with the option's help text. No bounds on the number inputs:
    a bad value reaches RunConfig.validate() and its message is shown, not a traceback."""
    fields = form_fields()
    values = {}
    rows = [("data", "architecture", "optimiser"), ("training", "device")]
    for groups in rows:
        for col, group in zip(st.columns(3), groups):
            with col:
                st.markdown(f"**{group.capitalize()}**")
                for f in (f for f in fields if f.group == group):
                    values[f.name] = _widget(f, initial.get(f.name, f.default))
    return values


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
            st.warning(f"{f.name} = {value!r} is not available here (choices: {', '.join(map(str, f.choices))}); "
                       "pick another one to run.")
        return st.selectbox(f.label, options, index=index, help=f.help, key=key)
    if f.kind is int:
        return st.number_input(f.label, value=int(value), step=1, format="%d", help=f.help, key=key)
    if f.kind is float:
        return st.number_input(f.label, value=float(value), step=_step(f.default), format="%g", help=f.help,
                               key=key)
    return st.text_input(f.label, value=str(value), help=f.help, key=key)


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


def check_and_estimate(values: dict):
    """(RunConfig or None, the error message or None): the estimate is shown for a
    valid config, the engine's message for a bad one."""
    from engine.config import ConfigError
    try:
        config = config_from_form(values, datasets_status())
    except ConfigError as e:
        return None, str(e)
    except (TypeError, ValueError) as e:
        return None, f"not a valid run: {e}"
    return config, None


def estimate_line(config, store=None) -> str:
    est = estimate(config, finished=jobs_view.finished_runs(store) if store is not None else ())
    line = (f"Estimate on this machine ({device_info()}): about **{jobs_view.fmt_seconds(est['seconds'])}** and "
            f"**{jobs_view.fmt_bytes(est['bytes'])}** of memory ({config.seeds} seeds × {config.epochs} epochs, "
            f"P = {config.n_train}; {est['how']}).")
    free = memory_free()
    if est["bytes"] > 0.5 * free:
        line += f" **Warning:** that is more than half of the {jobs_view.fmt_bytes(free)} free now."
    return line


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


def launch_preset(name: str, store) -> None:
    """Queue a preset run (an identical finished one is reused) and open its live view."""
    try:
        job_id = jobs_view.submit_run(preset_config(name), store)
        jobs_view.refresh(store)
    except Exception as e:  # ConfigError, a missing dataset, a store problem: a message, not a traceback
        st.error(f"Could not start “{PRESETS[name][0]}”: {e}")
        return
    st.switch_page(RUN_PAGE, query_params={"job": str(job_id)})
