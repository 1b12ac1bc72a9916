"""`python -m engine paper --out DIR [--budget quick|paper] [--dataset mnist,fashion]
[--only 1a-b,2a] [--dry-run [--json]]`: every figure the data here allows, judged
against the paper's numbers (engine.paper), into DIR/report.html and report.json.
A rerun into the same DIR reads back every figure already done."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from engine.cli.progress import Progress
from engine.paper.budgets import BUDGETS


def register(subparsers) -> None:
    p = subparsers.add_parser("paper", help="the whole paper in one command: every figure the data allows, "
                                            "with the paper's numbers beside ours, into DIR/report.html")
    p.add_argument("--out", help="the report's folder (needed unless --dry-run); a rerun into it resumes")
    p.add_argument("--budget", choices=list(BUDGETS), default="quick",
                   help="quick: P = 8192, 5 seeds, 150 epochs (about 20 min on 2 CPU cores); paper: the paper's "
                        "sizes (default: quick)")
    p.add_argument("--dataset", action="append", default=[], metavar="NAMES",
                   help="the data sets Fig. 3a and 3c-d may use, comma-separated (default: every one present)")
    p.add_argument("--only", default=None, metavar="IDS", help="only these figures, e.g. 1a-b,2a")
    p.add_argument("--dry-run", dest="dry_run", action="store_true", help="print the plan and its estimate; "
                                                                          "nothing is trained")
    p.add_argument("--json", action="store_true", help="with --dry-run: one JSON object")
    p.set_defaults(func=cmd_paper)


def cmd_paper(args) -> int:
    from engine.paper.book import budget_of, datasets_present, estimate, plan, run
    from engine.planning.estimate import fmt_seconds
    budget = budget_of(args.budget)
    wanted = [d.strip() for spec in args.dataset for d in spec.split(",") if d.strip()]
    only = [i.strip() for i in args.only.split(",") if i.strip()] if args.only else None
    data, how_to = datasets_present(wanted or None)
    out = args.out or "DIR"
    sections = plan(budget, data, only, out=out, how_to=how_to)
    total = estimate(sections)
    if args.dry_run:
        if args.json:
            print(json.dumps({"budget": budget.name, "seconds": round(total, 1), "figures": [
                {"figure": s.figure.id, "seconds": round(s.estimate_s, 1), "command": s.command,
                 "run": s.config is not None, "reason": s.reason} for s in sections]}))
            return 0
        print(f"paper --budget {budget.name}: about {fmt_seconds(total)} on this machine for "
              f"{sum(s.config is not None for s in sections)} figures")
        for s in sections:
            print(f"  {s.figure.id:>5}: " + (f"{fmt_seconds(s.estimate_s):>8}  {s.command}" if s.config is not None
                                             else f"not run: {s.reason}"))
        return 0
    if not args.out:
        print("error: --out DIR is needed unless --dry-run", file=sys.stderr)
        return 2
    from engine.jobs import executors
    bar = Progress(label="seed-epochs")
    current = [-1]

    def on_progress(k, n, done, of, eta_s):
        if k != current[0]:
            current[0] = k
            bar.end() if k else None
            print(f"[{k + 1}/{n}] Fig. {sections[k].figure.id}: {sections[k].figure.title}", file=sys.stderr)
        bar(done, of, eta_s, note="(report)")

    from engine.config import RunConfig
    from engine.planning.preflight import device_kind
    executor = executors.open_executor(None)
    try:
        report = run(Path(args.out), budget, sections, data, on_progress=on_progress, executor=executor,
                     device=device_kind(RunConfig()))
    finally:
        executor.close()
    for e in report["figures"]:
        print(f"Fig. {e['figure']:>5}: {e['verdict']:<12} " + ("; ".join(e["ours"]) if e["ours"] else e.get("reason", "")))
    print(f"{report['header']['seconds']:.0f} s; " + ", ".join(f"{k} {v}" for k, v in report["counts"].items() if v)
          + f"; {Path(args.out) / 'report.html'}")
    return 0
