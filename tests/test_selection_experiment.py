"""`select` (issue 23, part 2): scores from one group of seeds, retrains on others
(no leakage); the random control is a plain run on a random subset; at f = 1 every
selector is the full run; dropping the hardest drops the hardest."""
import json

import numpy as np
import pytest

from engine.cli import main
from engine.config import ConfigError, RunConfig
from engine.data.dataset import prepare
from engine.experiments.context import LocalContext
from engine.experiments.selection import dropped, hardness_order, select
from engine.run import run

BASE = dict(dataset="digits", n_train=512, seeds=2, epochs=40, lr=1.0, device="cpu")


@pytest.fixture(scope="module")
def selected():
    ctx = LocalContext()
    result = select({**BASE, "fractions": [0.8, 1.0], "selectors": ["el2n", "aum"], "retrain_seeds": 2,
                     "retrain_epochs": BASE["epochs"]}, ctx)
    return result, ctx.artifacts


def test_scores_and_retrains_use_other_seeds(selected):
    result, _ = selected
    assert result["scoring_seeds"] == [0, 1] and result["retrain_seeds"] == [2, 3]
    rows = result["curves"]
    assert {(r["selector"], r["direction"]) for r in rows if r["kept_fraction"] == 0.8} == {
        ("el2n", "drop-hard"), ("el2n", "drop-easy"), ("aum", "drop-hard"), ("aum", "drop-easy"), ("random", "random")}
    assert all(r["n_kept"] == round(0.8 * 512) for r in rows if r["kept_fraction"] == 0.8)
    # one training budget for every test error: no ensemble trained on past --epochs by default
    # (a row without an inversion, e.g. the stragglers dropped, would have lengthened its whole fraction)
    assert {r["epochs"] for r in rows} == {BASE["epochs"]}


def _plain(seed, include):
    cfg = RunConfig(**{**BASE, "seeds": 1, "seed_offset": seed})
    res, _ = run(cfg, data=prepare(cfg), include=include, scores=False)
    return float(res.curves["test_error"][0, -1])


def test_the_random_control_and_the_full_run_are_plain_runs(selected):
    result, artifacts = selected
    kept = artifacts["kept"]
    rand = next(r for r in result["curves"] if r["selector"] == "random")
    errors = [_plain(seed, kept[rand["kept_row"], k]) for k, seed in enumerate(result["retrain_seeds"])]
    assert kept[rand["kept_row"], 0].sum() == rand["n_kept"]
    assert not np.array_equal(kept[rand["kept_row"], 0], kept[rand["kept_row"], 1])  # a set per seed
    assert rand["test_error_mean"] == pytest.approx(np.mean(errors), abs=1e-6)
    full = next(r for r in result["curves"] if r["kept_fraction"] == 1.0)
    assert (full["selector"], full["n_kept"]) == ("all", 512) and kept[full["kept_row"]].all()
    assert full["test_error_mean"] == pytest.approx(np.mean([_plain(s, None) for s in result["retrain_seeds"]]),
                                                    abs=1e-6)


def test_dropping_the_hardest_drops_the_hardest_and_ties_are_seeded():
    values = np.array([5.0, 1.0, 3.0, 3.0, 0.0, 3.0])
    order = hardness_order(values, harder=1, tie_seed=0)
    assert order[0] == 0 and order[-1] == 4 and set(order[1:4]) == {2, 3, 5}
    assert dropped(order, "drop-hard", 2)[[0]].all() and dropped(order, "drop-hard", 2).sum() == 2
    assert dropped(order, "drop-easy", 1).tolist() == [False, False, False, False, True, False]
    assert (hardness_order(values, -1, 0)[0], hardness_order(values, -1, 0)[-1]) == (4, 0)  # smaller = harder
    assert hardness_order(values, 1, 0).tolist() == hardness_order(values, 1, 0).tolist()


@pytest.mark.parametrize("bad", [{"fractions": [0.0]}, {"fractions": [1.5]}, {"selectors": ["shapley"]},
                                 {"directions": ["sideways"]}])
def test_bad_options_are_refused_before_any_work(bad):
    with pytest.raises(ConfigError):
        select({**BASE, **bad}, LocalContext())


def test_the_cli_writes_the_curves_and_the_kept_sets(tmp_path, capsys):
    assert main(["select", "--dataset", "digits", "--n-train", "256", "--seeds", "2", "--epochs", "30", "--lr", "1",
                 "--device", "cpu", "--fractions", "0.9", "--selectors", "el2n", "--directions", "drop-hard",
                 "--retrain-seeds", "2", "--retrain-epochs", "30", "--out", str(tmp_path)]) == 0
    r = json.loads((tmp_path / "result.json").read_text())
    assert {"curves", "best", "scoring_seeds", "retrain_seeds"} <= set(r)
    assert np.load(tmp_path / "kept.npy").shape == (2, 2, 256)  # el2n drop-hard and random, 2 seeds
    assert (tmp_path / "curves.csv").read_text().startswith("selector,direction,kept_fraction")
    assert "lowest test error at each kept fraction" in capsys.readouterr().out
