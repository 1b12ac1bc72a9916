"""End to end in a real headless Chromium: start the app on a free port with its own
store, launch the quick preset from the home page, watch the live curve gain points
while the worker trains, cancel it, then open the Inversion and Stragglers pages of a
finished run and download their CSVs. Screenshots go to tests/artifacts/screens/.

The quick preset is shrunk for the test with STRAGGLERS_QUICK_PRESET: digits (no
download), 10 seeds, and a wide hidden layer (H = 200) so that an epoch takes tens
of milliseconds or more on a CPU and the curve visibly grows between two reads.
A finished run (tests/helpers.seed_store) is written into the same store
before the app starts, for the analysis pages.
"""
import csv
import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

from helpers import ROOT, env_restored, seed_store, wait_until
from engine.jobs import views

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
SCREENS = ROOT / "tests" / "artifacts" / "screens"
QUICK = "dataset=digits,n_train=1024,seeds=10,epochs=3000,width=200,device=cpu"

pytestmark = pytest.mark.skipif(
    not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)),
    reason="needs Debian's chromium and chromedriver in /usr/bin (`make browser` installs them)")

# name -> [points, last x] of the mean curves drawn: plotly.js's decoded traces (_fullData;
# `data` keeps the typed-array spec {dtype, bdata} as Streamlit sent it).
# Scoped by a CSS selector: right after a page switch the previous page's figures are
# still in the DOM until the new run replaces them (Streamlit marks keyed elements
# with the class st-key-<key>; the live chart's key is live-<job id>).
MEAN_POINTS_JS = """
const out = {};
document.querySelectorAll((arguments[0] || '') + ' .js-plotly-plot').forEach(gd => (gd._fullData || []).forEach(t => {
  if (t.meta === 'mean' && t.x && t.x.length !== undefined)
    out[t.name] = [t.x.length, t.x.length ? Number(t.x[t.x.length - 1]) : null];
}));
return out;
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(predicate, timeout, what):
    return wait_until(predicate, timeout, what, poll=0.25)


def _healthy(port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
            return r.read().strip() == b"ok"
    except OSError:
        return False


@contextmanager
def _serve(runs: Path, log_path: Path, **env_extra):
    """The app on a free port serving the store in `runs`; yields its base url. The
    server and any worker it started are stopped after."""
    port = _free_port()
    env = dict(os.environ, STRAGGLERS_RUNS=str(runs), PYTHONUNBUFFERED="1", **env_extra)
    log = open(log_path, "wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port), "--server.headless", "true",
         "--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait(lambda: _healthy(port) or server.poll() is not None, 60, "the streamlit server")
        assert server.poll() is None, log_path.read_text()
        yield f"http://127.0.0.1:{port}"
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        log.close()
        _stop_workers(runs)


@pytest.fixture
def app(tmp_path):
    """(base url, store, finished job id, download dir): the app serving a store that
    already holds one finished run; the server and any worker it started are stopped after."""
    runs, downloads = tmp_path / "runs", tmp_path / "downloads"
    downloads.mkdir()
    with env_restored():
        store, job_id = seed_store(runs)
    with _serve(runs, tmp_path / "server.log", STRAGGLERS_QUICK_PRESET=QUICK) as url:
        yield url, store, job_id, downloads


def _stop_workers(runs: Path):
    """Workers the app spawned for this store (their pids are in it), never this process."""
    import sqlite3
    path = runs / "store.sqlite"
    if not path.exists():
        return
    with sqlite3.connect(path) as c:
        pids = {r[0] for r in c.execute("SELECT pid FROM workers")} | \
               {r[0] for r in c.execute("SELECT pid FROM jobs WHERE status='running'")}
    for pid in pids - {None, os.getpid()}:
        try:
            os.kill(pid, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            pass


@contextmanager
def _chrome(profile: Path, downloads: Path | None = None, network_log: bool = False):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", "--window-size=1400,1800", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    if downloads is not None:
        options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                                  "download.prompt_for_download": False})
    if network_log:  # every request the page makes, in driver.get_log("performance")
        options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    if downloads is not None:
        driver.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def browser(app, tmp_path):
    with _chrome(tmp_path / "chrome-profile", app[3]) as driver:
        yield driver


FULL_HEIGHT_JS = """
const main = document.querySelector('[data-testid="stMain"]') || document.body;
return Math.max(main.scrollHeight, document.body.scrollHeight);
"""


def _screenshot(driver, name, whole: bool = False):
    """Once the page has settled (up to 10 s): a screenshot taken as soon as the text
    is there shows placeholders and empty image frames. `whole`: the whole page, the
    window stretched to its height (Streamlit scrolls inside its own container)."""
    SCREENS.mkdir(parents=True, exist_ok=True)
    from benchmarks.browser import SETTLED_JS
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not driver.execute_script(SETTLED_JS):
        time.sleep(0.2)
    if not whole:
        driver.save_screenshot(str(SCREENS / f"{name}.png"))
        return
    size = driver.get_window_size()
    driver.set_window_size(size["width"], min(max(driver.execute_script(FULL_HEIGHT_JS) + 200, size["height"]), 7000))
    time.sleep(1.0)  # the figures redraw at the new size
    driver.save_screenshot(str(SCREENS / f"{name}.png"))
    driver.set_window_size(size["width"], size["height"])


# Streamlit re-renders elements on every rerun: find and click in ONE script, so a
# reference never goes stale between the two.
BUTTON_JS = """
const b = [...document.querySelectorAll('button')].find(b => b.innerText.trim().startsWith(arguments[0]));
if (b && arguments[1]) { b.scrollIntoView({block: 'center'}); b.click(); }
return !!b;
"""


def _button(driver, text) -> bool:
    """Whether a button whose text starts with `text` is on the page."""
    return driver.execute_script(BUTTON_JS, text, False)


def _click(driver, text, timeout=30) -> None:
    _wait(lambda: driver.execute_script(BUTTON_JS, text, True), timeout, f"the {text!r} button")


def _body(driver):
    from selenium.webdriver.common.by import By
    return driver.find_element(By.TAG_NAME, "body").text


def _download(driver, downloads: Path, button_text: str, suffix: str, timeout=30) -> Path:
    before = set(downloads.iterdir())
    _click(driver, button_text, timeout)
    return _wait(lambda: next((p for p in set(downloads.iterdir()) - before
                               if p.name.endswith(suffix) and p.stat().st_size > 0), None),
                 timeout, f"a downloaded {suffix} file")


def test_quick_preset_live_then_analysis_pages(app, browser):
    from engine.analysis.report import straggler_table
    start = time.monotonic()
    url, store, job_id, downloads = app
    d = browser

    # home: the finished run's figure, the presets, the job list
    d.get(url + "/")
    _wait(lambda: _button(d, "Quick demo"), 60, "the quick preset button")
    _wait(lambda: d.execute_script(MEAN_POINTS_JS, ".st-key-home-figure"), 30, "the home figure")
    assert "Jobs" in _body(d) and f"#{job_id} · digits" in _body(d)
    _screenshot(d, "home")

    # the quick preset: queued, a worker starts, the live view polls the store
    _click(d, "Quick demo")
    _wait(lambda: "job=" in d.current_url, 30, "the Run page of the new job")
    live_id = int(d.current_url.split("job=")[1].split("&")[0])
    assert live_id != job_id
    live = f".st-key-live-{live_id}"
    first = _wait(lambda: (p := d.execute_script(MEAN_POINTS_JS, live)).get("R₊", [0])[0] >= 2 and p, 60,
                  "the first epochs on the live curve")
    n1, last1 = first["R₊"]
    second = _wait(lambda: (p := d.execute_script(MEAN_POINTS_JS, live)).get("R₊", [0])[0] > n1 and p, 30,
                   "the live curve to gain points")
    n2, last2 = second["R₊"]
    assert n2 > n1 and last2 > last1
    job = store.get_job(live_id)
    assert job["status"] == "running" and job["config"]["width"] == 200
    assert "running · epoch" in _body(d)
    _screenshot(d, "run-live")

    # cancel from the live view: the worker stops between epochs, the page stops polling
    _click(d, "Cancel this run")
    _wait(lambda: store.get_job(live_id)["status"] == "cancelled", 30, "the job to be cancelled")
    _wait(lambda: "cancelled · epoch" in _body(d), 15, "the page to show the cancelled run")
    shown = d.execute_script(MEAN_POINTS_JS, live)["R₊"][0]
    time.sleep(2.5)
    assert d.execute_script(MEAN_POINTS_JS, live)["R₊"][0] == shown  # no more updates

    # Inversion: the finished run, its φ table as CSV
    d.get(url + f"/Inversion?jobs={job_id}")
    _wait(lambda: len(d.execute_script(MEAN_POINTS_JS, ".st-key-overlay")) == 1, 60, "the overlay figure")
    _screenshot(d, "inversion")
    phi = _download(d, downloads, "Download phi.csv", "phi.csv")
    [row] = list(csv.DictReader(io.StringIO(phi.read_text())))
    summary = views.summary(store, job_id)
    assert float(row["φ mean"]) == pytest.approx(summary["inversion"]["phi"]["mean"])
    assert float(row["φ std"]) == pytest.approx(summary["inversion"]["phi"]["std"])

    # Stragglers (the analysis pages' engineer): the CSV equals engine.analysis.report.straggler_table
    d.get(url + f"/Stragglers?job={job_id}")
    _wait(lambda: "stragglers" in _body(d).lower() and _button(d, "CSV"), 60, "the Stragglers page")
    _screenshot(d, "stragglers")
    got = list(csv.DictReader(io.StringIO(_download(d, downloads, "CSV", ".csv").read_text())))
    want = straggler_table(store.result(job_id), views.dataset(store, job_id))
    assert len(got) == len(want) > 0
    assert [int(r["index"]) for r in got] == [r["index"] for r in want]
    assert [float(r["consensus"]) for r in got] == pytest.approx([r["consensus"] for r in want])
    assert list(got[0]) == ["index", "class", "label", "consensus", "learned_epoch"]
    print(json.dumps({"e2e_seconds": round(time.monotonic() - start, 1), "live_points": [n1, n2]}))


# --- every page, with a fresh store and with finished jobs --------------------------------------

# url path -> the page's title (h1) once drawn
PAGES = {"": "Stragglers: inversion dynamics of class manifolds", "Run": "Run", "Inversion": "Inversion",
         "Stragglers": "Stragglers", "Map": "Map of the stragglers", "Pruning": "Pruning the stragglers",
         "Stability_and_scaling": "Stability and scaling", "Your_data": "Your data",
         "Scores": "Stragglers and classic difficulty scores", "Data_selection": "Which points to keep?",
         "Paper": "The paper, rerun here"}
PROBLEMS_JS = """
return [...document.querySelectorAll('[data-testid="stException"], [data-testid="stAlertContentError"]')]
    .map(e => e.innerText.slice(0, 300));
