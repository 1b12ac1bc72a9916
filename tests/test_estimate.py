"""Estimates before a launch (engine.planning.calibration, engine.planning.estimate,
engine.experiments.estimate) and the ETA while a job runs: the machine measured for
real once per session, experiments counted phase by phase as they run them, totals
known before the first epoch, the CLI's --dry-run giving the form's numbers."""
import json
import subprocess
import sys

import numpy as np
import pytest

from engine.planning import calibration as cal
from engine.config import RunConfig
from engine.planning.estimate import (Clock, epoch_seconds, estimate, estimate_phases, history_ratio,
                                      run_phases)
from engine.experiments.estimate import estimate_job, phases_of
from helpers import ROOT

SMALL = dict(dataset="digits", n_train=512, seeds=4, epochs=40, lr=1.0, device="cpu")


@pytest.fixture(scope="module")
def coef():
    """This machine's calibration, measured for real (once per test session)."""
    return cal.calibration("cpu")["coefficients"]


def test_calibration_is_measured_once_and_kept_per_machine(coef, monkeypatch):
    path = cal.cache_path("cpu")
    assert path.exists() and cal.cached("cpu")["coefficients"] == coef
    assert coef["gemm_s"] > 0 and coef["start_s"] > 0 and coef["autograd_factor"] >= 1
    probes = cal.cached("cpu")["probes"]
    assert set(probes) == {name for name, *_ in cal.PROBES}
    assert all(p["seconds_per_epoch"] > 0 for p in probes.values())
    # another torch (or host, or device) is another machine: measured again, not reused
    monkeypatch.setattr(cal, "machine", lambda device="cpu": {"torch": "another", "device": device})
    assert cal.cache_path("cpu") != path and cal.cached("cpu") is None


def test_a_calibration_disturbed_by_other_work_is_measured_again(coef, monkeypatch):
    """A fit with no cost per FLOP or far off its own probes (the cores were busy
    while it timed them: once seen in CI, gemm_s 0 and an rms log error of 0.5) is not
    kept: the probes are timed again and the good fit is the one used."""
    good = cal.cached("cpu")
    bad = {**good["coefficients"], "gemm_s": 0.0, "fit_log_error": 0.5}
    answers = iter([(good["probes"], bad), (good["probes"], dict(good["coefficients"]))])
    monkeypatch.setattr(cal, "_probe_and_fit", lambda device: next(answers))
    monkeypatch.setattr(cal, "time_start", lambda: {"start_s": 1.0, "sklearn_s": 0.5})
    out = cal.measure("cpu")["coefficients"]
    assert out["attempts"] == 2 and out["gemm_s"] == good["coefficients"]["gemm_s"] > 0


def test_fit_recovers_the_rates_of_a_machine():
    true = {"fixed_s": 0.002, "elementwise_s": 3e-9, "gemm_s": 2e-11}
    measured = []
    for R, P, N, H, Pt in [(2, 256, 64, 8, 256), (8, 8192, 64, 64, 2048), (8, 4096, 784, 20, 2048),
                           (8, 1024, 784, 64, 512)]:
        work = cal.epoch_work(R, P, N, H, Pt, 1.0)
        measured.append((work, cal.seconds_per_epoch({**true, "fit_log_error": 0}, work)))
    got = cal.fit(measured)
    for k, v in true.items():
        assert got[k] == pytest.approx(v, rel=1e-6)
    assert got["fit_log_error"] < 1e-6


def test_an_epoch_costs_more_with_more_rows_points_and_tests(coef):
    base = RunConfig(**SMALL)
    one = epoch_seconds(base, 4, coef)
    assert epoch_seconds(base, 16, coef) > one
    assert epoch_seconds(base.replace(n_train=1024), 4, coef) > one
    assert epoch_seconds(base.replace(test_every=10), 4, coef) < one  # fewer test evaluations
    assert epoch_seconds(base.replace(depth=3), 4, coef) > one  # autograd, one more layer
    assert epoch_seconds(base.replace(optimizer="sgd", batch_size=16), 4, coef) > one  # a step per mini-batch
    small, big = estimate(base, coef=coef), estimate(RunConfig(n_train=8192, seeds=20, epochs=300), coef=coef)
    assert 0 < small["seconds"] < big["seconds"] and 0 < small["memory_bytes"] < big["memory_bytes"]
    assert big["memory_bytes"] > 20 * 301 * 8192 / 8  # at least the stored masks
    assert small["low"] < small["seconds"] < small["high"]


