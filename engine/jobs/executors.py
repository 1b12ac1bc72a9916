"""Where a job's training runs: here (`local`, the default: today's worker
processes) or as tasks on a Ray cluster (`ray`), with the same job API and store.

The unit of work sent to Ray is one config x a batch of seeds (never one task per
seed: the batched ensemble is the speed). A "run" is split into chunks of seeds,
one per free slot of the cluster; an experiment into its natural pieces
(engine.experiments.pieces: each P and (depth, width) of scaling, each variant of
compare, prune and sweep). Each task is a Ray streaming generator: it trains its
piece and yields its EpochRecords (or, when nobody watches them, progress ticks)
back to the job's driver, which stays the only writer of the SQLite store, so the
live view, progress, ETA, cancel and export work as with the local executor.

Data travels by name: each node prepares the dataset itself (fetched and checked
by md5 as anywhere else, into $STRAGGLERS_DATA if the node sets it, else the
driver's data path); an uploaded dataset goes through Ray's object store.
Tasks ask for CPUs (and a GPU for --device cuda, or auto on a cluster with GPUs)
and set torch's thread count to what they were given. A task lost with its worker
or node marks its piece lost: the other pieces finish, the job ends `interrupted`
naming the lost ones, and a resubmit computes only those (a run keeps its finished
seeds in the store; an experiment its finished pieces in runs/pieces/).

What runs inside a task is engine/jobs/ray_tasks.py; the finished pieces of an
experiment wait for a resubmit in engine/jobs/piece_cache.py.

An executor is chosen per job by the "executor" entry of its config:
{"name": "ray", "address": None | "auto" | "host:port", "cpus": CPUs per task},
absent for local. It changes where and how fast, never the numbers, so it is not
part of the job's config hash (as the device is not).
"""
from __future__ import annotations

import dataclasses
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine.analysis.results import RunResult
from engine.config import ConfigError, RunConfig
from engine.data.dataset import prepare
from engine.environment import ROOT, data_dir, gpu_count
from engine.jobs import piece_cache, ray_tasks
from engine.jobs.ray_head import join, ray_module, resolve_address

EXECUTORS = ("local", "ray")
POLL_S = 0.25            # the driver checks for a cancel at least this often
ADDRESS = re.compile(r"[A-Za-z0-9.\-]+:\d{1,5}")


class PiecesLost(RuntimeError):
    """Some pieces' tasks died with their worker or node; the others finished."""

    def __init__(self, lost: list[str], total: int | None = None):
        self.lost, self.total = lost, total
        of = f" of {total}" if total else ""
        super().__init__(f"{len(lost)}{of} piece(s) lost on the Ray cluster: {'; '.join(lost)}. The others are "
                         f"kept: resubmit to compute only the lost ones")


# --- the executor setting of a job ------------------------------------------------------------
def spec(name: str = "local", address: str | None = None, cpus: int = 1) -> dict | None:
    """The "executor" entry of a job config (None for local), validated."""
    if name not in EXECUTORS:
        raise ConfigError("executor", name, "one of " + ", ".join(EXECUTORS))
    if name == "local":
        if address:
            raise ConfigError("ray_address", address, "only with --executor ray")
        return None
    if address not in (None, "", "auto") and not ADDRESS.fullmatch(str(address)):
        raise ConfigError("ray_address", address, "host:port of a Ray head (as `ray start --head` prints it), "
                                                   "or auto; leave it out to start a local Ray")
    if isinstance(cpus, bool) or not isinstance(cpus, int) or cpus < 1:
        raise ConfigError("ray_cpus", cpus, "an integer >= 1 (CPUs per task)")
    return {"name": "ray", "address": address or None, "cpus": int(cpus)}


def split_config(config: dict) -> tuple[dict, dict | None]:
    """(the job's science config, its executor spec or None)."""
    config = dict(config)
    value = config.pop("executor", None)
    if value is None:
        return config, None
    if not isinstance(value, dict):
        raise ConfigError("executor", value, '{"name": "ray", "address": ..., "cpus": ...} or absent')
    return config, spec(value.get("name", "local"), value.get("address"), value.get("cpus", 1))


