"""Running the report: which figures the data on this machine allows (plan), how
long they will take (estimate), and running them one after the other into DIR,
each into its own folder (DIR/<figure>/result.json and CSVs, as the experiments
write them). A figure whose folder already holds a result of the same config is
read back, not rerun, so an interrupted report resumes where it stopped.
report.json and report.html are rewritten after every figure: the Paper page and
a reader see the sections as they finish."""
from __future__ import annotations

import json
import platform
import time
from dataclasses import dataclass
from pathlib import Path

from engine.config import ConfigError
from engine.data.inventory import status
from engine.experiments.context import LocalContext, split, write_result
from engine.files import atomic_write, jsonable
from engine.paper.budgets import BUDGETS, Budget
from engine.paper.command import command
from engine.paper.figures import FIGURES, Figure
from engine.run import Stopped

VERDICTS = ("matches", "differs", "undetermined", "not run")


@dataclass
class Section:
    figure: Figure
    config: dict | None    # None: not run
    reason: str = ""       # why not run
    command: str = ""
    estimate_s: float = 0.0


def budget_of(name: str) -> Budget:
    if name not in BUDGETS:
        raise ConfigError("budget", name, "one of " + ", ".join(BUDGETS))
    return BUDGETS[name]


def datasets_present(wanted=None) -> tuple[list[str], dict]:
    """(the data sets whose files are here and sound, a user's CIFAR-10 included, among
    `wanted`; how to fetch each one that is not)."""
    rows = {r["name"]: r for r in status()}
    if wanted:
        bad = [w for w in wanted if w not in rows]
        if bad:
            raise ConfigError("dataset", bad[0], "one of " + ", ".join(rows))
    names = [n for n in rows if not wanted or n in wanted]
    return [n for n in names if rows[n]["ready"]], {n: r["how_to_fetch"] for n, r in rows.items() if not r["ready"]}


def plan(budget: Budget, data: list[str], only=None, out: str = "DIR", how_to: dict | None = None) -> list[Section]:
    """Every figure of the table, with its config, or the reason it cannot run here."""
    if only:
        unknown = [i for i in only if i not in {f.id for f in FIGURES}]
        if unknown:
            raise ConfigError("only", unknown[0], "figure ids: " + ", ".join(f.id for f in FIGURES))
    sections = []
    for fig in FIGURES:
        if only and fig.id not in only:
            continue
        missing = [d for d in fig.needs + ((budget.dataset,) if budget.dataset != "digits" else ()) if d not in data]
        config = fig.config(budget, data)
        if missing:
            fetch = (how_to or {}).get(missing[0])
            sections.append(Section(fig, None, f"data set missing: {', '.join(missing)}" + (f" ({fetch})" if fetch else "")))
            continue
        config = {"horizon": 2, **config}
        from engine.experiments import JOB_OPTIONS
        split(config, JOB_OPTIONS[fig.kind])  # a bad entry in the table fails here, before any work
        sections.append(Section(fig, config, command=command(fig.kind, config, f"{out}/{fig.id}")))
    return sections


def estimate(sections: list[Section]) -> float:
    """Each section's modelled seconds (engine.experiments.estimate), and their sum."""
    from engine.experiments.estimate import estimate_job
    for s in sections:
        if s.config is not None:
            s.estimate_s = float(estimate_job(s.figure.kind, s.config)["seconds"])
    return sum(s.estimate_s for s in sections)


class _Section(LocalContext):
    """One figure's job context: its progress and cancel point are the report's."""

    def __init__(self, on_progress, should_stop, executor=None):
        super().__init__(on_progress)
        self._stop = should_stop
        self.executor = executor

    def should_stop(self) -> bool:
        return bool(self._stop and self._stop())


def judge(fig: Figure, result: dict, data: list[str]) -> tuple[str, list[dict]]:
    """The section's verdict and each claim's finding. A claim about a data set that is
    not here is "not run"; a rule that cannot read its number is "undetermined"."""
    claims = []
    for c in fig.claims:
        entry = {"what": c.what, "paper": c.paper, "source": c.source, "rule": c.rule_text}
        if c.needs and c.needs not in data:
            claims.append({**entry, "ours": f"not run: {c.needs} is not here", "verdict": "not run"})
            continue
        try:
            f = c.rule(result)
            entry.update(ours=f.ours, verdict={True: "matches", False: "differs", None: "undetermined"}[f.verdict])
        except (KeyError, IndexError, TypeError, ValueError, ZeroDivisionError) as e:
            entry.update(ours=f"undetermined ({type(e).__name__}: {e})", verdict="undetermined")
        claims.append(entry)
    run = [c["verdict"] for c in claims if c["verdict"] != "not run"]
    verdict = ("not run" if not run else "differs" if "differs" in run else
               "undetermined" if "undetermined" in run else "matches")
    return verdict, claims


