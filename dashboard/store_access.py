"""What the pages read from the store and submit to it: pure functions around
engine.jobs (no Streamlit here), plus the run form's schema, the
presets and the time/memory estimate. Everything a page shows comes from the store
or from the URL, so a reload or a shared link shows the same thing."""
from __future__ import annotations

import dataclasses
import math
import os
import time

import pandas as pd

from engine.config import DATASETS, OPTIONS, ConfigError, RunConfig, parse_overrides

ACTIVE = ("queued", "running")
FINISHED = ("done", "failed", "cancelled", "interrupted")


# --- the store (opened once per process by dashboard.cached.open_store) ----------------------

def refresh(store) -> None:
    """Dead workers -> interrupted, queued jobs -> a worker (jobs.refresh)."""
    from engine.jobs import queue
    queue.refresh(store)


def is_active(job: dict | None) -> bool:
    return job is not None and job.get("status") in ACTIVE


def get_job(store, job_id) -> dict | None:
    if job_id is None:
        return None
    try:
        return store.get_job(int(job_id))
    except (KeyError, LookupError, ValueError, TypeError):
        return None


def list_jobs(store, kind: str | None = None) -> list[dict]:
    return sorted(store.list_jobs(kind), key=lambda j: -int(j["id"])) if kind else \
        sorted(store.list_jobs(), key=lambda j: -int(j["id"]))


def finished_runs(store) -> list[dict]:
    """Runs with a complete record: kind 'run', status done, newest first."""
    return [j for j in list_jobs(store, "run") if j["status"] == "done"]


def job_label(job: dict) -> str:
    """'#3 · mnist P=2048 · 10 seeds · 150 epochs' (+ what differs from the defaults that matters)."""
    c = job.get("config") or {}
    if job.get("kind", "run") == "run" and "dataset" in c:
        extra = [f"{k}={c[k]}" for k in ("labels", "optimizer", "activation", "depth", "width", "lr", "model")
                 if k in c and c[k] != getattr(RunConfig, k)]
        what = f"{c['dataset']} P={c.get('n_train')} · {c.get('seeds')} seeds · {c.get('epochs')} epochs"
        return f"#{job['id']} · {what}" + (f" · {', '.join(extra)}" if extra else "")
    return f"#{job['id']} · {job.get('kind')}"


def fmt_seconds(s) -> str:
    if s is None or not isinstance(s, (int, float)) or not math.isfinite(s) or s < 0:
        return "–"
    s = int(round(s))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def progress(job: dict) -> float:
    total = job.get("total") or 0
    if job.get("status") == "done":
        return 1.0
    return min(max(float(job.get("epoch") or 0) / total, 0.0), 1.0) if total else 0.0


def jobs_table(jobs: list[dict]) -> pd.DataFrame:
    """The job list as shown on the home page: one row per job, newest first."""
    rows = []
    for j in jobs:
        rows.append({
            "id": int(j["id"]), "job": job_label(j), "kind": j.get("kind"),
            "status": j.get("status"),
            "progress": progress(j), "epochs": f"{j.get('epoch') or 0}/{j.get('total') or '?'}",
            "ETA": fmt_seconds(j.get("eta_s")) if is_active(j) else "",
            "device": j.get("device") or "", "error": j.get("error") or "",
        })
    return pd.DataFrame(rows, columns=["id", "job", "kind", "status", "progress", "epochs", "ETA", "device",
                                       "error"])


def submit_run(config: RunConfig, store, force: bool = False) -> int:
    """Validate and queue a run; an identical finished run is reused by jobs.submit
    (its config hash) unless `force`."""
    from engine.jobs import queue
    config.validate()
    return int(queue.submit("run", config.to_dict(), force=force, store=store))


def cancel(job_id, store=None) -> None:
    from engine.jobs import queue
    queue.cancel(int(job_id), store=store)


def frame(store, job_id) -> pd.DataFrame:
    return store.metrics_frame(int(job_id))


# --- the machine and the data ----------------------------------------------------------

def device_info() -> str:
    """The device `device=auto` resolves to, in words."""
    import torch
    if torch.cuda.is_available():
        return f"CUDA: {torch.cuda.get_device_name(0)}"
    return f"CPU ({os.cpu_count()} cores, {torch.get_num_threads()} threads for torch)"


