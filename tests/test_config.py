"""Bad input is stopped before any work, with one line naming the option, the
value and what is allowed; the CLI exits with status 2."""
import json
import subprocess
import sys

import pytest

from engine.config import ConfigError, RunConfig
from engine.environment import ROOT
from engine.data.dataset import prepare


BAD = [
    (dict(dataset="imagenet"), "dataset", "one of"),
    (dict(lr=-1.0), "lr", "> 0"),
    (dict(lr=float("nan")), "lr", "finite"),
    (dict(depth=1), "depth", ">= 2"),
    (dict(width=0), "width", ">= 1"),
    (dict(epochs=0), "epochs", ">= 1"),
    (dict(seeds=0), "seeds", ">= 1"),
    (dict(labels="0,1,2|3,4,5"), "labels", "partition"),
    (dict(labels="0,1,2,3,4|4,5,6,7,8,9"), "labels", "partition"),
    (dict(layer=2, depth=2), "layer", "depth-1"),
    (dict(momentum=1.0), "momentum", "[0, 1)"),
    (dict(activation="sigmoid"), "activation", "tanh"),
    (dict(precision="fp16"), "precision", "one of fp32, bf16, tf32"),
    (dict(precision="tf32", device="cpu"), "precision", "needs a CUDA GPU"),
]


@pytest.mark.parametrize("changes,option,allowed", BAD)
def test_bad_values_raise_a_message_naming_option_and_fix(changes, option, allowed):
    with pytest.raises(ConfigError) as e:
        RunConfig(**changes).validate()
    assert e.value.option == option
    assert f"--{option.replace('_', '-')}" in str(e.value) and allowed in str(e.value)


def test_training_set_larger_than_the_split_is_refused():
    with pytest.raises(ConfigError, match=r"digits has 1437 training points"):
        prepare(RunConfig(dataset="digits", n_train=2048))
    with pytest.raises(ConfigError, match=r"--block"):
        prepare(RunConfig(dataset="digits", n_train=512, block=2))


def test_config_hash_is_stable_and_ignores_the_device():
    a = RunConfig(seeds=3)
    assert a.config_hash() == RunConfig.from_dict(json.loads(json.dumps(a.to_dict()))).config_hash()
    assert a.config_hash() == a.replace(device="cpu").config_hash()
    assert a.config_hash() != a.replace(lr=0.1).config_hash()


def test_fp32_keeps_the_hashes_made_before_the_precision_option():
    """Job reuse and caches key on these hashes: the default precision must not change them."""
    import hashlib
    from engine.jobs.queue import normalise
    a = RunConfig(seeds=3, grand_epoch=-1)  # GraNd where EL2N is read, as before grand_epoch existed
    # a run job as the store hashed it before the options added later (precision, the score
    # epochs) existed: its science options and its data version (None for a built-in dataset)
    later = ("device", "precision", "score_epoch", "el2n_epoch", "grand_epoch", "label_noise", "label_noise_seed")
    before = {**{k: v for k, v in a.to_dict().items() if k not in later},
              "data_version": None}
    assert a.config_hash() == hashlib.sha256(json.dumps(before, sort_keys=True).encode()).hexdigest()[:16]
    assert a.config_hash() != a.replace(precision="bf16").config_hash()
    old_job = {k: v for k, v in a.to_dict().items() if k != "precision"}  # a stored config from before
    assert normalise("run", old_job)[1] == normalise("run", a.to_dict())[1]
    assert normalise("run", a.to_dict())[1] != normalise("run", a.replace(precision="bf16").to_dict())[1]


@pytest.mark.parametrize("args,needle", [
    (["--lr", "-1"], "--lr=-1.0 is not valid"),
    (["--dataset", "digits", "--n-train", "5000"], "digits has 1437 training points"),
    (["--labels", "0,1|2"], "--labels="),
    (["--precision", "tf32", "--device", "cpu"], "tf32 needs a CUDA GPU"),
    (["--precision", "bf17"], "--precision='bf17' is not valid"),
])
def test_cli_exits_2_with_one_clear_line(tmp_path, args, needle):
    proc = subprocess.run([sys.executable, "-m", "engine", "run", "--out", str(tmp_path / "o"), "--epochs", "2",
                           *args], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert needle in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "o" / "summary.json").exists()


# --- options that used to validate and then crash (issue 14, case 5) ------------------------
@pytest.mark.parametrize("changes,option,allowed", [
    (dict(seed_offset=99999999999999999999), "seed_offset", "4294967296"),
    (dict(seed_offset=2**32 - 2, seeds=3), "seed_offset", "4294967296"),
    (dict(seeds=2**33), "seeds", "4294967296"),
    (dict(labels="random", label_seed=-5), "label_seed", ">= 0"),
])
def test_seeds_out_of_every_generator_s_range_are_refused(changes, option, allowed):
    with pytest.raises(ConfigError) as e:
        RunConfig(**changes).validate()
    assert e.value.option == option and allowed in str(e.value)
    RunConfig(seed_offset=2**32 - 3, seeds=3).validate()  # the last seeds that fit