"""
# the navigation's links, wherever app.py puts them (the top bar; the sidebar's listing is hidden)
NAV_LINKS = '[data-testid="stSidebarNav"] a, [data-testid="stSidebarNavLink"], [data-testid="stTopNavLink"]'
NAV_JS = f"return [...new Set([...document.querySelectorAll('{NAV_LINKS}')].map(a => a.innerText.trim()))];"
TITLE_JS = "return [...document.querySelectorAll('h1')].map(h => h.innerText.trim());"


def _page_drawn(driver, title: str, timeout: float = 240) -> None:
    """The page's title is there and the page has settled (script done, images in)."""
    from benchmarks.browser import SETTLED_JS
    _wait(lambda: title in driver.execute_script(TITLE_JS), timeout, f"the page {title!r}")
    _wait(lambda: driver.execute_script(SETTLED_JS), timeout, f"the page {title!r} to settle")


def _every_page(driver, url: str, prefix: str, query: str = "") -> None:
    """Open every page: none shows an exception or an error box; a screenshot of each."""
    for path, title in PAGES.items():
        driver.get(f"{url}/{path}{query}")
        _page_drawn(driver, title)
        time.sleep(0.5)  # a fragment's first run (the live job list, an experiment's progress)
        problems = driver.execute_script(PROBLEMS_JS)
        assert not problems, f"{path or 'Home'} ({prefix}): {problems}"
        _screenshot(driver, f"{prefix}-{path or 'Home'}", whole=True)


