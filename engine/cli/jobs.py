"""`python -m engine jobs submit|list|show|cancel|export|gc`: the job queue from a
terminal. Same store, same functions as the pages (engine.jobs);
every command refreshes first, so dead workers show up as interrupted and queued
jobs get workers."""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from engine.cli.options import add_executor_options, add_run_options, config_from_args, executor_from_args
from engine.cli.progress import Progress
from engine.cli.run import human_summary
from engine.config import ConfigError, run_config
from engine.planning.preflight import FIXED_BYTES, output_bytes

TABLE = (("id", 5), ("kind", 9), ("status", 11), ("progress", 11), ("eta", 7), ("pid", 7), ("device", 7),
         ("created", 19), ("error", 0))


def register(subparsers) -> None:
    p = subparsers.add_parser("jobs", help="background jobs: submit, list, show, cancel, export, gc")
    sub = p.add_subparsers(dest="jobs_command", required=True)
    s = sub.add_parser("submit", help="queue a run (or --kind KIND) and print its id")
    add_run_options(s)
    add_executor_options(s)
    s.add_argument("--kind", default="run", help="run, or an experiment kind with its default options "
                                                 "(to set them: python -m engine KIND ... --job)")
    s.add_argument("--force", action="store_true", help="rerun even if an identical job is done")
    s.add_argument("--wait", action="store_true", help="show progress until it ends; exit 0 only if done")
    s.add_argument("--max-workers", type=int, default=None, help="jobs at once (default $STRAGGLERS_MAX_WORKERS, "
                                                                  "else one per GPU, else 1)")
    s.set_defaults(func=cmd_submit)
    s = sub.add_parser("list", help="all jobs, newest first")
    s.add_argument("--kind")
    s.add_argument("--status")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_list)
    s = sub.add_parser("show", help="one job: status, progress, error, config, summary")
    s.add_argument("id", type=int)
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_show)
    s = sub.add_parser("cancel", help="cancel a queued job, or stop a running one after its current epoch")
    s.add_argument("id", type=int)
    s.set_defaults(func=cmd_cancel)
    s = sub.add_parser("export", help="write the files `engine run` writes (or an experiment's result files)")
    s.add_argument("id", type=int)
    s.add_argument("--out", required=True, help="output folder")
    s.set_defaults(func=cmd_export)
    s = sub.add_parser("gc", help="delete finished jobs (and their epochs) older than DAYS")
    s.add_argument("--older-than", dest="older_than", type=float, required=True, metavar="DAYS")
    s.set_defaults(func=cmd_gc)


def _guarded(command):
    """An unknown id or an unusable store file: one line and status 2, not a traceback."""
    def run(args) -> int:
        from engine.jobs.store import StoreError, UnknownJob, no_such_id
        if (why := no_such_id(getattr(args, "id", 1))) is not None:  # before the store is opened
            print(f"error: {why}", file=sys.stderr)
            return 2
        try:
            return command(args)
        except UnknownJob as e:
            print(f"error: {e.args[0]}", file=sys.stderr)
        except StoreError as e:
            print(f"error: {e}", file=sys.stderr)
        return 2
    run.__doc__ = command.__doc__
    return run


@_guarded
def cmd_submit(args) -> int:
    from engine.jobs import queue
    from engine.jobs.store import Store
    config = config_from_args(args).to_dict()
    if (executor := executor_from_args(args)) is not None:
        config["executor"] = executor
    queue.normalise(args.kind, config)  # refused before the store is even opened
    store = Store()
    job_id = queue.submit(args.kind, config, force=args.force, store=store, max_workers=args.max_workers)
    print(job_id, flush=True)
    if not args.wait:
        return 0
    job = queue.wait(job_id, store, on_progress=_bar())
    if job["status"] != "done":
        print(f"job {job_id} {job['status']}" + (f": {job['error']}" if job["error"] else ""), file=sys.stderr)
        return 1
    return 0


def _bar(stream=None):
    """The CLI's progress bar fed by a job's epoch/total and its own ETA."""
    bar = Progress(stream=stream)

    def show(job) -> None:
        if job["status"] == "queued":
            bar.text(f"queued (position {job['queue_position']})")
        elif job["status"] == "running":
            bar.label = "epochs" if job["kind"] == "run" else "seed-epochs"  # an experiment counts all its ensembles
            bar(job["epoch"], max(job["total"], 1), job["eta_s"])
        else:
            bar.text(f"job {job['id']} {job['status']}")
            bar.end()
    return show


@_guarded
def cmd_list(args) -> int:
    from engine.jobs.store import Store
    store = Store()
    _refresh(store)
    rows = store.list_jobs(kind=args.kind, status=args.status)
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
        return 0
    print("  ".join(f"{name:<{width}}" for name, width in TABLE).rstrip())
    for job in rows:
        print("  ".join(f"{str(_cell(job, name)):<{width}}" for name, width in TABLE).rstrip())
    return 0


