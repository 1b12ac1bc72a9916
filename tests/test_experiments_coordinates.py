"""Fig. 1: training-error coordinates, and no inversion under randomised labels."""
import numpy as np

from engine.experiments import JOB_KINDS
from engine.experiments.context import LocalContext
from engine.experiments.coordinates import at_epsilon, epsilon_grid, variants_from
from engine.experiments.ensemble import run_rows


def test_t_of_epsilon_is_the_first_epoch_at_or_below(digits_config, digits_data):
    res = run_rows(digits_config.replace(epochs=40), digits_data, [0, 1]).result
    eps = [0.3, 0.1, 0.0]
    tab = at_epsilon(res, eps)
    err = res.curves["train_error"]
    for r in range(2):
        for k, e in enumerate(eps):
            t = tab["epoch"][r, k]
            if t < 0:
                assert (err[r] > e).all()
            else:
                assert err[r, t] <= e and (err[r, :t] > e).all()
                assert tab["r_plus"][r, k] == res.curves["r_plus"][r, t]
    grid, epochs = epsilon_grid(err, 6)
    assert (np.diff(grid) < 0).all() and (grid > 0).all()


def test_variants_are_the_product_of_the_axes():
    v = variants_from(["optimizer=gd,momentum", "block=0,1"], ["adam:optimizer=adam,lr=0.005"])
    assert len(v) == 5 and v["adam"] == {"optimizer": "adam", "lr": 0.005}
    assert v["optimizer=momentum,block=1"] == {"optimizer": "momentum", "block": 1}


def test_randomised_labels_show_no_inversion():
    ctx = LocalContext()
    r = JOB_KINDS["compare"](dict(dataset="digits", n_train=1024, epochs=150, seeds=4, device="cpu",
                                  variants={"parity": {}, "random": {"labels": "random"}}), ctx)
    assert r["variants"]["parity"]["inversion_fraction"] >= 0.75
    assert r["variants"]["random"]["inversion_fraction"] == 0
    rows = ctx.artifacts["curves_epsilon"]
    assert {row["variant"] for row in rows} == {"parity", "random"}
    assert len(ctx.artifacts["curves_epoch"]) == 2 * 4 * 151