def check(executor: dict | None, config: RunConfig) -> None:
    """At submit: refuse what the cluster cannot run (ConfigError), before any work.
    Joins the cluster briefly to read its resources."""
    if executor is None:
        return
    nodes = node_resources(executor)
    gpus = sum(n.get("GPU", 0) for n in nodes)
    where = f"the Ray cluster at {executor['address']}" if executor["address"] else "this machine"
    if config.device == "cuda" and gpus == 0:
        raise ConfigError("device", "cuda", f"{where} has no GPU: use --device auto or cpu")
    largest = max((int(n.get("CPU", 0)) for n in nodes), default=0)
    if executor["cpus"] > largest:
        raise ConfigError("ray_cpus", executor["cpus"], f"at most {largest}, the CPUs of the largest node of {where}")


def node_resources(executor: dict) -> list[dict]:
    """Each alive node's resources (CPU, GPU, memory) of the executor's cluster."""
    if executor["address"] is None:  # a local Ray would be started on this machine
        return [{"CPU": os.cpu_count() or 1, "GPU": gpu_count()}]
    ray = ray_module()
    address = resolve_address(executor["address"])  # fails in seconds when nothing answers there
    if ray.is_initialized():  # this process is already a driver (tests, a notebook): its cluster
        return [n["Resources"] for n in ray.nodes() if n.get("Alive")]
    join(address, log_to_driver=False, logging_level="ERROR")
    try:
        return [n["Resources"] for n in ray.nodes() if n.get("Alive")]
    finally:
        ray.shutdown()


def open_executor(executor: dict | None):
    return LocalExecutor() if executor is None else RayExecutor(executor)


# --- the executors -------------------------------------------------------------------------------
@dataclass
class RunOutcome:
    result: object                              # engine.analysis.results.RunResult
    data: object                                # engine.data.dataset.Dataset
    lost: list = field(default_factory=list)    # descriptions of pieces lost with their node


def merged_scores(parts: list):
    """One RunScores of a run from its chunks' (engine.training.scores), in seed order."""
    from engine.training.scores import SCORES, RunScores
    seeds = np.concatenate([p.seeds for p in parts])
    order = np.argsort(seeds, kind="stable")
    values = {k: np.concatenate([p.values[k] for p in parts])[order] for k in SCORES}
    notes = list(dict.fromkeys(n for p in parts for n in p.notes))
    first = parts[0]
    return RunScores(seeds=seeds[order], values=values, epochs=np.concatenate([p.epochs for p in parts])[order],
                     el2n_epoch=first.el2n_epoch, grand_epoch=first.grand_epoch, grand_method=first.grand_method,
                     notes=notes)


class LocalExecutor:
    """Today's path: everything in this process (engine.run.run; experiments run their
    pieces one after the other)."""
    name, distributed = "local", False

    def run(self, config: RunConfig, on_epoch=None, should_stop=None, skip_seeds=(), checked=None) -> RunOutcome:
        from engine.run import EpochsDone, run
        done = EpochsDone(config.seeds, config.epochs)
        result, data = run(config, on_epoch=None if on_epoch is None else lambda rec: on_epoch(rec, done(rec)),
                           should_stop=should_stop, checked=checked)
        return RunOutcome(result, data)

    def close(self) -> None:
        pass

    def finished(self) -> None:
        pass


@dataclass
class _Task:
    """The driver's view of one task: what it trains and how far it got."""
    piece: object          # engine.experiments.pieces.Rows
    index: tuple           # (piece, part) in the caller's order
    epochs: int = 0        # records or ticks received
    seed_epochs: int = 0   # run mode: sum of the records' seeds (a node may split its chunk again)
    counted: int = 0       # epochs already passed to the progress
    value: object = None   # the Ensemble it returned
    done: bool = False
    lost: str | None = None
    where: dict = field(default_factory=dict)  # node and pid of the task, once started

    def row(self) -> dict:
        status = "lost" if self.lost else "done" if self.done else "running"
        return {"piece": self.piece.label, "seeds": [int(s) for s in self.piece.seeds], "status": status,
                "epochs": self.epochs, **self.where, **({"lost": self.lost} if self.lost else {})}


