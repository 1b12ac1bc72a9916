"""R+-, D against Eq. 8-9 evaluated literally, and the inversion criterion (curve and
seed states) on constructed curves."""
import numpy as np
import torch

from engine.geometry.sphere import class_geometry, gyration_radius_direct
from engine.geometry.inversion import inversion, judge_curve


def test_radii_and_distance_match_the_direct_definition():
    rng = np.random.default_rng(0)
    h = rng.normal(size=(3, 40, 5)) + np.array([1.0, -0.5, 0, 0, 2])  # R=3 seeds, 40 points, H=5
    y = rng.integers(0, 2, size=40)
    onehot = torch.nn.functional.one_hot(torch.from_numpy(y), 2).double()
    got = class_geometry(torch.from_numpy(h), onehot).numpy()
    for r in range(3):
        u = h[r] / np.linalg.norm(h[r], axis=1, keepdims=True)
        d = np.linalg.norm(u[y == 1].mean(0) - u[y == 0].mean(0))
        np.testing.assert_allclose(got[r], [gyration_radius_direct(h[r][y == 1]),
                                            gyration_radius_direct(h[r][y == 0]), d], rtol=1e-10)


def test_scale_of_each_point_does_not_matter():
    """Projection on the sphere: rescaling a representation by a positive factor
    leaves the geometry unchanged (paper, Methods)."""
    rng = np.random.default_rng(1)
    h = torch.from_numpy(rng.normal(size=(1, 30, 4)))
    onehot = torch.nn.functional.one_hot(torch.from_numpy(rng.integers(0, 2, 30)), 2).double()
    scaled = h * torch.from_numpy(rng.uniform(0.1, 10, size=(1, 30, 1)))
    np.testing.assert_allclose(class_geometry(h, onehot), class_geometry(scaled, onehot), rtol=1e-10)


def test_pruned_points_are_left_out_of_the_geometry():
    rng = np.random.default_rng(2)
    h = torch.from_numpy(rng.normal(size=(1, 30, 4)))
    y = torch.from_numpy(rng.integers(0, 2, 30))
    keep = torch.ones(30, dtype=torch.float64)
    keep[:7] = 0
    onehot = torch.nn.functional.one_hot(y, 2).double()
    masked = class_geometry(h, onehot * keep[:, None])
    direct = class_geometry(h[:, 7:], onehot[7:])
    np.testing.assert_allclose(masked, direct, rtol=1e-10)


def _curves(kind, T=200):
    t = np.arange(T + 1, dtype=float)
    if kind == "inversion":  # fast drop to a minimum at t=30, slow partial recovery
        r = 0.8 - 0.4 * (1 - np.exp(-t / 8)) + 0.1 * np.clip(t - 30, 0, None) / T
        d = 0.2 + 0.5 * (1 - np.exp(-t / 8)) - 0.1 * np.clip(t - 30, 0, None) / T
    else:  # randomised labels: flat radii, monotone distance
        r = 0.8 + 1e-4 * np.sin(t)
        d = 0.2 + 0.3 * t / T
    return {"r_plus": r, "r_minus": r.copy(), "distance": d}, np.linspace(0.5, 0.0, T + 1)


def test_inversion_detected_on_a_turning_curve():
    curves, err = _curves("inversion")
    inv = inversion(curves, err)
    assert inv.state == "present" and all(inv.turns.values())
    assert 25 <= inv.t_star["r_plus"] <= 40 and 25 <= inv.t_star["distance"] <= 40
    assert inv.t_star == inv.extremum  # noise-free: t* is Eq. 10's argmin/argmax
    assert inv.straggler_epoch == round(np.mean(list(inv.t_star.values())))
    assert inv.phi == np.mean([err[t] for t in inv.t_star.values()]) == inv.phi_eq10


def test_flat_radii_and_a_rising_distance_are_absent():
    curves, err = _curves("random")
    inv = inversion(curves, err)
    assert inv.state == "absent" and not inv.present
    assert [v.state for v in inv.curves.values()] == ["flat", "flat", "moving"]
    assert inv.phi is None and inv.straggler_epoch is None and inv.t_star == {m: None for m in inv.t_star}
    assert inv.extremum["distance"] == len(err) - 1  # Eq. 10 as written still says "the last epoch"


def test_radii_that_only_wobble_are_no_inversion_but_radii_that_turn_are():
    """Randomised labels on MNIST: the radii dip and come back by < 0.02 while D only
    grows: absent. A linear net: the radii dip by ~0.2 and come back while D is still
    rising at the end: present, and phi comes from the two radii only (before, t*_D
    = T, the last epoch, entered phi and the straggler epoch)."""
    curves, err = _curves("random")
    t = np.arange(len(err), dtype=float)
    curves["r_plus"] = 0.99 - 0.009 * np.sin(np.pi * t / len(t))
    curves["r_minus"] = curves["r_plus"].copy()
    inv = inversion(curves, err)
    assert not any(inv.turns.values()) and inv.state == "absent"
    curves["r_plus"] = 0.99 - 0.2 * np.sin(np.pi * t / len(t))
    curves["r_minus"] = curves["r_plus"].copy()
    inv = inversion(curves, err)
    assert inv.turns["r_plus"] and inv.turns["r_minus"] and not inv.turns["distance"]
    assert inv.state == "present" and inv.t_star["distance"] is None
    t_r = inv.t_star["r_plus"]
    assert inv.phi == err[t_r] and inv.straggler_epoch == t_r
    assert inv.phi_eq10 == np.mean([err[t_r], err[t_r], err[-1]]) != inv.phi