def datasets_status() -> list[dict]:
    """engine.sources.status(), or one row per dataset saying the module is missing."""
    try:
        from engine.sources import status
    except ImportError as e:
        return [{"name": d, "ready": False, "source": None, "n_train": None, "n_test": None,
                 "how_to_fetch": f"engine.sources unavailable ({e})"} for d in DATASETS]
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


# --- presets --------------------------------------------------------------------------------

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


# --- time and memory before launch ---------------------------------------------------------

_RATE: dict = {}


def measured_flops(seconds: float = 0.15) -> float:
    """float32 GEMM rate of this machine's CPU through torch (measured once per process)."""
    if "cpu" not in _RATE:
        import torch
        a, b = torch.randn(512, 784), torch.randn(784, 256)
        a @ b
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            a @ b
            n += 1
        _RATE["cpu"] = 2 * 512 * 784 * 256 * n / (time.perf_counter() - start)
    return _RATE["cpu"]


INPUT_DIM = {"mnist": 784, "kmnist": 784, "fashion": 784, "cifar10": 3072, "digits": 64}
TEST_SIZE = {"mnist": 10000, "kmnist": 10000, "fashion": 10000, "cifar10": 10000, "digits": 360}
EFFICIENCY = 0.5  # activations, geometry and the optimiser: about half the GEMM rate (no runs to learn from)


def flops(config: RunConfig) -> float:
    """Work of a run, dominated by the first layer: forward + backward on the P training
    points (6 P N H), a forward on the test set when it is measured (2 P_test N H), per
    seed and epoch; deeper nets add their hidden-to-hidden layers."""
    N = INPUT_DIM.get(config.dataset, 784)
    P_test = TEST_SIZE.get(config.dataset, 10000)
    deeper = 1 + (config.depth - 2) * config.width / N
    return (6 * config.n_train + 2 * P_test / config.test_every) * N * config.width * config.seeds * \
        (config.epochs + 1) * deeper


def measured_rate(store=None, device: str = "cpu", last: int = 5) -> tuple[float, str]:
    """FLOP/s this machine achieves: the median over the last finished runs in the store
    on this device (their FLOP count / their training time), or, before any run, the
    GEMM rate measured here times EFFICIENCY."""
    rates = []
    if store is not None:
        for job in finished_runs(store):
            if len(rates) >= last:
                break
            seconds = job.get("seconds")
            if not seconds or seconds < 1 or not str(job.get("device") or "cpu").startswith(device):
                continue
            try:
                rates.append(flops(RunConfig.from_dict(job["config"])) / seconds)
            except (ConfigError, TypeError):
                continue
    if rates:
        return float(sorted(rates)[len(rates) // 2]), f"from the last {len(rates)} finished run(s) here"
    return measured_flops() * EFFICIENCY, "from a GEMM rate measured here"


def estimate(config: RunConfig, rate: float | None = None, store=None) -> dict:
    """Seconds and bytes of a run on this machine, before it starts. Time: FLOPs at the
    measured rate (+ ~3 s to start a worker and load the data). Memory: engine.memory's
    working-set bound (its fallback: inputs + hidden layers) plus what the run keeps
    (curves and the packed misclassified masks of every epoch)."""
    import torch
    on_gpu = config.device != "cpu" and torch.cuda.is_available()
    how = "given rate"
    if rate is None:
        rate, how = measured_rate(store, "cuda" if on_gpu else "cpu")
        if on_gpu and "finished run" not in how:
            rate *= 50
    N = INPUT_DIM.get(config.dataset, 784)
    P_test = TEST_SIZE.get(config.dataset, 10000)
    P, H, R, T, L = config.n_train, config.width, config.seeds, config.epochs, config.depth
    try:
        from engine.memory import estimate_bytes
        working = estimate_bytes(P, N, H, L, R, P_test)
    except ImportError:
        working = 4 * (P + P_test) * N + 4 * 4 * R * (P + P_test) * H * (L - 1)
    kept = R * (T + 1) * math.ceil(P / 8) + 8 * 6 * R * (T + 1)
    return {"seconds": flops(config) / rate + 3.0, "bytes": working + kept, "flops": flops(config),
            "how": f"FLOP count at {rate / 1e9:.1f} GFLOP/s, {how}"}


def fmt_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"

