"""The report as a job of the queue (kind "paper", the Paper page's button): the same
plan and run as `python -m engine paper`, into runs/paper/<budget>/ so that a second
job of the same budget resumes the first. Its progress is in hundredths of the
report's modelled time; its result names the folder and the verdicts."""
from __future__ import annotations

from pathlib import Path

from engine.config import ConfigError
from engine.environment import runs_dir
from engine.paper.book import budget_of, datasets_present, estimate, plan, run

OPTIONS = {"budget": "quick", "datasets": [], "only": None}
TOTAL = 100  # progress in per cent of the report's modelled seconds


def folder(budget: str) -> Path:
    return runs_dir() / "paper" / budget


def normalise(config: dict) -> tuple[dict, int]:
    """(the canonical config, the progress total); a bad option fails at submission."""
    unknown = sorted(set(config) - set(OPTIONS))
    if unknown:
        raise ConfigError(unknown[0], config[unknown[0]], "not an option of the paper report (budget, datasets, "
                                                          "only)")
    out = {**OPTIONS, **config}
    budget_of(out["budget"])
    if not isinstance(out["datasets"], list) or (out["only"] is not None and not isinstance(out["only"], list)):
        raise ConfigError("datasets", out["datasets"], "lists of names")
    datasets_present(out["datasets"] or None)  # an unknown name fails here
    return out, TOTAL


def paper_job(config: dict, ctx) -> dict:
    config, _ = normalise(config)
    budget = budget_of(config["budget"])
    data, how_to = datasets_present(config["datasets"] or None)
    out = folder(budget.name)
    sections = plan(budget, data, config["only"], out=str(out), how_to=how_to)
    seconds = estimate(sections) or 1.0
    before = [sum(s.estimate_s for s in sections[:k]) for k in range(len(sections))]

    def on_progress(k, n, done, of, eta_s):
        part = before[k] + sections[k].estimate_s * (done / of if of else 0.0)
        ctx.progress(min(int(TOTAL * part / seconds), TOTAL - 1), TOTAL, eta_s)

    from engine.planning.preflight import device_kind
    from engine.config import RunConfig
    report = run(out, budget, sections, data, on_progress=on_progress, should_stop=ctx.should_stop,
                 executor=getattr(ctx, "executor", None), device=device_kind(RunConfig()))
    ctx.progress(TOTAL, TOTAL, 0.0)
    return {"kind": "paper", "folder": str(out), "counts": report["counts"],
            "verdicts": {e["figure"]: e["verdict"] for e in report["figures"]}}