@pytest.mark.parametrize("args,needle", [
    (["--seed-offset", "99999999999999999999"], "--seed-offset=99999999999999999999 is not valid"),
    (["--labels", "random", "--label-seed", "-5"], "--label-seed=-5 is not valid"),
    (["--dataset", "user:nope"], "--dataset='user:nope' is not valid: no uploaded dataset 'nope'"),
])
def test_options_that_crashed_after_validation_stop_before_any_work(tmp_path, args, needle, capsys, monkeypatch):
    from engine.cli import main
    monkeypatch.setenv("STRAGGLERS_DATA", str(tmp_path / "data"))
    monkeypatch.setattr("engine.run.prepare", _no_work)
    assert main(["run", "--dataset", "digits", "--epochs", "2", "--out", str(tmp_path / "o"), *args]) == 2
    err = capsys.readouterr().err
    assert needle in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "o").exists()


def test_cuda_without_a_gpu_is_refused_before_any_work(tmp_path, capsys, monkeypatch):
    import torch
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    from engine.cli import main
    monkeypatch.setenv("STRAGGLERS_RUNS", str(tmp_path / "runs"))
    monkeypatch.setattr("engine.run.prepare", _no_work)
    assert main(["run", "--dataset", "digits", "--device", "cuda", "--out", str(tmp_path / "o")]) == 2
    assert "--device='cuda' is not valid: no CUDA device is visible" in capsys.readouterr().err
    assert main(["jobs", "submit", "--dataset", "digits", "--device", "cuda"]) == 2  # and at submit
    assert not (tmp_path / "runs").exists()  # no store was even opened


# --- values the training's float32 (and bf16) cannot hold (issue 22, case 5) ------------------
@pytest.mark.parametrize("changes,option", [
    (dict(lr=1e40), "lr"), (dict(weight_decay=1e40), "weight_decay"), (dict(init_scale=1e40), "init_scale"),
    (dict(lr=1e-50), "lr"), (dict(weight_decay=1e-50), "weight_decay"), (dict(init_scale=1e-50), "init_scale"),
    (dict(optimizer="momentum", momentum=1 - 1e-10), "momentum"),  # float32 rounds it to 1.0
])
def test_floats_outside_float32_and_bf16_are_refused(changes, option):
    with pytest.raises(ConfigError) as e:
        RunConfig(**changes).validate()
    assert e.value.option == option and "float32" in str(e.value), e.value
    assert len(str(e.value).splitlines()) == 1


def test_the_largest_and_smallest_floats_that_fit_still_validate():
    import torch
    big = float(torch.finfo(torch.bfloat16).max)
    tiny = float(torch.finfo(torch.float32).tiny)
    for name in ("lr", "weight_decay", "init_scale"):
        RunConfig(**{name: big}).validate()
        RunConfig(**{name: tiny}).validate()
        assert torch.tensor(big, dtype=torch.bfloat16).isfinite() and torch.tensor(tiny, dtype=torch.float32) > 0
    RunConfig(weight_decay=0.0).validate()
    RunConfig(optimizer="momentum", momentum=0.999999).validate()


@pytest.mark.parametrize("args,needle", [
    (["--lr", "1e40"], "--lr=1e+40 is not valid"),
    (["--weight-decay", "1e40"], "--weight-decay=1e+40 is not valid"),
    (["--init-scale", "1e40"], "--init-scale=1e+40 is not valid"),
    (["--optimizer", "momentum", "--momentum", "0.9999999999"], "--momentum=0.9999999999 is not valid"),
])
def test_overflowing_floats_stop_run_and_submit_before_any_work(tmp_path, args, needle, capsys, monkeypatch):
    from engine.cli import main
    monkeypatch.setenv("STRAGGLERS_RUNS", str(tmp_path / "runs"))
    monkeypatch.setattr("engine.run.prepare", _no_work)
    assert main(["run", "--dataset", "digits", "--epochs", "2", "--out", str(tmp_path / "o"), *args]) == 2
    err = capsys.readouterr().err
    assert needle in err and "float32" in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "o").exists()
    assert main(["jobs", "submit", "--dataset", "digits", "--epochs", "2", *args]) == 2
    err = capsys.readouterr().err
    assert needle in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "runs").exists()  # nothing queued: no store was even opened


def _no_work(*args, **kwargs):
    raise AssertionError("the run started (its data was prepared) although its options are bad")


def test_labels_are_normalised_so_the_same_task_is_the_same_job():
    from engine.config import canonical_labels
    assert canonical_labels("0,2,4,6,8|1,3,5,7,9") == "parity"
    assert canonical_labels(" 8,6, 4,2,0 | 9,7,5,3,1") == "parity"
    assert canonical_labels("4,3,2,1,0|9,8,7,6,5") == "0,1,2,3,4|5,6,7,8,9"
    assert canonical_labels("1,3,5,7,9|0,2,4,6,8") == "1,3,5,7,9|0,2,4,6,8"  # flipped labels: another task
    a = RunConfig(labels="0,2,4,6,8|1,3,5,7,9").normalised()
    assert a == RunConfig() and a.config_hash() == RunConfig().config_hash()
    # options that do not apply are the science's defaults: the same run, the same job
    assert RunConfig(label_seed=7, momentum=0.5, batch_size=8, kernel_size=7).normalised() == RunConfig()
    assert RunConfig(labels="random", label_seed=7).normalised().label_seed == 7
    assert RunConfig(optimizer="momentum", momentum=0.5).normalised().momentum == 0.5
