"""Requests the machine cannot serve are refused before any work (issue 14, cases 1
and 3): one line naming the estimate and the limit (or the folder and the fix), exit
status 2, nothing trained, nothing queued, nothing allocated beyond the estimate."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engine.config import ConfigError, RunConfig
from hostile import read_only, small_disk

ROOT = Path(__file__).resolve().parent.parent
DIGITS = ["--dataset", "digits", "--n-train", "1000", "--device", "cpu"]


@pytest.fixture
def no_training(monkeypatch):
    """Any training or data preparation fails the test: refusals must come first."""
    def started(*a, **k):
        raise AssertionError("the run started although it must be refused")
    monkeypatch.setattr("engine.run.prepare", started)
    monkeypatch.setattr("engine.run.train_chunked", started)


def refusal(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: ") and "Traceback" not in err, err
    return err


def test_a_run_too_big_for_this_machine_is_refused_before_any_work(tmp_path, capsys, no_training, monkeypatch):
    """The filed case: curves and masks for 10^9 epochs (the worker that grew to 24 GB)."""
    from engine.cli import main
    monkeypatch.delenv("STRAGGLERS_MEMORY_MB", raising=False)
    assert main(["run", *DIGITS, "--seeds", "2", "--epochs", "1000000000", "--out", str(tmp_path / "o")]) == 2
    err = refusal(capsys)
    assert "--epochs=1000000000 is not valid: this run needs about" in err and "this machine can give" in err
    assert "(memory available now): lower --epochs or --seeds" in err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("args,option,fix", [
    (["--seeds", "100000"], "--seeds=100000", "lower --epochs or --seeds"),
    (["--seeds", "2", "--width", "1000000"], "--width=1000000", "lower --width"),
])
def test_runs_beyond_the_memory_limit_are_refused_before_any_work(tmp_path, capsys, no_training, args, option,
                                                                   fix, monkeypatch):
    """The other filed sizes: 10 GB of curves and masks, 9 GB for one seed's hidden layer.
    They fit a 24 GB machine, so the limit is set to 2 GB here."""
    from engine.cli import main
    monkeypatch.setenv("STRAGGLERS_MEMORY_MB", "2048")
    assert main(["run", *DIGITS, *args, "--out", str(tmp_path / "o")]) == 2
    err = refusal(capsys)
    assert option in err and "this run needs about" in err and "GiB" in err, err
    assert "this machine can give 2.0 GiB (STRAGGLERS_MEMORY_MB=2048)" in err and fix in err
    assert not (tmp_path / "o").exists()


def test_a_job_too_big_for_this_machine_is_refused_at_submit_and_never_queued(tmp_path, capsys, monkeypatch):
    """The filed case: this job was queued, and its worker grew to 24 GB until the OOM killer came."""
    from engine.cli import main
    from engine.jobs.store import Store
    monkeypatch.setenv("STRAGGLERS_RUNS", str(tmp_path))
    monkeypatch.delenv("STRAGGLERS_MEMORY_MB", raising=False)
    assert main(["jobs", "submit", *DIGITS, "--seeds", "2", "--epochs", "1000000000"]) == 2
    err = refusal(capsys)
    assert "--epochs=1000000000 is not valid: this run needs about" in err and "GiB" in err
    assert not (tmp_path / "store.sqlite").exists() or Store(tmp_path / "store.sqlite").list_jobs() == []


def test_the_limit_is_stragglers_memory_mb_when_set(monkeypatch):
    from engine.planning.preflight import TooLarge, check_run
    config = RunConfig(dataset="digits", n_train=1000, seeds=20, epochs=300, device="cpu")
    monkeypatch.setenv("STRAGGLERS_MEMORY_MB", "2048")
    est = check_run(config)
    assert 0 < est.host < 2048 * 2**20
    monkeypatch.setenv("STRAGGLERS_MEMORY_MB", str(est.host / 2**20 * 0.99))
    with pytest.raises(TooLarge, match=r"and this machine can give .* \(STRAGGLERS_MEMORY_MB=") as e:
        check_run(config)
    assert isinstance(e.value, ConfigError)  # every caller shows it as one line, exit 2
    for job_parts in (check_run(config.replace(seeds=1), job=False).parts,):
        assert any(k.startswith("curves, masks and scores") for k in job_parts)
        assert any(k.startswith("the process") for k in job_parts)  # the interpreter that trains counts too


def test_an_experiment_whose_rows_do_not_fit_is_refused_before_allocating(digits_config, digits_data, monkeypatch):
    from engine.experiments.ensemble import run_rows
    from engine.planning.preflight import TooLarge

    def started(*a, **k):
        raise AssertionError("trained")
    monkeypatch.setattr("engine.experiments.ensemble.train", started)
    monkeypatch.setenv("STRAGGLERS_MEMORY_MB", "1")
    with pytest.raises(TooLarge, match=r"300 rows at once"):
        run_rows(digits_config, digits_data, list(range(300)))


def test_result_arrays_grow_with_the_epochs_recorded_not_the_epochs_asked_for(digits_data):
    from engine.analysis.results import RunResult
    from engine.training.loop import train
    config = RunConfig(dataset="digits", n_train=512, seeds=2, epochs=10**9, device="cpu")
    result = RunResult.empty(config, config.seed_list, 512)
    assert result.masks.nbytes + sum(c.nbytes for c in result.curves.values()) < 2**20
    records = train(config.replace(epochs=200), digits_data)
    result.collect(r for r in records)
    assert result.epochs_done == 200 and result.masks.shape[1] == 256  # 64 -> 128 -> 256, not 10^9 + 1
    full = RunResult.empty(config.replace(epochs=200), config.seed_list, 512)
    full.collect(train(config.replace(epochs=200), digits_data))
    assert full.masks.shape[1] == 201  # a complete run ends with exactly T + 1 epochs
    np.testing.assert_array_equal(full.curves["r_plus"], result.curves["r_plus"][:, :201])


MEASURE = """
import json, sys
import sklearn.datasets, torch
from engine.config import RunConfig
from engine.training.memory import chunk_seeds, default_budget
from engine.planning.preflight import check_run, dataset_shape, estimate
from engine.analysis.report import summary, straggler_table
from engine.run import run
torch.set_num_threads(1)
config = RunConfig(**json.loads(sys.argv[1]))
check_run(config)
s = dataset_shape(config)  # the seeds the run trains at once: its first chunk, as engine.training.memory.plan makes it
at_once = len(chunk_seeds(config.seed_list, config.n_train, s.pixels, config.width, config.depth, s.n_test,
                          default_budget("cpu"))[0])