def _finished_experiments(store, job_id: int) -> None:
    """The experiments each analysis page asks for by default, run to the end as a
    worker runs them, so that the pages draw their figures."""
    from dashboard.analysis_ui import experiment_config
    from helpers import job_once
    run = store.get_job(job_id)
    epochs = int(run["config"]["epochs"])
    P = int(run["config"]["n_train"])
    for kind, options in [("prune", dict(retrain_epochs=epochs)),
                          ("sweep", dict(n_grid=8, sigmas=[0.0, 0.5, 0.75, 1.0, 1.2, 1.5], retrain_epochs=epochs)),
                          ("stability", dict(n_grid=16)),
                          ("scaling", dict(n_trains=sorted({max(2, P // 4), max(2, P // 2), P}))),
                          ("embed", dict(perplexity=30.0, n_iter=500, early_iter=250))]:
        job_once(store, kind, experiment_config(run, **options))


def test_every_page_without_an_error_on_a_fresh_store_and_with_finished_jobs(tmp_path):
    fresh, seeded = tmp_path / "fresh", tmp_path / "seeded"
    with _serve(fresh, tmp_path / "fresh.log") as url, _chrome(tmp_path / "profile-fresh") as d:
        # a sub-page opened first lists Home as Home (it said 'app' until Home was visited)
        d.get(f"{url}/Inversion")
        _page_drawn(d, "Inversion")
        assert d.execute_script(NAV_JS)[:2] == ["Home", "Run"]
        _every_page(d, url, "fresh")
    with env_restored():
        store, job_id = seed_store(seeded)
        _finished_experiments(store, job_id)
    with _serve(seeded, tmp_path / "seeded.log") as url, _chrome(tmp_path / "profile-seeded") as d:
        _every_page(d, url, "finished", f"?job={job_id}")
        d.get(f"{url}/Inversion?jobs={job_id}&x=error")  # the other x axis
        _page_drawn(d, "Inversion")
        assert not d.execute_script(PROBLEMS_JS)
        _screenshot(d, "finished-Inversion-error")
