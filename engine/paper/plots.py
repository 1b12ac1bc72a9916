"""Each section's figure, drawn by the same functions as the dashboard's pages
(engine.figures) from what the experiment wrote into the section's folder."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from engine.figures import analysis as fa, dynamics as fd, stability as fs


def _csv(folder: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(folder / f"{name}.csv")


def _summary(variant: dict) -> dict:
    """A compare variant as the summary the dynamics figures read (state, t*, seeds)."""
    return {"seeds": list(range(len(variant["state"]))),
            "inversion": {"state": variant["state"], "present": variant["inversion_present"],
                          "t_star": variant["t_star"]}}


def _frames(folder: Path, result: dict) -> tuple[dict, dict]:
    rows = _csv(folder, "curves_epoch")
    frames = {name: g.drop(columns="variant").reset_index(drop=True) for name, g in rows.groupby("variant", sort=False)}
    return frames, {name: _summary(v) for name, v in result["variants"].items()}


def figure(kind: str, folder: Path):
    """The plotly figure of one finished section, or None when it has nothing to draw."""
    folder = Path(folder)
    result = json.loads((folder / "result.json").read_text())
    if kind == "dynamics":
        frames, summaries = _frames(folder, result)
        name = next(iter(frames))
        return fd.dynamics_figure(frames[name], band=fd.summary_band(summaries[name]) if fd.has_inversion(
            summaries[name]) else None, height=520)
    if kind == "overlay":
        frames, summaries = _frames(folder, result)
        return fd.overlay_figure(frames, summaries, x_mode="error")
    if kind == "prune":
        return fa.prune_figure(_csv(folder, "curves").to_dict("records"))
    if kind == "sweep":
        return fa.sweep_test_figure(result["points"], result["sigmas"], _csv(folder, "sweep").to_dict("records"))
    if kind == "stability":
        return fs.z_figure(result["points"], result["best"], result.get("phi"))
    if kind == "scaling":
        return fs.phi_figure(result)
    if kind == "grid":
        return fs.grid_figure(result["grid"]) if result.get("grid") else fs.phi_figure(result)
    if kind == "map":
        return fa.map_figure(_csv(folder, "embedding"))
    return None