est = estimate(config, s, "cpu", at_once=at_once)
run(RunConfig(dataset="digits", n_train=64, seeds=1, epochs=2, device="cpu"))  # the code a run loads (torch.optim)

def status(field):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith(field + ":"))
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # the peak resident set (VmHWM) starts again from the current one
base = status("VmRSS")
result, data = run(config)
summary(result, data), straggler_table(result, data)
# what the run adds to a process that has already trained: the estimate without the interpreter's own part
print(json.dumps({"grew": status("VmHWM") - base, "estimate": est.host - est.parts["the process (Python, torch)"],
                  "parts": est.parts, "at_once": at_once}))
"""


@pytest.mark.parametrize("config", [
    dict(n_train=1437, seeds=6, width=3000, epochs=3),     # the training working set dominates
    dict(n_train=64, seeds=400, width=8, epochs=1000),     # the curves and masks of every epoch dominate
])
def test_the_estimate_bounds_what_a_run_really_takes(config):
    """engine.training.memory is an upper bound: the peak resident memory a run adds to its
    process stays below the estimate for the chunk of seeds it trains at once (the
    refusal compares the estimate for one seed at a time with the limit)."""
    if not Path("/proc/self/clear_refs").exists():
        pytest.skip("needs Linux's /proc/self/clear_refs to measure a peak")
    config = {"dataset": "digits", "device": "cpu", **config}
    proc = subprocess.run([sys.executable, "-c", MEASURE, json.dumps(config)], cwd=ROOT, capture_output=True,
                          text=True, timeout=600, env={**__import__("os").environ, "MALLOC_MMAP_THRESHOLD_": "65536"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    m = json.loads(proc.stdout.strip().splitlines()[-1])
    assert 0 < m["grew"] <= m["estimate"], m
    assert m["grew"] > m["estimate"] / 8, m  # and not so loose that it refuses what fits


def test_out_that_is_a_file_a_read_only_folder_or_other_files_is_refused_before_training(tmp_path, capsys,
                                                                                          no_training):
    from engine.cli import main
    small = ["run", "--dataset", "digits", "--n-train", "50", "--seeds", "2", "--epochs", "3"]
    (tmp_path / "afile").write_text("x")
    assert main([*small, "--out", str(tmp_path / "afile")]) == 2
    assert "it is a file" in refusal(capsys)
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "thesis.tex").write_text("years of work")
    assert main([*small, "--out", str(tmp_path / "home")]) == 2
    assert "a folder with other files in it (thesis.tex" in refusal(capsys)
    locked = tmp_path / "locked"
    locked.mkdir()
    with read_only(locked):
        assert main([*small, "--out", str(locked / "run")]) == 2
        assert f"{locked} cannot be written" in refusal(capsys)
    assert (tmp_path / "home" / "thesis.tex").read_text() == "years of work"


def test_out_on_a_full_disk_is_refused_before_training(tmp_path, capsys, no_training):
    from engine.cli import main
    with small_disk(tmp_path / "disk", 256):
        assert main(["run", *DIGITS, "--seeds", "20", "--epochs", "300", "--out", str(tmp_path / "disk" / "o")]) == 2
        err = refusal(capsys)
        assert "the outputs need about" in err and "free" in err
        assert list((tmp_path / "disk").iterdir()) == []


def test_a_job_whose_epochs_do_not_fit_the_store_s_disk_is_refused(tmp_path, monkeypatch):
    from engine.jobs import queue
    from engine.jobs.store import Store
    with small_disk(tmp_path / "runs", 24 * 1024):
        monkeypatch.setenv("STRAGGLERS_RUNS", str(tmp_path / "runs"))
        store = Store()
        config = RunConfig(dataset="digits", n_train=1024, seeds=100, epochs=1000, device="cpu")
        with pytest.raises(ConfigError, match=r"the job's epochs in the store need about .* free"):
            queue.submit("run", config.to_dict(), store=store)
        assert store.list_jobs() == []
        store.close()


def test_a_block_with_one_class_is_refused_before_training(tmp_path, capsys, monkeypatch):
    from engine.cli import main
    monkeypatch.setenv("STRAGGLERS_RUNS", str(tmp_path / "runs"))

    def trained(*a, **k):
        raise AssertionError("trained a block of one class")
    monkeypatch.setattr("engine.run.train_chunked", trained)
    one_class = ["--dataset", "digits", "--n-train", "5", "--labels", "9|0,1,2,3,4,5,6,7,8", "--seeds", "2"]
    assert main(["run", *one_class, "--out", str(tmp_path / "o")]) == 2
    err = refusal(capsys)
    assert "--labels='9|0,1,2,3,4,5,6,7,8' is not valid: the training block (points 0..4 of digits) holds only " \
           "negative (y = -1) points" in err
    assert main(["jobs", "submit", *one_class]) == 2  # and at submit, not in the worker
    assert "holds only negative" in refusal(capsys)
    assert main(["jobs", "submit", "--dataset", "digits", "--n-train", "5000"]) == 2
    assert "digits has 1437 training points" in refusal(capsys)
    assert not (tmp_path / "runs" / "store.sqlite").exists()
