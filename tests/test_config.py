"""Bad input is stopped before any work, with one line naming the option, the
value and what is allowed; the CLI exits with status 2."""
import json
import subprocess
import sys

import pytest

from engine.config import ConfigError, RunConfig
from engine.data import prepare

ROOT = __import__("pathlib").Path(__file__).resolve().parent.parent

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
    a = RunConfig(seeds=3)
    before = {k: v for k, v in a.to_dict().items() if k not in ("device", "precision")}
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
