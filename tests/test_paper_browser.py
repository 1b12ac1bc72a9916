"""report.html opened from disk in headless Chromium with the network switched off,
as from a USB stick: every figure is drawn, and the page asks nothing of the network
(every request Chromium logs for the page is the file itself or inline data)."""
import json

from engine.paper.book import plan, run
from test_e2e_browser import _chrome, _screenshot, _wait
from test_paper import TINY

DRAWN_JS = "return document.querySelectorAll('.js-plotly-plot .main-svg').length;"


def test_the_report_opens_offline_and_draws_every_figure(tmp_path):
    only = ["1e-f", "2d"]
    run(tmp_path / "report", TINY, plan(TINY, ["digits"], only=only, out=str(tmp_path / "report")), ["digits"])
    with _chrome(tmp_path / "profile", network_log=True) as d:
        d.execute_cdp_cmd("Network.enable", {})
        d.execute_cdp_cmd("Network.emulateNetworkConditions", {"offline": True, "latency": 0,
                                                               "downloadThroughput": -1, "uploadThroughput": -1})
        d.get((tmp_path / "report" / "report.html").as_uri())
        _wait(lambda: d.execute_script(DRAWN_JS) >= len(only), 60, "every figure drawn")
        headings = d.execute_script("return [...document.querySelectorAll('h2')].map(h => h.innerText);")
        assert [h.split(":")[0] for h in headings] == [f"Fig. {i}" for i in only]
        assert all(any(v in h for v in ("matches", "differs", "undetermined")) for h in headings)
        events = [json.loads(e["message"])["message"] for e in d.get_log("performance")]
        # the report's requests (Chromium's own new-tab page asks for chrome:// resources: not ours)
        urls = [m["params"]["request"]["url"] for m in events if m["method"] == "Network.requestWillBeSent"
                and m["params"].get("documentURL", "").startswith("file:")]
        assert any(u.endswith("report.html") for u in urls) and not [u for u in urls if not u.startswith(("file:", "data:", "blob:"))], urls
        _screenshot(d, "paper-report", whole=True)