def test_extremum_at_the_end_or_a_tiny_rebound_is_not_a_turn():
    t = np.arange(101.0)
    falling = 1 - 0.5 * (1 - np.exp(-t / 8))
    assert judge_curve(falling, "r_plus").state == "settled"  # converged for the second half
    still_falling = 1 - 0.3 * np.log1p(t / 5)
    assert judge_curve(still_falling, "r_plus").state == "moving"
    tiny_rebound = falling.copy()
    tiny_rebound[60:] = falling[60] + 1e-5
    assert judge_curve(tiny_rebound, "r_plus").state != "turned"
    rebound = falling.copy()
    rebound[60:] = falling[60] + np.linspace(0, 0.1, 41)
    v = judge_curve(rebound, "r_plus")
    assert v.state == "turned" and v.t_star == 60 and abs(v.comeback - 0.09) < 0.02


def test_a_curve_just_at_its_bottom_is_moving_not_settled():
    """A segregation that turns after the last epoch must not read as "no inversion":
    a curve that reached its level only in the second half of the run may still turn."""
    t = np.arange(61.0)
    x = 0.95 - 0.2 * (1 - np.exp(-t / 12))  # near its bottom from epoch ~45 on
    assert judge_curve(x, "r_plus").state == "moving"
    assert judge_curve(np.concatenate([x, np.full(60, x[-1])]), "r_plus").state == "settled"


def test_seed_states_from_curve_states():
    t = np.arange(201.0)
    turn = 0.95 - 0.2 * (1 - np.exp(-t / 8)) + 0.08 * (1 - np.exp(-np.clip(t - 30, 0, None) / 60))
    falling = 0.95 - 0.1 * np.log1p(t / 5)
    flat = 0.95 + 1e-3 * np.sin(t)
    err = np.linspace(0.5, 0.01, len(t))

    def state(rp, rm, d):
        return inversion({"r_plus": rp, "r_minus": rm, "distance": -d}, err).state
    assert state(turn, turn, turn) == "present"
    assert state(turn, turn, falling) == "present"        # two of three
    assert state(turn, falling, flat) == "undetermined"   # one turned, one may still
    assert state(falling, falling, flat) == "undetermined"
    assert state(turn, flat, flat) == "absent"            # at most one can ever turn
    assert state(flat, flat, falling) == "absent"         # randomised labels


def test_divergence_rule_and_nothing_after_it_is_evidence():
    t = np.arange(101.0)
    r = 0.8 - 0.4 * (1 - np.exp(-t / 8)) + 0.1 * np.clip(t - 30, 0, None) / 100
    curves = {"r_plus": r, "r_minus": r.copy(), "distance": 1.2 - r}
    err = np.linspace(0.5, 0.0, 101)
    loss = np.linspace(0.7, 0.1, 101)
    assert inversion(curves, err, loss).state == "present"
    blown = loss.copy()
    blown[50:] = 7.5  # > 10 x 0.7 from epoch 50, finite, never NaN
    inv = inversion(curves, err, blown)
    assert inv.state == "diverged" and inv.diverged_epoch == 50 and inv.phi is None
    assert all(v.state == "diverged" for v in inv.curves.values())
    spike = loss.copy()
    spike[3] = 6.9  # below 10x: a bump, not a divergence
    assert inversion(curves, err, spike).state == "present"
    nan = loss.copy()
    nan[70] = np.inf
    assert inversion(curves, err, nan).diverged_epoch == 70


def test_a_results_verdicts_are_kept_until_its_curves_change():
    """RunResult.inversions is asked for several times per report: judged once, and
    judged again as soon as any curve it reads changes (a new epoch, an edit)."""
    from engine.config import RunConfig
    from engine.analysis.results import RunResult
    T = 80
    t = np.arange(T + 1, dtype=float)
    r = RunResult.empty(RunConfig(dataset="digits", n_train=16, seeds=2, epochs=T), [0, 1], 16)
    r.reserve(T + 1)
    for row in range(2):
        r.curves["loss"][row, :T + 1] = np.exp(-t / 30)
        r.curves["train_error"][row, :T + 1] = 0.3 * np.exp(-t / 20)
        r.curves["r_plus"][row, :T + 1] = 1 - 0.4 * np.exp(-((t - 40) / 15) ** 2)   # turns at 40
        r.curves["r_minus"][row, :T + 1] = 1 - 0.4 * np.exp(-((t - 35) / 15) ** 2)
        r.curves["distance"][row, :T + 1] = 1 + 0.4 * np.exp(-((t - 38) / 15) ** 2)
    r.epochs_done = T
    first = r.inversions()
    assert [i.state for i in first] == ["present", "present"]
    assert r.inversions()[0] is first[0]  # kept
    for m in ("r_plus", "r_minus", "distance"):
        r.curves[m][1, :T + 1] = np.linspace(1, 0.5, T + 1)  # seed 1 now only moves down
    again = r.inversions()
    assert again[0] is not first[0] and again[1].state != "present"
