"""What the pages say about the verdicts (issue 10, item 8), on real digits runs: t*
markers and the inversion band only from seeds where the inversion is present, the
states in the tables and captions, and no "yet" for a run that has finished."""
import numpy as np
import pandas as pd
import pytest

from engine.figures.dynamics import (band_of, inversion_stats, mean_t_star, overlay_figure, phi_per_seed,
                                        phi_table, summary_band)
from dashboard.live import band_caption
from engine.config import RunConfig
from engine.analysis.report import summary
from engine.analysis.results import CURVES
from engine.run import run


def frame_of(result) -> pd.DataFrame:
    """The store's metrics frame of a result: one row per (seed, recorded epoch)."""
    R, T = len(result.seeds), result.epochs_done + 1
    rows = {"seed": np.repeat(result.seeds, T), "epoch": np.tile(np.arange(T), R)}
    rows.update({c: result.curves[c][:, :T].reshape(-1) for c in CURVES})
    frame = pd.DataFrame(rows)
    return frame[np.isfinite(frame["train_error"])].reset_index(drop=True)


@pytest.fixture(scope="module")
def runs(digits_data):
    base = RunConfig(dataset="digits", n_train=512, seeds=3, device="cpu")
    out = {}
    for name, cfg in {"present": base.replace(epochs=60, lr=1.0),
                      "undetermined": base.replace(epochs=15),
                      "diverged": base.replace(epochs=20, lr=1e6)}.items():
        result, data = run(cfg, data=digits_data)
        out[name] = (result, frame_of(result), summary(result, data))
    return out


def test_band_and_markers_only_where_the_inversion_is_present(runs):
    result, frame, summ = runs["present"]
    assert summ["inversion"]["state"] == ["present"] * 3
    band = band_of(inversion_stats(frame))
    assert band == pytest.approx(summary_band(summ))
    stars = [t for t in overlay_figure({"a": frame}, {"a": summ}).data if t.meta == "t_star"]
    assert len(stars) == 3
    for name in ("undetermined", "diverged"):
        _, frame, summ = runs[name]
        assert set(summ["inversion"]["state"]) == {name}
        assert band_of(inversion_stats(frame)) is None and summary_band(summ) is None
        assert mean_t_star(summ) == {"r_plus": None, "r_minus": None, "distance": None}
        fig = overlay_figure({"a": frame}, {"a": summ})
        assert not [t for t in fig.data if t.meta == "t_star"]
        assert not [s for s in fig.layout.shapes if s.name == "inversion band"]


def test_captions_name_the_states_and_never_say_yet(runs):
    for name, (result, frame, _) in runs.items():
        stats = inversion_stats(frame)
        assert stats["states"][name] == 3
        text = band_caption(stats, band_of(inversion_stats(frame)))
        assert "yet" not in text and f"{name} 3" in text
    stats = inversion_stats(runs["undetermined"][1])
    assert "curves still moving at the last recorded epoch" in band_caption(stats, None)
    assert stats["more_epochs"] >= 30


def test_tables_average_phi_over_present_seeds_only(runs):
    summaries = {name: s for name, (_, _, s) in runs.items()}
    table = phi_table(summaries).set_index("job")
    assert table.loc["present", "inversion"] == "present 3"
    assert table.loc["present", "φ mean"] == pytest.approx(np.mean(summaries["present"]["inversion"]["phi"]["per_seed"]))
    for name in ("undetermined", "diverged"):
        assert table.loc[name, "inversion"] == f"{name} 3"
        assert table.loc[name, "φ mean"] is None or np.isnan(table.loc[name, "φ mean"])
        assert table.loc[name, "t*(D)"] is None or np.isnan(table.loc[name, "t*(D)"])
    per_seed = phi_per_seed(summaries)
    assert per_seed.groupby("job")["state"].agg(set).to_dict() == {n: {n} for n in runs}
    assert per_seed[per_seed.job != "present"]["φ"].isna().all()
