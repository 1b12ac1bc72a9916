"""Issue 10's cases as a new user meets them, through `python -m engine run`: a run
stopped before the turn is *undetermined* (never "absent", never a phi), a blow-up
is *diverged* (exit 1, no inversion claimed), whatever the optimiser."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engine.config import RunConfig
from engine.run import run

ROOT = Path(__file__).resolve().parent.parent


def cli(tmp_path, *flags):
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "engine", "run", *flags, "--device", "cpu", "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    summary = json.loads((out / "summary.json").read_text()) if (out / "summary.json").exists() else None
    return proc, summary


def test_mnist_stopped_at_20_epochs_is_undetermined_and_says_how_long_to_run(tmp_path):
    """The radii are still falling at epoch 20 (t* is 30-47 at this P): the old
    criterion said "present in 0/4" and phi = 0.089 from t* = T."""
    proc, s = cli(tmp_path, "--dataset", "mnist", "--n-train", "2048", "--seeds", "4", "--epochs", "20")
    assert proc.returncode == 0, proc.stderr
    inv = s["inversion"]
    assert inv["state"] == ["undetermined"] * 4
    assert inv["states"] == {"present": 0, "absent": 0, "undetermined": 4, "diverged": 0}
    assert inv["phi"]["per_seed"] == [None] * 4 and inv["phi"]["mean"] is None and inv["phi"]["seeds"] == 0
    assert all(t is None for m in inv["t_star"] for t in inv["t_star"][m])
    assert inv["extremum"]["r_plus"] == [20] * 4  # Eq. 10 as written: the last epoch, not a turn
    assert s["stragglers"]["count"] == [None] * 4 and s["stragglers"]["consensus_count"] == 0
    # how long would tell: at least twice the run, and (MNIST turns at 30-47) more than the turn itself
    assert 60 <= inv["more_epochs"] <= 200
    assert f"undetermined 4 — run longer (about --epochs {inv['more_epochs']}" in proc.stdout
    assert "present" not in proc.stdout and "absent" not in proc.stdout
    assert "phi, t* and stragglers: undetermined" in proc.stdout


def test_a_blow_up_is_diverged_exits_1_and_claims_no_inversion(tmp_path):
    """lr 1e6: the loss goes 0.71 -> 4e6 without being NaN; before, the run exited 0
    with "inversion present" at t* = 1."""
    proc, s = cli(tmp_path, "--dataset", "digits", "--n-train", "1000", "--seeds", "4", "--epochs", "50",
                  "--lr", "1e6")
    assert proc.returncode == 1
    assert "diverged at epoch 1 (seeds 0 at 1, 1 at 1, 2 at 1, 3 at 1)" in proc.stderr and "lower --lr" in proc.stderr
    inv = s["inversion"]
    assert inv["state"] == ["diverged"] * 4 and inv["diverged_epoch"] == [1] * 4
    assert inv["phi"]["per_seed"] == [None] * 4 and not any(inv["present"])
    assert s["diverged"] == {str(k): 1 for k in range(4)}
    assert "inversion: diverged 4" in proc.stdout and "present" not in proc.stdout
    assert s["epochs_done"] < 50  # every seed diverged: the loop stopped
    json.loads((tmp_path / "run" / "summary.json").read_text(), parse_constant=lambda c: pytest.fail(c))  # strict


@pytest.mark.parametrize("optimizer, lr", [("gd", 50.0), ("adam", 10.0)])
def test_blow_ups_with_any_optimiser_are_diverged_not_inversions(optimizer, lr):
    """Siblings of the case above: the loss never becomes NaN, it only explodes (to
    ~80x or ~240x its initial value) and half recovers; the old criterion called
    "present" 4/4 at t* = 1-4."""
    config = RunConfig(dataset="digits", n_train=1000, seeds=4, epochs=40, optimizer=optimizer, lr=lr, device="cpu")
    result, _ = run(config)
    invs = result.inversions()
    assert [i.state for i in invs] == ["diverged"] * 4
    assert all(i.phi is None and i.straggler_epoch is None for i in invs)
    loss = result.curves["loss"]
    for r, inv in enumerate(invs):
        e = inv.diverged_epoch
        assert e == result.diverged[r] and 1 <= e <= 4
        assert loss[r, e] > 10 * loss[r, 0] or not np.isfinite(loss[r, e])   # the rule, at that epoch
        assert (loss[r, 1:e] <= 10 * loss[r, 0]).all()                          # and not before
        assert np.isnan(loss[r, e + 1:]).all()                                  # nothing recorded after it