def header(budget: Budget, device: str, seconds: float) -> dict:
    from engine.analysis.provenance import git_commit, versions
    import os
    return {"budget": budget.name, "sizes": jsonable(budget.__dict__), "versions": versions(),
            "machine": {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
                        "cpus": os.cpu_count()},
            "device": device, "precision": "fp32", "commit": git_commit(), "seconds": round(seconds, 1),
            "written": time.strftime("%Y-%m-%d %H:%M:%S %Z")}


def _reusable(folder: Path, config: dict) -> dict | None:
    """The figure's stored result when it was computed from this very config."""
    try:
        result = json.loads((folder / "result.json").read_text())
    except (OSError, ValueError):
        return None
    return result if result.get("config") == jsonable(config) else None


def run(out: Path, budget: Budget, sections: list[Section], data: list[str], on_progress=None,
        should_stop=None, executor=None, device: str = "cpu") -> dict:
    """Run (or read back) every section in order into `out`, rewriting the report after
    each. on_progress(section index, section count, done, total, eta_s of the whole report)."""
    from engine.experiments import JOB_KINDS
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    entries, spent, planned = [], 0.0, 0.0
    for k, s in enumerate(sections):
        later = sum(x.estimate_s for x in sections[k + 1:])
        ratio = min(max(spent / planned, 0.5), 2.0) if planned else 1.0  # the model, corrected by what ran here

        def progress(done, total, eta_s=None, k=k, later=later, ratio=ratio):
            if on_progress is not None:
                on_progress(k, len(sections), done, total, None if eta_s is None else eta_s + later * ratio)

        cfg = s.config or {}
        entry = {"figure": s.figure.id, "title": s.figure.title, "kind": s.figure.kind, "command": s.command,
                 "folder": s.figure.id, "plot": s.figure.plot, "seeds": cfg.get("seeds"), "epochs": cfg.get("epochs"),
                 "n_train": cfg.get("n_train")}
        if s.config is None:
            entries.append({**entry, "verdict": "not run", "reason": s.reason, "claims": [], "seconds": None,
                            "paper": [c.paper for c in s.figure.claims], "ours": []})
            continue
        folder = out / s.figure.id
        result = _reusable(folder, s.config)
        reused = result is not None
        if result is None:
            t0 = time.perf_counter()
            ctx = _Section(progress, should_stop, executor)
            try:
                result = JOB_KINDS[s.figure.kind](dict(s.config), ctx)
            except Stopped:
                raise
            except Exception as e:  # one figure that cannot be computed (no inversion to prune) loses no other
                entries.append({**entry, "verdict": "undetermined", "claims": [], "plot": "",
                                "seconds": round(time.perf_counter() - t0, 1),
                                "reason": f"{type(e).__name__}: {e}", "paper": [c.paper for c in s.figure.claims],
                                "ours": []})
                write_report(out, header(budget, device, time.perf_counter() - started), entries, sections[k + 1:])
                continue
            result["config"] = s.config
            result["seconds"] = time.perf_counter() - t0
            write_result(folder, result, ctx.artifacts)
            result = json.loads((folder / "result.json").read_text())
            spent, planned = spent + result["seconds"], planned + s.estimate_s
        verdict, claims = judge(s.figure, result, data)
        entries.append({**entry, "verdict": verdict, "claims": claims, "reused": reused,
                        "seconds": round(float(result.get("seconds") or 0.0), 1),
                        "paper": [c["paper"] for c in claims], "ours": [c["ours"] for c in claims]})
        write_report(out, header(budget, device, time.perf_counter() - started), entries, sections[k + 1:])
    return write_report(out, header(budget, device, time.perf_counter() - started), entries, [])


def write_report(out: Path, head: dict, entries: list[dict], pending: list[Section]) -> dict:
    """report.json: the header and the figures done so far; the ones to come as "pending"."""
    from engine.paper.html import write_html
    report = {"header": head, "figures": entries + [
        {"figure": s.figure.id, "title": s.figure.title, "verdict": "pending", "command": s.command, "claims": [],
         "paper": [c.paper for c in s.figure.claims], "ours": [], "seconds": None} for s in pending]}
    report["counts"] = {v: sum(e["verdict"] == v for e in report["figures"]) for v in (*VERDICTS, "pending")}
    atomic_write(Path(out) / "report.json", json.dumps(jsonable(report), indent=1))
    write_html(out, report)
    return report
