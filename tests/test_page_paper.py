"""The Paper page: the plan with an estimate per figure before anything runs, a button
that queues one "paper" job, and a finished report's sections read from its folder
(they survive a reload); in Chromium, the sections open and report.html downloads."""
import json

import pytest

from engine.paper.book import plan, run
from helpers import app_test, env_restored
from test_paper import TINY


@pytest.fixture
def runs(tmp_path, monkeypatch):
    monkeypatch.setenv("STRAGGLERS_RUNS", str(tmp_path / "runs"))
    return tmp_path / "runs"


def _report(runs, only=("1e-f", "2d")):
    """A small report written where the page's quick budget keeps its own."""
    out = runs / "paper" / "quick"
    with env_restored():
        run(out, TINY, plan(TINY, ["digits"], only=list(only), out=str(out)), ["digits"])
    return out


def test_the_plan_and_its_estimate_before_anything_runs(runs, monkeypatch):
    from engine.jobs import queue
    at = app_test("pages/10_Paper.py")
    assert not at.exception
    table = at.dataframe[0].value
    assert "1a-b" in set(table["figure"]) and "3c-d" in set(table["figure"])
    assert "About" in at.caption[0].value and "figures" in at.caption[0].value
    assert any("No report of this budget yet" in i.value for i in at.info)
    monkeypatch.setattr(queue, "refresh", lambda *a, **k: 0)  # queue only: no worker process in a test
    at.button(key="launch-paper").click().run()
    from engine.jobs.store import Store
    jobs = Store(runs / "store.sqlite").list_jobs(kind="paper")
    assert len(jobs) == 1 and jobs[0]["config"]["budget"] == "quick" and jobs[0]["status"] == "queued"
    assert not at.exception


def test_a_finished_report_is_shown_section_by_section(runs):
    out = _report(runs)
    at = app_test("pages/10_Paper.py", {"budget": "quick"})
    assert not at.exception
    labels = [e.label for e in at.expander]
    assert any(label.startswith("Fig. 1e-f") and label.endswith(("**matches**", "**differs**", "**undetermined**"))
               for label in labels), labels
    verdicts = json.loads((out / "report.json").read_text())["figures"]
    assert len(at.get("plotly_chart")) == len(verdicts)  # a figure per finished section
    assert at.get("download_button")


def test_the_report_in_chromium_opens_and_downloads(runs, tmp_path):
    from test_e2e_browser import _chrome, _download, _page_drawn, _screenshot, _serve, _wait
    out = _report(runs)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    with _serve(runs, tmp_path / "server.log") as url, _chrome(tmp_path / "profile", downloads) as d:
        d.get(f"{url}/Paper?budget=quick")
        _page_drawn(d, "The paper, rerun here")
        text = d.execute_script("return document.body.innerText;")
        assert "Fig. 1e-f" in text and "Fig. 2d" in text and "Run the paper" in text
        got = _download(d, downloads, "report.html", ".html", timeout=60)
        assert got.read_bytes() == (out / "report.html").read_bytes()
        _screenshot(d, "paper-page", whole=True)
