"""report.html: one self-contained file. plotly's JavaScript is embedded once in the
head and every figure is a div that calls it, so the page opens from a USB stick
with no request to the network (tests/test_paper_browser.py opens it offline and
counts the requests). Each section: the verdict, the paper's numbers beside ours
with the rule that compares them, the figure, the command that reruns it alone."""
from __future__ import annotations

import html
from pathlib import Path

from engine.files import atomic_write

COLOURS = {"matches": "#009E73", "differs": "#D55E00", "undetermined": "#E69F00", "not run": "#777777",
           "pending": "#56B4E9"}
STYLE = """
body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}
h1{margin-bottom:0}.sub{color:#555;margin-top:.2em}table{border-collapse:collapse;margin:.5em 0;width:100%}
td,th{border:1px solid #ddd;padding:.3em .5em;text-align:left;vertical-align:top;font-size:.92em}
th{background:#f4f4f4}.v{color:#fff;border-radius:.3em;padding:.1em .5em;font-weight:600;white-space:nowrap}
pre{background:#f6f6f6;padding:.6em;overflow-x:auto;white-space:pre-wrap}section{border-top:2px solid #eee;margin-top:2em}
nav a{margin-right:.8em}
"""


def _esc(v) -> str:
    return html.escape("" if v is None else str(v))


def badge(verdict: str) -> str:
    return f'<span class="v" style="background:{COLOURS.get(verdict, "#777")}">{_esc(verdict)}</span>'


def _header(h: dict, counts: dict) -> str:
    versions = ", ".join(f"{k} {v}" for k, v in h["versions"].items())
    m = h["machine"]
    rows = [("budget", f"{h['budget']}: " + ", ".join(f"{k} = {v}" for k, v in h["sizes"].items() if k != "name")),
            ("versions", versions), ("machine", f"{m['platform']}, {m['processor']}, {m['cpus']} CPUs"),
            ("device, precision", f"{h['device']}, {h['precision']}"), ("commit", h.get("commit") or "unknown"),
            ("total time", f"{h['seconds']:.0f} s"), ("written", h["written"]),
            ("verdicts", ", ".join(f"{k} {v}" for k, v in counts.items() if v))]
    return "<table>" + "".join(f"<tr><th>{_esc(k)}</th><td>{_esc(v)}</td></tr>" for k, v in rows) + "</table>"


def _claims(claims: list[dict]) -> str:
    if not claims:
        return ""
    head = "<tr><th>the paper says</th><th>paper</th><th>source</th><th>ours</th><th>rule</th><th>verdict</th></tr>"
    body = "".join(f"<tr><td>{_esc(c['what'])}</td><td>{_esc(c['paper'])}</td><td>{_esc(c['source'])}</td>"
                   f"<td>{_esc(c['ours'])}</td><td>{_esc(c['rule'])}</td><td>{badge(c['verdict'])}</td></tr>"
                   for c in claims)
    return f"<table>{head}{body}</table>"


def _figure_div(out: Path, entry: dict) -> str:
    if entry["verdict"] in ("not run", "pending") or not entry.get("plot"):
        return ""
    from engine.paper.plots import figure
    try:
        fig = figure(entry["plot"], out / entry["folder"])
    except (OSError, KeyError, ValueError, TypeError) as e:  # a figure that cannot be drawn does not lose the report
        return f"<p>(figure not drawn: {_esc(type(e).__name__)}: {_esc(e)})</p>"
    if fig is None:
        return ""
    return fig.to_html(full_html=False, include_plotlyjs=False, include_mathjax=False,
                       config={"displaylogo": False}, default_width="100%")


def _section(out: Path, e: dict) -> str:
    what = (f"{e['seeds']} seeds, {e['epochs']} epochs, P = {e['n_train']}; {e['seconds']:.0f} s"
            + (" (read back from an earlier run)" if e.get("reused") else "")) if e.get("seconds") is not None else ""
    reason = (f"<p>{'Not run' if e['verdict'] == 'not run' else 'Could not be computed'}: {_esc(e['reason'])}</p>"
              if e.get("reason") else "")
    return (f'<section id="fig-{_esc(e["figure"])}"><h2>Fig. {_esc(e["figure"])}: {_esc(e["title"])} '
            f'{badge(e["verdict"])}</h2>{reason}<p class="sub">{_esc(what)}</p>{_claims(e["claims"])}'
            f'{_figure_div(out, e)}<p>Rerun it alone:</p><pre>{_esc(e["command"])}</pre></section>')


def render(out: Path, report: dict) -> str:
    from plotly.offline import get_plotlyjs
    h = report["header"]
    nav = "".join(f'<a href="#fig-{_esc(e["figure"])}">{_esc(e["figure"])}</a>' for e in report["figures"])
    sections = "".join(_section(Path(out), e) for e in report["figures"])
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Stragglers: the paper, rerun'
            f'</title><style>{STYLE}</style><script type="text/javascript">{get_plotlyjs()}</script></head><body>'
            f'<h1>Inversion dynamics of class manifolds in deep learning reveals tradeoffs underlying generalisation: rerun</h1><p class="sub">Ciceri, Cassani, Osella, Rotondo, Valle and Gherardi, '
            f'figure by figure: the paper\'s numbers beside ours, and where they agree.</p>{_header(h, report["counts"])}'
            f'<nav>{nav}</nav>{sections}</body></html>')


def write_html(out: Path, report: dict) -> Path:
    return atomic_write(Path(out) / "report.html", render(out, report))
