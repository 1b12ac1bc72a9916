"""Where users get the difficulty scores: scores.csv/.parquet/.json in a CLI run's
--out, the same table from the Python API, the R x P aggregates stored with a job
and its export; bad or short score epochs on the command line."""
import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import env_restored, seed_store

from engine.config import RunConfig
from engine.environment import torch_threads
from engine.run import run
from engine.analysis.score_table import COLUMNS, frame
from engine.training.scores import SCORES

ROOT = Path(__file__).resolve().parent.parent
CLI = dict(dataset="digits", n_train=512, epochs=40, seeds=4, lr=1.0, device="cpu")


def cli(*args, **options):
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in options.items()]
    return subprocess.run([sys.executable, "-m", "engine", *args, *flags], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("scores") / "run"
    proc = cli("run", "--out", str(out), **CLI)
    assert proc.returncode == 0, proc.stderr
    return out, proc


def read_csv(path) -> pd.DataFrame:
    return pd.read_csv(path, keep_default_na=True)


def test_cli_run_writes_the_scores_table_parquet_and_sidecar(cli_run):
    out, proc = cli_run
    assert "difficulty scores (scores.csv): AUROC for the" in proc.stdout
    table = read_csv(out / "scores.csv")
    assert list(table.columns) == list(COLUMNS) and len(table) == 512
    assert table["index"].tolist() == list(range(512))  # block 0 of the training split
    parquet = pd.read_parquet(out / "scores.parquet")
    assert list(parquet.columns) == list(COLUMNS)
    for c in COLUMNS:  # the CSV carries 7 significant digits of the same numbers
        np.testing.assert_allclose(table[c], parquet[c], rtol=1e-6, atol=1e-12, err_msg=c)
    # straggler_frequency is the consensus of stragglers.csv (points in no seed's S(t*): 0)
    strag = {int(r["index"]): r for r in csv.DictReader((out / "stragglers.csv").open())}
    assert len(strag) > 5
    for row in parquet.itertuples():
        want = float(strag[row.index]["consensus"]) if row.index in strag else 0.0
        assert row.straggler_frequency == pytest.approx(want, abs=1e-6)
        if row.index in strag:
            assert int(strag[row.index]["class"]) == getattr(row, "_2") and int(strag[row.index]["label"]) == row.label
    meta = json.loads((out / "scores.json").read_text())
    config = RunConfig(**CLI)
    assert meta["config_hash"] == config.config_hash() and meta["seeds"] == [0, 1, 2, 3]
    assert set(meta["formulas"]) == set(COLUMNS) - {"index", "class", "label", "label_flipped"}
    assert (meta["el2n_epoch"], meta["grand_epoch"]) == (10, 0)  # GraNd at initialisation, EL2N a few epochs in
    assert meta["epoch_options"] == {"score_epoch": -1, "el2n_epoch": -1, "grand_epoch": 0}
    assert meta["notes"] == [] and meta["versions"]["torch"]
    assert [r["score"] for r in meta["comparison"]["scores"]] == list(SCORES)
    assert meta["comparison"]["n_stragglers"] == int((parquet["straggler_frequency"] >= 0.5).sum())


def test_the_python_api_returns_the_same_table(cli_run):
    out, _ = cli_run
    with torch_threads(1):
        result, data = run(RunConfig(**CLI))
    df = frame(result, data)
    assert isinstance(df, pd.DataFrame) and list(df.columns) == list(COLUMNS)
    parquet = pd.read_parquet(out / "scores.parquet")
    for c in COLUMNS:
        np.testing.assert_allclose(df[c], parquet[c], rtol=1e-5, atol=1e-6, err_msg=c)
    # the means over seeds of the per-seed values
    np.testing.assert_allclose(df["aum"], result.scores.values["aum"].astype(float).mean(0), rtol=1e-12)


def test_a_score_epoch_beyond_the_run_is_refused_before_any_work(tmp_path):
    proc = cli("run", "--out", str(tmp_path / "x"), **{**CLI, "epochs": 20, "score_epoch": 25})
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: --score-epoch=25 is not valid: an epoch of the run, 0 ... epochs = 20 (or -1: epoch 10, or the "
        "last epoch of a shorter run)"]
    assert not (tmp_path / "x").exists()


def test_el2n_and_grand_epochs_on_the_command_line(tmp_path):
    proc = cli("run", "--out", str(tmp_path / "e"), **{**CLI, "epochs": 6, "seeds": 2, "n_train": 128,
                                                      "el2n_epoch": 4, "grand_epoch": 2})
    assert proc.returncode == 0, proc.stderr
    meta = json.loads((tmp_path / "e" / "scores.json").read_text())
    assert (meta["el2n_epoch"], meta["grand_epoch"]) == (4, 2)
    proc = cli("run", "--out", str(tmp_path / "both"), **{**CLI, "epochs": 6, "score_epoch": 3, "grand_epoch": 2})
    assert proc.returncode == 2 and "sets the EL2N and the GraNd epoch both" in proc.stderr
    assert "--el2n-epoch" in cli("run", "--help").stdout and "--grand-epoch" in cli("run", "--help").stdout


def test_a_run_too_short_for_the_default_epoch_still_writes_the_scores_and_says_so(tmp_path):
    proc = cli("run", "--out", str(tmp_path / "short"), **{**CLI, "epochs": 3, "seeds": 2, "n_train": 128})
    assert proc.returncode == 0, proc.stderr
    assert "note: the run has 3 epochs, fewer than the default EL2N epoch 10: it is read at its last " \
           "epoch, 3" in proc.stderr
    meta = json.loads((tmp_path / "short" / "scores.json").read_text())
    assert (meta["el2n_epoch"], meta["grand_epoch"]) == (3, 0) and len(meta["notes"]) == 2
    table = read_csv(tmp_path / "short" / "scores.csv")
    assert len(table) == 128 and table["el2n"].notna().all() and table["presentations_to_learn"].max() <= 4
    assert (table["first_correct_epoch"] <= table["presentations_to_learn"]).all()


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    with env_restored():
        store, job_id = seed_store(tmp_path_factory.mktemp("score-job"))
    return store, job_id


def test_a_job_stores_the_aggregates_and_exports_the_cli_files(job, tmp_path, monkeypatch):
    from engine.cli import main
    from engine.jobs import views
    store, job_id = job
    config = store.get_job(job_id)["config"]
    R, P = config["seeds"], config["n_train"]
    array = store.get_artifact(job_id, "scores")
    assert array.shape == (len(SCORES), R, P) and array.dtype == np.float32  # never per-epoch arrays
    meta = store.get_artifact(job_id, "scores_meta")
    assert meta["scores"] == list(SCORES) and meta["epochs"] == [config["epochs"]] * R
    df = views.score_frame(store, job_id)
    np.testing.assert_array_equal(df["forgetting_events"], array[0].astype(float).mean(0))
    monkeypatch.setenv("STRAGGLERS_RUNS", str(store.path.parent))
    assert main(["jobs", "export", str(job_id), "--out", str(tmp_path / "export")]) == 0
    exported = pd.read_parquet(tmp_path / "export" / "scores.parquet")
    pd.testing.assert_frame_equal(exported, df)
    meta_file = json.loads((tmp_path / "export" / "scores.json").read_text())
    assert meta_file["config_hash"] == RunConfig.from_dict(config).config_hash()
    assert meta_file["seeds"] == list(range(R))


def test_exporting_a_job_without_scores_says_so(job, tmp_path, monkeypatch, capsys):
    from engine.cli import main
    store, job_id = job
    saved = {n: store.get_artifact(job_id, n) for n in ("scores", "scores_meta")}
    with store.write() as c:  # as a job that ran before scores were recorded
        c.execute("DELETE FROM artifacts WHERE job_id=? AND name LIKE 'scores%'", (job_id,))
    try:
        monkeypatch.setenv("STRAGGLERS_RUNS", str(store.path.parent))
        assert main(["jobs", "export", str(job_id), "--out", str(tmp_path / "old")]) == 0
        assert "has no difficulty scores" in capsys.readouterr().err
        assert (tmp_path / "old" / "stragglers.csv").exists() and not (tmp_path / "old" / "scores.csv").exists()
    finally:
        for name, value in saved.items():
            store.put_artifact(job_id, name, value)
