"""`streamlit run app.py` in headless Chromium, on a freshly started server whose first
visitor opens a page by its URL (/Run): the navigation is app.py's from the first
paint to the end (Home first, then the pages in file order), never Streamlit's own
listing of pages/ (its first label would be the entry file's name, "app"). Every state
the navigation passes through is recorded in the page by a MutationObserver installed
before the page's own scripts."""
import time

import pytest

from test_e2e_browser import NAV_LINKS, _chrome, _screenshot, _serve, _wait

PAGES = ["Home", "Run", "Inversion", "Stragglers", "Map", "Pruning", "Stability and scaling", "Your data", "Scores", "Data selection", "Paper"]
RECORD_JS = """
window.__navs = [];
const links = () => [...document.querySelectorAll('%s')].map(a => a.innerText.trim());
const record = () => {
  const now = JSON.stringify([...new Set(links())]);
  if (window.__navs[window.__navs.length - 1] !== now) window.__navs.push(now);
};
new MutationObserver(record).observe(document, {subtree: true, childList: true, characterData: true});
"""
RECORD_JS = RECORD_JS.replace("%s", NAV_LINKS)
NAVS_JS = "return (window.__navs || []).map(s => JSON.parse(s)).filter(n => n.length);"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("entry")
    with _serve(tmp / "runs", tmp / "server.log") as url:
        yield url, tmp


def _navigations(d, url):
    """Every non-empty navigation the page showed while it loaded `url` and settled."""
    d.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": RECORD_JS})
    d.get(url)
    _wait(lambda: d.execute_script(NAVS_JS), 60, "a navigation")
    time.sleep(3)  # a replaced navigation would come within the first run
    return d.execute_script(NAVS_JS)


def test_a_page_opened_first_on_a_fresh_server_has_the_apps_navigation(server):
    url, tmp = server
    with _chrome(tmp / "profile") as d:
        navs = _navigations(d, url + "/Run")
        assert navs and all(n == PAGES for n in navs), navs  # one navigation, Home first, from the start
        assert "Run" in d.title and "New run" in d.find_element("tag name", "body").text
        _screenshot(d, "entry-run-first")
        navs = _navigations(d, url + "/")
        assert navs and all(n == PAGES for n in navs), navs
        _wait(lambda: "Stragglers: inversion dynamics" in d.find_element("tag name", "body").text, 60, "the home page")
        _screenshot(d, "entry-home")