def _refresh(store) -> None:
    """queue.refresh for a command that only reads: a store that cannot take the
    update (a full disk) is still listed, with a note that statuses may be stale."""
    from engine.jobs.queue import refresh
    from engine.jobs.store import StoreError
    try:
        refresh(store)
        problem = store.read_only
    except StoreError as e:
        if e.kind == "damaged":
            raise
        problem = e
    if problem is not None:
        print(f"note: statuses were not brought up to date (dead workers, queued jobs): {problem}", file=sys.stderr)


def _cell(job: dict, name: str):
    if name == "status" and job["status"] == "queued" and job.get("queue_position"):
        return f"queued #{job['queue_position']}"
    if name == "eta":
        return "" if job["eta_s"] is None else f"{job['eta_s']:.0f}s"
    if name == "created":
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(job["created"]))
    if name == "error":
        return (job["error"] or "")[:80]
    value = job.get(name)
    return "" if value is None else value


@_guarded
def cmd_show(args) -> int:
    from engine.jobs.store import Store
    store = Store()
    _refresh(store)
    job = store.get_job(args.id)
    job["artifacts"] = store.artifact_names(args.id)
    if args.json:
        print(json.dumps(job, indent=2, default=str))
        return 0
    for name in ("id", "kind", "status", "progress", "eta_s", "queue_position", "pid", "device", "error",
                 "config_hash", "artifacts"):
        if job.get(name) not in (None, [], ""):
            print(f"{name:<15} {job[name]}")
    for name in ("created", "started", "finished"):
        if job[name]:
            print(f"{name:<15} {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(job[name]))}")
    print(f"{'config':<15} {json.dumps(job['config'], sort_keys=True)}")
    if job["kind"] == "run" and job["status"] == "done":
        from engine.jobs import views
        print(human_summary(views.summary(store, args.id)))
    return 0


@_guarded
def cmd_cancel(args) -> int:
    from engine.jobs.queue import cancel
    job = cancel(args.id)
    word = {"running": "cancel requested (stops after the current epoch)", "cancelled": "cancelled"}
    print(f"job {args.id}: {word.get(job['status'], 'already ' + job['status'])}")
    return 0


@_guarded
def cmd_export(args) -> int:
    from engine.files import check_output_folder
    from engine.jobs.store import Store
    check_output_folder(args.out)  # a file, a folder of other files, a read-only place: before reading
    store = Store()
    job = store.get_job(args.id)
    out = Path(args.out)
    if job["kind"] == "run":
        cfg = run_config(job["config"])
        check_output_folder(out, output_bytes(cfg.seeds, cfg.epochs, cfg.n_train))
    else:
        check_output_folder(out, FIXED_BYTES + 4 * store.artifact_bytes(args.id))  # JSON/CSV text of the blobs
    if job["status"] != "done":
        print(f"note: job {args.id} is {job['status']}; exporting the epochs recorded so far", file=sys.stderr)
    try:
        written = _export(store, args.id, job, out)
    except OSError as e:  # the disk filled up since the check: the folder is as it was (engine.files)
        print(f"error: could not write {out} ({e.strerror or e}); it was left as it was", file=sys.stderr)
        return 1
    if written:
        print(f"job {args.id} written to {out}")
    return 0 if written else 1


def _export(store, job_id: int, job: dict, out: Path) -> bool:
    if job["kind"] == "run":
        import numpy as np

        from engine.analysis.report import write_outputs
        from engine.jobs import views
        result = store.result(job_id)
        if not np.isfinite(result.curves["train_error"]).any():
            print(f"error: job {job_id} has no epochs yet; export it once it has run", file=sys.stderr)
            return False
        result.scores = views.scores(store, job_id)
        if result.scores is None:
            print(f"note: job {job_id} has no difficulty scores (it ran before they were recorded, or has not "
                  f"finished); rerun it with `python -m engine jobs submit ... --force` to get scores.csv",
                  file=sys.stderr)
        write_outputs(result, views.dataset(store, job_id), out)
        return True
    from engine.experiments.context import write_result
    names = [n for n in store.artifact_names(job_id) if n != "result"]
    result = store.get_artifact(job_id, "result")
    if result is None:
        print(f"error: job {job_id} has no result yet", file=sys.stderr)
        return False
    write_result(out, result, {n: store.get_artifact(job_id, n) for n in names})
    return True


@_guarded
def cmd_gc(args) -> int:
    import math

    from engine.jobs.store import Store
    if not (math.isfinite(args.older_than * 86400) and args.older_than >= 0):  # -1 removed a job that just finished
        raise ConfigError("older_than", args.older_than, "a number of days >= 0 (0 removes every finished job)")
    n = Store().gc(args.older_than * 86400)
    print(f"removed {n} finished job{'s' if n != 1 else ''} older than {args.older_than:g} days")
    return 0