def test_experiments_are_counted_phase_by_phase_as_they_run():
    run = {**RunConfig(**SMALL).to_dict()}
    [base, retrain] = phases_of("prune", run)
    assert (base.rows, retrain.rows, retrain.loads_data) == (4, 6 * 4, False)  # S(t*), 2 S(t), 3 random
    assert phases_of("prune", {**run, "prune_epochs": [5]})[1].rows == 4 * 4
    [_, sweep] = phases_of("sweep", {**run, "n_grid": 5, "retrain_epochs": 20})
    assert sweep.rows == 2 * 5 * 4 and sweep.config.epochs == 20 and sweep.config.test_every == 20
    scaling = phases_of("scaling", {**run, "n_trains": [128, 256, 512], "depths": [2, 3]})
    assert [(p.config.n_train, p.config.depth) for p in scaling] == \
        [(128, 2), (256, 2), (512, 2), (128, 3), (256, 3), (512, 3)]
    assert [p.fits for p in scaling] == [0, 0, 201, 0, 0, 201]  # Eq. 12 and its bootstrap, per cell
    assert [p.rows for p in phases_of("stability", {**run, "other": "width=10"})] == [4, 4]
    [embed] = phases_of("embed", run)
    assert embed.tsne_maps == 1 and phases_of("embed", run, map_cached=True)[0].tsne_maps == 0


def test_every_kind_is_estimated_and_bad_options_are_refused(coef):
    from engine.config import ConfigError
    run = RunConfig(**SMALL).to_dict()
    for kind in ("run", "compare", "prune", "sweep", "stability", "scaling", "embed"):
        est = estimate_job(kind, run)
        assert est["seconds"] > est["start_s"] > 0 and est["memory_bytes"] > 0 and est["device"] == "cpu"
        assert sum(p["seconds"] for p in est["phases"]) == pytest.approx(est["seconds"] - est["start_s"])
    assert estimate_job("prune", run)["seconds"] > estimate_job("run", run)["seconds"]
    with pytest.raises(ConfigError):
        estimate_job("prune", {**run, "prune_epoch": [3]})


def test_runs_that_finished_here_correct_the_model(coef):
    config = RunConfig(n_train=8192, seeds=20, epochs=300, device="cpu")  # the paper's: minutes, not noise
    modelled = (config.epochs + 1) * epoch_seconds(config, config.seeds, coef)
    tiny = RunConfig(**{**SMALL, "seeds": 1, "epochs": 1})
    jobs = [{"kind": "run", "config": config.to_dict(), "seconds": 2 * modelled, "device": "cpu"},
            {"kind": "run", "config": tiny.to_dict(), "seconds": 100.0, "device": "cpu"},  # start-up noise
            {"kind": "run", "config": config.to_dict(), "seconds": 3 * modelled, "device": "cpu"},
            {"kind": "run", "config": config.to_dict(), "seconds": 50 * modelled, "device": "cuda:0"}]
    ratio, worst, n = history_ratio(jobs, coef, "cpu")
    assert n == 2 and ratio == pytest.approx(3) and worst == pytest.approx(3)  # the GPU run is not this device
    plain, corrected = estimate(config, coef=coef), estimate(config, jobs, coef=coef)
    assert corrected["seconds"] - corrected["start_s"] > 2.5 * (plain["seconds"] - plain["start_s"])
    assert corrected["error"] == pytest.approx(3) and "corrected by the last 2" in corrected["how"]
    assert history_ratio([], coef, "cpu") == (1.0, 1.0, 0)


def test_the_eta_starts_at_the_estimate_and_follows_the_measured_speed():
    now = [0.0]
    clock = Clock(100.0, prior_s=10.0, now=lambda: now[0])
    assert clock.update(0.0) == pytest.approx(100.0)  # nothing measured: the estimate
    etas = []
    for k in range(1, 101):  # the machine runs at half the modelled speed
        now[0] = 2.0 * k
        etas.append(clock.update(float(k)))
    assert etas[-1] == pytest.approx(0.0)
    assert etas[49] == pytest.approx(50 * (100 + 10) / (50 + 10))  # blended: closer to 2x as evidence grows
    # the promised finish time moves from the estimate (100 s) to the truth (200 s) in small
    # steps (the model was off by more than its error here), never in one jump
    promised = [100.0] + [2.0 * (k + 1) + e for k, e in enumerate(etas)]
    assert max(np.diff(promised)) <= 0.1 * 100 and promised[-1] == pytest.approx(200.0)
    blind = Clock(None, now=lambda: now[0])  # no calibration: the measured rate alone
    now[0] = 0.0
    assert blind.update(0.0, 10.0) is None
    now[0] = 4.0
    assert blind.update(2.0, 10.0) == pytest.approx(16.0)


