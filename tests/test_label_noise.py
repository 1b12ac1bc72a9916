"""Label noise (issue 23, part 1): --label-noise F flips a seeded fraction F of the
training labels after the parity or split mapping, the test set stays clean, and the
summary, the manifest and scores.csv say which and how many."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine.config import ConfigError, RunConfig
from engine.data.dataset import prepare

ROOT = Path(__file__).resolve().parent.parent
BASE = dict(dataset="digits", n_train=400, seeds=2, epochs=12, device="cpu", lr=1.0)


def test_a_seeded_fraction_of_the_training_labels_is_flipped_and_the_test_set_stays_clean():
    clean = prepare(RunConfig(**BASE))
    assert not clean.label_flipped.any()
    for labels in ("parity", "0,1,2,3,4|5,6,7,8,9"):
        base = prepare(RunConfig(**BASE, labels=labels))
        noisy = prepare(RunConfig(**BASE, labels=labels, label_noise=0.2, label_noise_seed=3))
        flipped = noisy.label_flipped
        assert flipped.sum() == round(0.2 * 400)
        np.testing.assert_array_equal(noisy.y_train[flipped], 1 - base.y_train[flipped])  # after the mapping
        np.testing.assert_array_equal(noisy.y_train[~flipped], base.y_train[~flipped])
        np.testing.assert_array_equal(noisy.y_test, base.y_test)
        np.testing.assert_array_equal(noisy.classes_train, base.classes_train)
    again = prepare(RunConfig(**BASE, label_noise=0.2, label_noise_seed=3)).label_flipped
    other = prepare(RunConfig(**BASE, label_noise=0.2, label_noise_seed=4)).label_flipped
    np.testing.assert_array_equal(again, prepare(RunConfig(**BASE, label_noise=0.2, label_noise_seed=3)).label_flipped)
    assert (again != other).any()


def test_bad_fractions_are_refused_and_no_noise_keeps_the_hash():
    for bad in (-0.1, 1.0, float("nan")):
        with pytest.raises(ConfigError, match="label-noise"):
            RunConfig(label_noise=bad).validate()
    with pytest.raises(ConfigError, match="label-noise-seed"):
        RunConfig(label_noise_seed=-1).validate()
    c = RunConfig()
    old = {k: v for k, v in c.to_dict().items() if k not in ("label_noise", "label_noise_seed")}
    from engine.config import science_hash
    assert c.config_hash() == science_hash(old)  # jobs from before the option are still reused
    assert c.replace(label_noise=0.1).config_hash() != c.config_hash()
    assert c.replace(label_noise=0.1, label_noise_seed=1).config_hash() != c.replace(label_noise=0.1).config_hash()


def test_a_noisy_run_says_how_many_were_flipped_and_which(tmp_path):
    out = tmp_path / "noisy"
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in {**BASE, "label_noise": 0.1, "label_noise_seed": 2}.items()]
    proc = subprocess.run([sys.executable, "-m", "engine", "run", *flags, "--out", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr
    data = prepare(RunConfig(**BASE, label_noise=0.1, label_noise_seed=2))
    summary = json.loads((out / "summary.json").read_text())
    manifest = json.loads((out / "manifest.json").read_text())
    want = {"fraction": 0.1, "seed": 2, "flipped": 40}
    detection = summary["label_noise"].pop("detection")
    assert summary["label_noise"] == want and manifest["label_noise"] == want
    assert "label noise: 40 of 400 training labels flipped (label-noise seed 2)" in proc.stdout
    # which score finds them: in summary.json, scores.json and the CLI's last line
    assert detection["n_flipped"] == detection["k"] == 40
    assert {r["score"] for r in detection["scores"]} >= {"straggler_frequency", "el2n", "aum", "forgetting_events"}
    assert json.loads((out / "scores.json").read_text())["label_noise"] == detection
    assert "finding the 40 flipped labels, AUROC/precision at k=40" in proc.stdout
    table = pd.read_csv(out / "scores.csv")
    np.testing.assert_array_equal(table["label_flipped"].to_numpy(dtype=bool), data.label_flipped)
    np.testing.assert_array_equal(table["label"], data.y_train)  # the labels it trained on


def test_the_detectors_are_judged_on_the_flipped_points():
    from engine.analysis.noise_detection import best, detect
    rng = np.random.default_rng(0)
    flipped = np.zeros(400, bool)
    flipped[rng.choice(400, 40, replace=False)] = True
    table = {"label_flipped": flipped.astype(int),
             "straggler_frequency": np.where(flipped, 1.0, 0.0),        # finds every one
             "aum": np.where(flipped, -1.0, 1.0) + 0.01 * rng.random(400),  # smaller AUM = harder: finds them too
             "el2n": rng.random(400)}                                   # unrelated
    table["el2n"][:10] = np.nan                                         # undetermined points are left out
    d = detect(table, scores=("straggler_frequency", "aum", "el2n"))
    rows = {r["score"]: r for r in d["scores"]}
    assert rows["straggler_frequency"]["auroc"] == 1.0 and rows["straggler_frequency"]["precision_at_k"] == 1.0
    assert rows["aum"]["auroc"] == 1.0                                  # oriented by HARDER
    assert rows["el2n"]["null_low"] < rows["el2n"]["auroc"] < rows["el2n"]["null_high"]
    assert rows["el2n"]["points"] == 390 and d["chance_precision"] == pytest.approx(0.1)
    assert best(d)["score"] in ("straggler_frequency", "aum")
    assert detect({**table, "label_flipped": np.zeros(400, int)}) is None  # no noise, nothing to find
