"""engine.jobs.executors on a REAL local Ray (one per session, tests/conftest.py):
the same numbers as the local executor for a run in chunks of seeds, a scaling
grid and a prune whose variants are split into pieces; cancel; a killed Ray worker
(its piece lost, the job interrupted naming it, a resubmit training only it); bad
input refused before any work."""
import os
import signal
import subprocess
import sys

import helpers
import numpy as np
import pytest

from engine.config import ConfigError, RunConfig
from engine.experiments import JOB_KINDS
from engine.experiments.context import LocalContext
from engine.jobs import executors
from engine.jobs import queue as jobs
from engine.jobs.store import Store
from engine.analysis.results import CURVES
from engine.run import run

TIMEOUT = 240  # a job worker imports torch and joins the cluster: slow on a shared box


@pytest.fixture
def runs(tmp_path, monkeypatch):
    monkeypatch.setenv("STRAGGLERS_RUNS", str(tmp_path))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.delenv("STRAGGLERS_MAX_WORKERS", raising=False)
    yield tmp_path
    for p in list(jobs._children):  # only the workers this test started
        if p.poll() is None:
            p.kill()
            p.wait()


def on_ray(ctx=None):
    """An executor on the session's Ray (already initialised in this process)."""
    ex = executors.open_executor(executors.spec("ray"))
    reports = []
    ex.report = reports.append
    return ex, reports


def assert_same_curves(a, b):
    for c in CURVES:
        np.testing.assert_allclose(a.curves[c], b.curves[c], rtol=1e-6, atol=1e-9, equal_nan=True, err_msg=c)


def test_a_run_in_chunks_of_seeds_on_ray_equals_the_local_run(ray_cluster, runs):
    cfg = RunConfig(dataset="digits", n_train=256, seeds=4, epochs=40, device="cpu")
    local, _ = run(cfg)
    ex, reports = on_ray()
    progress = []
    out = ex.run(cfg, on_epoch=lambda rec, done: progress.append(done))
    assert not out.lost and not out.result.stopped
    pieces = reports[-1]
    assert len(pieces) == 2 and sorted(s for p in pieces for s in p["seeds"]) == [0, 1, 2, 3]  # one per CPU
    assert all(p["status"] == "done" and p["threads"] == 1 and p["pid"] != os.getpid() for p in pieces)
    assert_same_curves(out.result, local)
    assert (out.result.masks == local.masks).all()  # S(t) of every seed and epoch, bit for bit
    assert progress == sorted(progress) and progress[-1] == cfg.epochs
    # the difficulty scores come back too (issue 25, case 3), each chunk's made on its node
    from engine.training.scores import SCORES
    assert out.result.scores is not None and list(out.result.scores.seeds) == [0, 1, 2, 3]
    for name in SCORES:
        np.testing.assert_allclose(out.result.scores.values[name], local.scores.values[name], rtol=1e-5, atol=1e-6,
                                   equal_nan=True, err_msg=name)
    assert (out.result.scores.grand_epoch, out.result.scores.el2n_epoch) == (local.scores.grand_epoch,
                                                                             local.scores.el2n_epoch)


def test_scaling_on_ray_runs_every_size_and_width_as_a_piece_with_the_local_numbers(ray_cluster, runs):
    config = dict(dataset="digits", epochs=40, seeds=3, device="cpu", n_trains=[128, 256, 512], n_boot=5,
                  widths=[10, 20])
    local = JOB_KINDS["scaling"](dict(config), LocalContext())
    ctx = LocalContext()
    ctx.executor, reports = on_ray()
    remote = JOB_KINDS["scaling"](dict(config), ctx)
    assert len(reports[-1]) == 6 and all(p["status"] == "done" for p in reports[-1])  # 2 widths x 3 sizes
    for a, b in zip(local["points"], remote["points"], strict=True):
        assert a["n_train"] == b["n_train"] and a["phi_mean"] == pytest.approx(b["phi_mean"], abs=1e-9)
    for a, b in zip(local["grid"], remote["grid"], strict=True):
        assert (a["depth"], a["width"]) == (b["depth"], b["width"])
        assert a["phi_inf"] == pytest.approx(b["phi_inf"], rel=1e-6, nan_ok=True)
    assert len(list((runs / "pieces").glob("*.pt"))) == 6  # kept until the job is done ...
    n_reports = len(reports)
    again = JOB_KINDS["scaling"](dict(config), ctx)  # ... so a resubmit trains none of them again
    assert len(reports) == n_reports and again["points"] == remote["points"]  # no task was started
    ctx.executor.finished()
    assert not list((runs / "pieces").glob("*.pt"))  # ... then forgotten


