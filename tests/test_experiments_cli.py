"""`python -m engine prune|stability|scaling ...`: files written, names in result.json,
the --job path, and one-line errors for bad options."""
import json

import pytest

import engine.jobs.queue
from engine.cli import main
from engine.experiments import JOB_KINDS
from engine.experiments.context import LocalContext

SMALL = ["--dataset", "digits", "--n-train", "512", "--seeds", "3", "--epochs", "60", "--device", "cpu"]


def test_prune_writes_result_and_curves(tmp_path):
    assert main(["prune", *SMALL, "--lr", "0.5", "--prune-epochs", "5,50", "--horizon", "2",
                 "--out", str(tmp_path)]) == 0
    r = json.loads((tmp_path / "result.json").read_text())
    for name in ("stragglers", "random", "s_t5", "s_t50"):
        v = r["variants"][name]
        assert len(v["inversion_present"]) == len(v["final_test_error"]) == len(v["n_removed"]) == 3
    assert r["config"]["prune_epochs"] == [5, 50] and r["config"]["horizon"] == 2
    assert all(v["epochs"] in (60, 120) for v in r["variants"].values())  # never past 2 x --epochs
    header = (tmp_path / "curves.csv").read_text().splitlines()[0]
    assert header.startswith("variant,epoch,loss,train_error,test_error,r_plus,r_minus,distance")
    assert (tmp_path / "seed_curves.csv").exists()


def test_prune_without_any_inversion_says_so_and_exits_1(tmp_path, capsys):
    assert main(["prune", *SMALL, "--epochs", "10", "--horizon", "1", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: no seed of the base run shows an inversion (states: undetermined")
    assert "run longer" in err[-1] and not (tmp_path / "result.json").exists()


def test_scaling_and_stability_names(tmp_path):
    assert main(["scaling", *SMALL, "--n-trains", "128,256,512", "--n-boot", "5", "--out", str(tmp_path / "s")]) == 0
    r = json.loads((tmp_path / "s" / "result.json").read_text())
    assert {"points", "phi_inf", "phi_inf_err", "P0", "gamma"} <= set(r)
    assert {"n_train", "phi_mean", "phi_std"} <= set(r["points"][0])
    assert main(["stability", *SMALL, "--n-grid", "4", "--out", str(tmp_path / "z")]) == 0
    r = json.loads((tmp_path / "z" / "result.json").read_text())
    assert {"epsilon", "z"} <= set(r["best"]) and r["points"]
    assert (tmp_path / "z" / "overlap_matrix_best.csv").exists()


def test_job_submits_a_config_the_worker_can_run(monkeypatch, capsys):
    submitted = []

    def fake_submit(kind, config, **kw):
        engine.jobs.queue.normalise(kind, config)  # the queue's own check
        submitted.append((kind, config))
        return 7

    monkeypatch.setattr(engine.jobs.queue, "submit", fake_submit)
    assert main(["compare", *SMALL, "--vary", "labels=parity,random", "--job"]) == 0
    assert "job 7" in capsys.readouterr().out
    kind, config = submitted[0]
    assert kind == "compare" and set(config["variants"]) == {"labels=parity", "labels=random"}
    # what the worker does with it: a JSON round trip, then the job function
    r = JOB_KINDS[kind](json.loads(json.dumps(config)), LocalContext())
    assert set(r["variants"]) == {"labels=parity", "labels=random"}


@pytest.mark.parametrize("argv,expected", [
    (["scaling", *SMALL, "--n-trains", "128,256", "--out", "x"], "--n-trains"),
    (["compare", *SMALL, "--vary", "optimiser=gd,adam", "--out", "x"], "--optimiser"),
    (["sweep", *SMALL, "--lr", "-1", "--out", "x"], "--lr"),
])
def test_bad_options_fail_with_one_line(argv, expected, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and expected in err


def test_unknown_job_option_is_rejected():
    from engine.config import ConfigError
    with pytest.raises(ConfigError, match="epsilonz"):
        JOB_KINDS["sweep"]({"dataset": "digits", "epsilonz": [0.1]}, LocalContext())