class RayExecutor:
    """Pieces as Ray tasks; this process is their driver and the store's only writer."""
    name, distributed = "ray", True

    def __init__(self, executor: dict):
        ray = ray_module()
        self.spec, self.cpus = executor, int(executor["cpus"])
        self._owned, self._keys = False, set()
        self.report = None  # report(rows): each piece's seeds, status, node and pid, as they change
        if not ray.is_initialized():
            address = resolve_address(executor["address"])
            if address is None:  # a local Ray on this machine, for this job
                ray.init(address="local", num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False,
                         logging_level="ERROR", object_store_memory=_object_store_bytes())
            else:  # the engine package travels to the nodes; their Python needs requirements.txt
                join(address, log_to_driver=False, logging_level="ERROR",
                     runtime_env={"py_modules": [str(ROOT / "engine")]})
            self._owned = True
        resources = ray.cluster_resources()
        self.gpus = int(resources.get("GPU", 0))
        self.slots = max(1, int(resources.get("CPU", 1)) // self.cpus)

    def close(self) -> None:
        ray = ray_module()
        if self._owned and ray.is_initialized():
            ray.shutdown()

    # --- a run: chunks of seeds, records streamed back ---------------------------------
    def run(self, config: RunConfig, on_epoch=None, should_stop=None, skip_seeds=(), checked=None) -> RunOutcome:
        from engine.experiments.pieces import Rows
        config.validate()
        data = prepare(config)  # here too: the summary names its source and md5, and a missing set fails now
        skip = {int(s) for s in skip_seeds}
        todo = [s for s in config.seed_list if s not in skip]
        tasks = [_Task(Rows(config.replace(seed_offset=c[0], seeds=len(c)), c, stream=True,
                            label=f"seeds {c[0]}-{c[-1]}"), (k, 0))
                 for k, c in enumerate(self._chunks(todo, self.gpus if self._wants_gpu(config) else self.slots))]
        result = RunResult.empty(config, config.seed_list, data.n_train, device="ray")
        T1 = config.epochs + 1

        def on_item(task, kind, value):
            if kind == "scores":
                task.value = value
            if kind != "epoch":
                return
            result.add(value)
            if on_epoch is not None:
                seed_epochs = len(skip) * T1 + sum(t.seed_epochs for t in tasks)
                on_epoch(value, max(0, seed_epochs // config.seeds - 1))

        start = time.perf_counter()
        stopped = self._drive(tasks, "run", on_item, should_stop)
        result.seconds = time.perf_counter() - start
        result.stopped = stopped and not all(t.done for t in tasks)
        if not skip and all(t.value is not None for t in tasks):  # a resumed run has no sums of its kept seeds
            result.scores = merged_scores([t.value for t in tasks])
        return RunOutcome(result, data, [f"{t.piece.label} ({t.lost})" for t in tasks if t.lost])

    def _chunks(self, seeds: list[int], slots: int) -> list[list[int]]:
        """Consecutive seeds in as many chunks as the cluster has slots (CPUs / CPUs per
        task, or GPUs for a GPU run); each task splits its chunk again if it does not
        fit its node's memory (engine.training.memory)."""
        runs, chunks = [], []
        for s in seeds:  # contiguous runs: a chunk is a seed_offset and a count
            if runs and s == runs[-1][-1] + 1:
                runs[-1].append(s)
            else:
                runs.append([s])
        per = max(1, -(-len(seeds) // max(1, slots)))
        for r in runs:
            chunks += [r[i:i + per] for i in range(0, len(r), per)]
        return chunks

    # --- an experiment's pieces ----------------------------------------------------------
    def map(self, pieces: list, steps) -> list:
        """The Ensemble of every piece (engine.experiments.pieces.run_pieces), its parts
        run as separate tasks and merged. Finished parts are kept in runs/pieces/ until
        the job is done (finished()), so a resubmit after a loss or a cancel computes
        only the missing ones."""
        from engine.experiments.pieces import merge
        tasks, values = [], {}
        for i, piece in enumerate(pieces):
            parts = [piece.part(s) for s in piece.parts] or [piece]
            for j, part in enumerate(parts):
                key = piece_cache.key(part)
                self._keys.add(key)
                if (value := piece_cache.load(key)) is not None:
                    values[(i, j)] = value
                    steps.count(part.config, len(part.seeds), part.n_epochs())  # done before: counted at once
                else:
                    tasks.append(_Task(part, (i, j)))

        def on_item(task, kind, value):
            if kind == "epoch" and task.piece.stream:
                steps.ctx.on_epoch(value)
            if task.epochs > task.counted:  # each part counts its own rows' seed-epochs
                steps.count(task.piece.config, len(task.piece.seeds), task.epochs - task.counted)
            task.counted = task.epochs
            if kind == "done":
                piece_cache.save(piece_cache.key(task.piece), value)
            steps.check()

        self._drive(tasks, "rows", on_item, None)
        lost = [f"{t.piece.label} ({t.lost})" for t in tasks if t.lost]
        if lost:
            raise PiecesLost(lost, len(tasks) + len(values))
        values.update({t.index: t.value for t in tasks})
        return [merge([values[(i, j)] for j in range(max(1, len(p.parts)))]) for i, p in enumerate(pieces)]

    def finished(self) -> None:
        """The job is done: forget the pieces kept for a resubmit."""
        for key in self._keys:
            piece_cache.drop(key)
        self._keys.clear()

    # --- the driver loop -----------------------------------------------------------------
    def _drive(self, tasks: list[_Task], mode: str, on_item, should_stop) -> bool:
        """Start every task, hand each item to on_item as it arrives, until all are done
        or lost. Returns True when should_stop() asked to stop. A task's own error (bad
        data...) is raised here, once the others are cancelled."""
        ray = ray_module()
        upload = ray_tasks.upload_ref(tasks[0].piece.config) if tasks else (None, None)
        task_fn = ray.remote(ray_tasks.piece_task)
        live = {}
        for t in tasks:
            gpu = self._wants_gpu(t.piece.config)
            piece = dataclasses.replace(t.piece, config=t.piece.config.replace(device="cuda" if gpu else "cpu"))
            gen = task_fn.options(num_cpus=self.cpus, num_gpus=1 if gpu else 0, max_retries=0,
                                  name=f"stragglers {t.piece.label}")\
                .remote(piece, mode, str(data_dir()), self.cpus, upload[0], upload[1])
            live[gen] = t
        stopped = False
        try:
            while live:
                ready, _ = ray.wait(list(live), num_returns=1, timeout=POLL_S)
                for gen in ready:
                    task = live[gen]
                    try:
                        kind, value = ray.get(next(gen))
                    except StopIteration:
                        task.done = True
                        del live[gen]
                        self._report(tasks)
                        continue
                    except ray_tasks.lost_errors() as e:
                        task.lost = ray_tasks.why(e)
                        del live[gen]
                        self._report(tasks)
                        continue
                    except ray.exceptions.RayTaskError as e:
                        raise (e.cause if isinstance(getattr(e, "cause", None), Exception) else e) from None
                    if kind == "started":
                        task.where = value
                        self._report(tasks)
                        continue
                    if kind == "epoch":
                        task.epochs += 1
                        task.seed_epochs += len(value.seeds)
                    elif kind == "tick":
                        task.epochs += value
                    elif kind == "done":
                        task.done, task.value = True, value
                    on_item(task, kind, value)
                if should_stop is not None and should_stop():
                    stopped = True
                    break
        finally:
            for gen in live:  # a cancel, a failed piece or an exception in the driver
                ray.cancel(gen)
        return stopped

    def _report(self, tasks: list[_Task]) -> None:
        if self.report is not None:
            self.report([t.row() for t in tasks])

    def _wants_gpu(self, config: RunConfig) -> bool:
        return config.device == "cuda" or (config.device == "auto" and self.gpus > 0)


def _object_store_bytes() -> int:
    """A local Ray's object store: records and results pass through it briefly, so a
    tenth of the memory (at most 2 GiB) is plenty and leaves the rest to training."""
    try:
        total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        total = 8 * 2**30
    return int(min(2 * 2**30, max(128 * 2**20, total // 10)))