def _prune_reports(config: dict) -> list:
    from engine.experiments import JOB_KINDS
    from engine.experiments.context import LocalContext
    reports = []
    JOB_KINDS["prune"](dict(config), LocalContext(on_progress=lambda d, t, e: reports.append((d, t, e))))
    return reports


def test_a_prune_job_knows_its_total_before_the_first_epoch_and_never_grows_it(coef):
    """With the horizon at 1 (no training on past --epochs) the plan is the whole work."""
    from engine.jobs.queue import normalise
    config = {**RunConfig(**SMALL).to_dict(), "prune_epochs": [5, 30], "horizon": 1}
    reports = _prune_reports(config)
    totals = [t for _, t, _ in reports]
    assert totals[0] == normalise("prune", config)[2] == 4 * 41 + 6 * 4 * 41  # as submit stores it
    assert set(totals) == {totals[0]} and reports[-1][0] == totals[0]  # one total, reached at the end
    assert [d for d, _, _ in reports] == sorted(d for d, _, _ in reports)
    assert all(e is not None and e >= 0 for _, _, e in reports) and reports[-1][2] < reports[0][2]


def test_a_prune_job_whose_rows_are_undetermined_grows_its_total_by_the_epochs_it_adds(coef):
    """The default horizon trains an ensemble on while a row is undetermined: the total
    grows then, by exactly the seed-epochs added, and is still reached at the end."""
    config = {**RunConfig(**SMALL).to_dict(), "prune_epochs": [5, 30]}
    reports = _prune_reports(config)
    totals, done = [t for _, t, _ in reports], [d for d, _, _ in reports]
    assert totals[0] == 4 * 41 + 6 * 4 * 41 and totals == sorted(totals) and done == sorted(done)
    assert reports[-1][0] == totals[-1]
    grown = sorted(set(totals))
    assert all((b - a) % 4 == 0 for a, b in zip(grown, grown[1:]))  # whole epochs of whole ensembles


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "engine", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)


def test_dry_run_prints_the_forms_estimate_and_trains_nothing(coef, tmp_path):
    flags = ["--dataset", "digits", "--n-train", "512", "--seeds", "4", "--epochs", "40", "--lr", "1.0",
             "--device", "cpu"]
    out = _cli("run", *flags, "--dry-run", "--json")
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    assert {"seconds", "memory_bytes", "device"} <= set(got) and got["device"] == "cpu"
    want = estimate_phases(run_phases(RunConfig(**SMALL)))  # what the Run form shows
    assert got["seconds"] == pytest.approx(want["seconds"], abs=0.1) and got["memory_bytes"] == want["memory_bytes"]
    out = _cli("prune", *flags, "--dry-run", "--json")
    assert out.returncode == 0 and json.loads(out.stdout)["seconds"] == \
        pytest.approx(estimate_job("prune", RunConfig(**SMALL).to_dict())["seconds"], abs=0.1)
    text = _cli("sweep", *flags, "--n-grid", "4", "--dry-run")
    assert text.returncode == 0 and text.stdout.startswith("sweep: about ") and "retrain, 8 variants" in text.stdout
    bad = _cli("run", *flags, "--lr=-1", "--dry-run")
    assert bad.returncode == 2 and bad.stderr.strip().count("\n") == 0 and "lr" in bad.stderr
    assert not list(tmp_path.iterdir())


def test_a_precision_changes_only_the_gemms_share_of_an_epoch(coef):
    """bf16 is measured on this machine (a probe like the fp32 GEMM one); the model
    scales the GEMM term by that factor and nothing else."""
    from engine.planning import calibration as cal
    assert 0.1 <= coef["gemm_factor_bf16"] <= 2.0
    c = RunConfig(dataset="mnist", n_train=8192, seeds=20, epochs=300)
    fp32, bf16 = epoch_seconds(c, 20, coef), epoch_seconds(c.replace(precision="bf16"), 20, coef)
    work = cal.epoch_work(20, 8192, 784, c.width, 10000, 1.0, 2)
    gemm = coef["gemm_s"] * work["gemm"]
    assert fp32 - bf16 == pytest.approx(gemm * (1 - coef["gemm_factor_bf16"]), rel=1e-9)
