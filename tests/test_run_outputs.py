"""`python -m engine run` end to end on digits: the files it writes and what they say."""
import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from engine.environment import ROOT


def test_cli_run_writes_consistent_outputs(tmp_path):
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "engine", "run", "--dataset", "digits", "--n-train", "1024",
                           "--epochs", "250", "--seeds", "4", "--device", "cpu", "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "phi =" in proc.stdout
    s = json.loads((out / "summary.json").read_text())
    assert s["seeds"] == [0, 1, 2, 3] and s["n_train"] == 1024
    for m in ("r_plus", "r_minus", "distance"):
        assert len(s["inversion"]["t_star"][m]) == 4
    inv = s["inversion"]
    assert inv["state"] == ["present"] * 4 and inv["states"]["present"] == 4 == inv["phi"]["seeds"]
    assert "inversion: present 4" in proc.stdout
    assert len(inv["phi"]["per_seed"]) == 4
    assert np.isclose(inv["phi"]["mean"], np.mean(inv["phi"]["per_seed"]))

    rows = list(csv.DictReader((out / "metrics.csv").open()))
    assert len(rows) == 4 * 251
    # phi is the mean training error at the t* of the curves that turned, per seed
    for seed in range(4):
        errs = {int(r["epoch"]): float(r["train_error"]) for r in rows if r["seed"] == str(seed)}
        ts = [inv["t_star"][m][seed] for m in ("r_plus", "r_minus", "distance")]
        assert all((t is None) == (not inv["turns"][m][seed]) for t, m in zip(ts, inv["turns"]))
        assert np.isclose(np.mean([errs[t] for t in ts if t is not None]), inv["phi"]["per_seed"][seed])
    seed0 = {int(r["epoch"]): float(r["train_error"]) for r in rows if r["seed"] == "0"}

    table = list(csv.DictReader((out / "stragglers.csv").open()))
    assert list(table[0]) == ["index", "class", "label", "consensus", "learned_epoch"]
    # each seed's straggler count is the number of its misclassified points at t*
    seed0_t = s["stragglers"]["epoch"][0]
    assert abs(seed0[seed0_t] * 1024 - s["stragglers"]["count"][0]) < 0.5
    consensus = np.load(out / "stragglers.npy")
    assert len(consensus) == s["stragglers"]["consensus_count"]
    assert set(consensus) == {int(r["index"]) for r in table if float(r["consensus"]) >= 0.5}
    for r in table:  # the label column is the parity of the class
        assert int(r["label"]) == (int(r["class"]) % 2 == 0)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["config"]["dataset"] == "digits" and manifest["seeds"] == [0, 1, 2, 3]
    assert manifest["versions"]["torch"]


def test_diverging_run_stops_names_epoch_and_keeps_what_it_has(tmp_path):
    out = tmp_path / "div"
    proc = subprocess.run([sys.executable, "-m", "engine", "run", "--dataset", "digits", "--n-train", "256",
                           "--epochs", "50", "--seeds", "2", "--activation", "linear", "--lr", "1e6",
                           "--device", "cpu", "--out", str(out)], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 1
    assert "diverged at epoch" in proc.stderr and "lower --lr" in proc.stderr
    s = json.loads((out / "summary.json").read_text())
    assert s["diverged"] and s["epochs_done"] < 50