def test_an_uploaded_dataset_reaches_the_tasks_through_the_object_store(ray_cluster, runs, tmp_path, monkeypatch):
    from engine.data.sources import load_raw
    from engine.data.upload import save_user_dataset
    digits = load_raw("digits")
    monkeypatch.setenv("STRAGGLERS_DATA", str(tmp_path / "data"))  # only here: the Ray workers never see it
    save_user_dataset("scribbles", {"x_train": digits.x_train, "y_train": digits.y_train,
                                    "x_test": digits.x_test, "y_test": digits.y_test})
    cfg = RunConfig(dataset="user:scribbles", n_train=256, seeds=2, epochs=20, device="cpu")
    local, _ = run(cfg)
    ex, reports = on_ray()
    out = ex.run(cfg)
    assert not out.lost and all(p["pid"] != os.getpid() for p in reports[-1])
    assert {p["data"] for p in reports[-1]} == {"user upload (via Ray's object store)"}
    assert_same_curves(out.result, local)


def test_prune_retrains_each_variant_as_a_piece_and_merges_them_in_order(ray_cluster, runs):
    # a base run that turns within its epochs (P = 512 at eta = 1): prune needs seeds with an inversion;
    # horizon 1 (no training past the epochs asked): only then are the variants pieces of their own
    config = dict(dataset="digits", n_train=512, epochs=60, lr=1.0, seeds=2, device="cpu", horizon=1)
    local = JOB_KINDS["prune"](dict(config), LocalContext())
    ctx = LocalContext()
    ctx.executor, reports = on_ray()
    remote = JOB_KINDS["prune"](dict(config), ctx)
    variants = [n for n in local["variants"] if n != "full"]
    assert [p["piece"] for p in reports[-1]] == [f"retrain rows {2 * v}-{2 * v + 1}" for v in range(len(variants))]
    assert list(remote["variants"]) == list(local["variants"])
    for name, v in local["variants"].items():
        w = remote["variants"][name]
        assert w["n_removed"] == v["n_removed"] and w["inversion_present"] == v["inversion_present"], name
        for key in ("phi", "final_test_error", "final_train_error", "final_distance"):
            # None: a seed without an inversion (no phi); the same None on both sides
            np.testing.assert_allclose(np.array(w[key], dtype=float), np.array(v[key], dtype=float), rtol=1e-6,
                                       atol=1e-9, err_msg=f"{name} {key}")


def test_cancel_cancels_the_ray_tasks(ray_cluster, runs):
    import ray
    cfg = RunConfig(dataset="digits", n_train=256, seeds=4, epochs=100_000, device="cpu")
    ex, _ = on_ray()
    seen = []
    out = ex.run(cfg, on_epoch=lambda rec, done: seen.append(rec.epoch), should_stop=lambda: len(seen) >= 20)
    assert out.result.stopped and not out.lost and out.result.epochs_done < 1000
    # a running task holds its CPU: both come back once the tasks are cancelled
    helpers.wait_until(lambda: ray.available_resources().get("CPU", 0) == 2, 60, poll=0.1)


