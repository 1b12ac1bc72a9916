"""R+-, D against Eq. 8-9 evaluated literally, and the inversion criterion on
constructed curves."""
import numpy as np
import torch

from engine.geometry import class_geometry, gyration_radius_direct, inversion, turns


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
    assert inv.present and all(inv.turns.values())
    assert 25 <= inv.t_star["r_plus"] <= 40 and 25 <= inv.t_star["distance"] <= 40
    assert inv.straggler_epoch == round(np.mean(list(inv.t_star.values())))
    assert inv.phi == np.mean([err[t] for t in inv.t_star.values()])


def test_no_inversion_on_flat_radii_and_monotone_distance():
    curves, err = _curves("random")
    inv = inversion(curves, err)
    assert not inv.present
    assert not any(inv.turns.values())


def test_radii_that_only_wobble_are_no_inversion_but_radii_that_turn_are():
    """Randomised labels on MNIST: the radii dip and come back by < 0.01 while D only
    grows: no inversion. A linear net: the radii dip by ~0.2 and come back while D
    is still rising at the end: an inversion (two of the three curves turn)."""
    curves, err = _curves("random")
    t = np.arange(len(err), dtype=float)
    curves["r_plus"] = 0.99 - 0.009 * np.sin(np.pi * t / len(t))
    curves["r_minus"] = curves["r_plus"].copy()
    inv = inversion(curves, err)
    assert not any(inv.turns.values()) and not inv.present
    curves["r_plus"] = 0.99 - 0.2 * np.sin(np.pi * t / len(t))
    curves["r_minus"] = curves["r_plus"].copy()
    inv = inversion(curves, err)
    assert inv.turns["r_plus"] and inv.turns["r_minus"] and not inv.turns["distance"]
    assert inv.present


def test_extremum_at_the_end_or_a_tiny_rebound_is_not_a_turn():
    t = np.arange(101.0)
    falling = 1 - 0.5 * (1 - np.exp(-t / 10))
    assert not turns(falling, "r_plus")
    tiny_rebound = falling.copy()
    tiny_rebound[60:] = falling[60] + 1e-5
    assert not turns(tiny_rebound, "r_plus")
    rebound = falling.copy()
    rebound[60:] = falling[60] + np.linspace(0, 0.1, 41)
    assert turns(rebound, "r_plus")