def test_a_killed_ray_worker_interrupts_the_job_naming_its_piece_and_a_resubmit_trains_only_it(ray_cluster, runs):
    store = Store()
    # long enough that the tasks are still training when the kill comes (400 epochs once
    # finished first on an idle machine, and the job was "done")
    epochs = 3000
    cfg = {**RunConfig(dataset="digits", n_train=256, seeds=4, epochs=epochs, device="cpu").to_dict(),
           "executor": {"name": "ray", "address": ray_cluster, "cpus": 1}}
    job = jobs.submit("run", cfg, store=store)

    def both_started():
        pieces = (store.get_artifact(job, "pieces") or {}).get("pieces", [])
        return len(pieces) == 2 and all("pid" in p for p in pieces) and pieces
    pieces = helpers.wait_until(both_started, TIMEOUT, poll=0.01)
    assert store.get_job(job)["device"] == f"ray:{ray_cluster}"
    victim = pieces[1]
    os.kill(victim["pid"], signal.SIGKILL)  # a Ray worker dies mid-task (a node lost, OOM...)
    final = jobs.wait(job, store, timeout=TIMEOUT)
    assert final["status"] == "interrupted", final
    assert victim["piece"] in final["error"] and "Ray worker died" in final["error"]
    assert "resubmit" in final["error"]
    survivor = [p for p in store.get_artifact(job, "pieces")["pieces"] if p["piece"] != victim["piece"]][0]
    assert survivor["status"] == "done"
    frame = store.metrics_frame(job)
    assert (frame[frame.seed.isin(survivor["seeds"])].groupby("seed").size() == epochs + 1).all()

    assert jobs.submit("run", cfg, store=store) == job  # the same job, only the lost seeds again
    final = jobs.wait(job, store, timeout=TIMEOUT)
    assert final["status"] == "done", final["error"]
    again = store.get_artifact(job, "pieces")
    assert again["kept_seeds"] == survivor["seeds"]
    assert sorted(s for p in again["pieces"] for s in p["seeds"]) == victim["seeds"]
    frame = store.metrics_frame(job)
    assert len(frame) == 4 * (epochs + 1) and (frame.groupby("seed").size() == epochs + 1).all()
    summary = store.get_artifact(job, "summary")
    assert summary["seeds"] == [0, 1, 2, 3] and summary["timing"]["kept_seeds"] == survivor["seeds"]


def test_bad_executor_input_is_refused_at_submit_with_one_line(ray_cluster, runs, monkeypatch):
    store = Store()
    base = RunConfig(dataset="digits", n_train=256, seeds=2, epochs=5, device="cpu").to_dict()
    on = {"name": "ray", "address": ray_cluster, "cpus": 1}
    with pytest.raises(ConfigError, match="--device='cuda'.*has no GPU"):
        jobs.submit("run", {**base, "device": "cuda", "executor": on}, store=store)
    with pytest.raises(ConfigError, match="--ray-cpus=3.*at most 2"):
        jobs.submit("run", {**base, "executor": {**on, "cpus": 3}}, store=store)
    with pytest.raises(ConfigError, match="--ray-address='somewhere'"):
        jobs.submit("scaling", {**base, "executor": {**on, "address": "somewhere"}}, store=store)
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:9")
    with pytest.raises(ConfigError, match="no Ray head answers there"):
        jobs.submit("run", {**base, "executor": {**on, "address": "auto"}}, store=store)
    assert store.list_jobs() == []  # nothing was queued
    env = {**os.environ, "PYTHONPATH": str(helpers.ROOT)}
    for command in (["jobs", "submit"], ["run", "--out", str(runs / "x")]):
        p = subprocess.run([sys.executable, "-m", "engine", *command, "--dataset", "digits", "--n-train", "256",
                            "--executor", "ray", "--ray-address", "127.0.0.1:9"], capture_output=True, text=True,
                           env=env, cwd=helpers.ROOT, timeout=60)
        assert p.returncode == 2, p.stderr
        assert p.stderr.count("\n") == 1 and "--ray-address='127.0.0.1:9'" in p.stderr and "ray start --head" in p.stderr
    assert not (runs / "x").exists()
