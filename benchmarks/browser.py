"""The dashboard in a real browser, timed as a user sees it (Debian's chromium and
chromedriver, `make browser`). Prints one JSON line.

    python -m benchmarks.browser load --runs DIR [--job ID] [--page Stragglers] [--repeat 5]
    python -m benchmarks.browser quick --runs DIR [--compare]
    python -m benchmarks.browser home --runs DIR [--repeat 3]

`load`: from navigating to a page of a finished job until its download buttons are
there and every image has arrived (the Stragglers gallery is the heaviest page).
With no job in DIR it first trains the paper's run there (MNIST, P = 8192, 20 seeds,
300 epochs) through the job queue. The first load includes Streamlit's start-up of
the page's script (imports), the others are warm.
`home`: the home page's first load on a freshly started server (each repeat starts
one: Streamlit imports the page's modules on its first session), until its first
meaningful paint (the title and the preset buttons) and until it has settled (the
figure drawn); with an empty runs folder the figure is the demo computed there.
`quick`: a lecture's first minute -- from the click on the home page's quick-demo
button until the live view shows the inversion band, and until the job is done, with
where the seconds went (click -> queued -> a worker started it -> finished -> band);
`--compare`: the same without and with the home page's warm worker, side by side.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The page is drawn: its script is not running, no element is still a placeholder
# (Streamlit shows skeletons for elements of a run under way), every image arrived.
SETTLED_JS = """
return !document.querySelector('[data-testid="stSkeleton"], [data-testid^="stStatusWidgetRunning"]')
    && [...document.images].every(i => i.complete && i.naturalWidth > 0);
"""
READY_JS = """
const buttons = [...document.querySelectorAll('button')].map(b => b.innerText.trim());
return buttons.some(t => t.startsWith(arguments[0]));
"""


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _until(predicate, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"not ready after {timeout} s")
        time.sleep(0.05)


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
            return r.read().strip() == b"ok"
    except OSError:
        return False


def ensure_job(runs: Path, env: dict) -> int:
    from engine.jobs.store import Store
    store = Store(runs / "store.sqlite")
    done = store.list_jobs(kind="run", status="done")
    if done:
        return int(done[0]["id"])
    out = subprocess.run([sys.executable, "-m", "engine", "jobs", "submit", "--dataset", "mnist", "--seeds", "20",
                          "--epochs", "300", "--wait"], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    return int(out.stdout.split()[0])


def _server(port: int, env: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
                             "--server.headless", "true", "--browser.gatherUsageStats", "false"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


@contextmanager
def _served(runs: Path):
    """(port, driver): a Streamlit server started here on the store in `runs`, and a
    browser. Whatever happens (a timeout, an error, Ctrl-C, SIGTERM from an outer
    timeout), both are stopped after, the server's process group killed, and so are
    the job workers it started (their own sessions: their pids are in the store)."""
    port = _port()
    server = _server(port, dict(os.environ))
    driver = None
    try:
        _until(lambda: _healthy(port) or server.poll() is not None, 60)
        if server.poll() is not None:
            raise RuntimeError(f"the streamlit server exited with {server.returncode}")
        driver = _driver()
        yield port, driver
    finally:
        if driver is not None:
            driver.quit()
        _stop(server)
        _stop_workers(runs)


def _stop(server: subprocess.Popen) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(server.pid, sig)
        except ProcessLookupError:
            return
        try:
            server.wait(10)
            return
        except subprocess.TimeoutExpired:
            pass


def _stop_workers(runs: Path) -> None:
    import sqlite3
    path = runs / "store.sqlite"
    if not path.exists():
        return
    with sqlite3.connect(path, timeout=10) as c:
        pids = {r[0] for r in c.execute("SELECT pid FROM workers")} | \
               {r[0] for r in c.execute("SELECT pid FROM jobs WHERE status IN ('running', 'queued')")}
    for pid in pids - {None, os.getpid()}:
        try:
            os.kill(pid, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            pass


def _exit_on(signum, frame):
    raise SystemExit(128 + signum)  # so that the finally blocks stop what was started


def _driver():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,1800"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def page_load(driver, base: str, a) -> dict:
    job = a.job or ensure_job(a.runs.resolve(), dict(os.environ))
    url = f"{base}/{a.page}?job={job}"
    seconds = []
    for _ in range(a.repeat):
        driver.get("about:blank")
        start = time.perf_counter()
        driver.get(url)
        _until(lambda: driver.execute_script(READY_JS, a.ready) and driver.execute_script(SETTLED_JS), 120)
        seconds.append(time.perf_counter() - start)
    return {"page": a.page, "job": job, "first_s": round(seconds[0], 2),
            "warm_median_s": round(statistics.median(seconds[1:] or seconds), 2),
            "all_s": [round(s, 2) for s in seconds]}


CLICK_JS = """
const b = [...document.querySelectorAll('button')].find(b => b.innerText.trim().startsWith(arguments[0]));
if (b) b.click();
return !!b;
"""


def quick_demo(driver, base: str, a) -> dict:
    from engine.jobs.store import Store
    driver.get(base)
    _until(lambda: driver.execute_script(CLICK_JS, "Quick demo"), 60)
    start, clicked = time.perf_counter(), time.time()
    body = lambda: driver.execute_script("return document.body.innerText")  # noqa: E731
    store = Store(a.runs.resolve() / "store.sqlite")
    failed = lambda: ("Could not start" in body() or  # noqa: E731
                      any(j["status"] == "failed" for j in store.list_jobs()))
    _until(lambda: "Inversion: mean t*" in body() or failed(), a.timeout)
    if failed():
        raise RuntimeError("the quick demo did not start or failed: " + body()[:2000])
    band_s, band_at = time.perf_counter() - start, time.time()
    _until(lambda: any(j["status"] in ("done", "failed") for j in store.list_jobs()), 600)
    job = store.list_jobs()[0]
    # where the seconds go: the click until the job is queued (the page's rerun, the checks),
    # queued until a worker has claimed it (its start-up), the job, its end until the band shows
    at = {k: job.get(k) for k in ("created", "started", "finished")}
    phases = {"click_to_queued_s": at["created"] - clicked, "queued_to_started_s": at["started"] - at["created"],
              "started_to_finished_s": at["finished"] - at["started"]} if None not in at.values() else {}
    return {"band_after_click_s": round(band_s, 1), "job_done_after_click_s": round(time.perf_counter() - start, 1),
            **{k: round(v, 1) for k, v in phases.items()}, "band_after_finished_s":
            round(band_at - at["finished"], 1) if at["finished"] else None,
            "load_1min": os.getloadavg()[0], "job": job["id"], "status": job["status"], "config": job["config"]}


FIRST_PAINT_JS = """
const buttons = [...document.querySelectorAll('button')].map(b => b.innerText.trim());
return document.body.innerText.includes('Stragglers: inversion dynamics') && buttons.some(t => t.startsWith('Quick demo'));
"""
FIGURE_JS = "return !!document.querySelector('.js-plotly-plot .main-svg');"


def home_load(a) -> dict:
    """Cold loads of the home page, each on a server started for it."""
    rows = []
    for _ in range(a.repeat):
        with _served(a.runs.resolve()) as (port, driver):
            driver.get("about:blank")
            start = time.perf_counter()
            driver.get(f"http://127.0.0.1:{port}/")
            _until(lambda: driver.execute_script(FIRST_PAINT_JS), 180)
            first = time.perf_counter() - start
            _until(lambda: driver.execute_script(FIGURE_JS) and driver.execute_script(SETTLED_JS), 300)
            rows.append({"first_paint_s": round(first, 2), "settled_s": round(time.perf_counter() - start, 2)})
    return {"page": "Home", "runs": str(a.runs), "loads": rows,
            "first_paint_median_s": statistics.median(r["first_paint_s"] for r in rows),
            "settled_median_s": statistics.median(r["settled_s"] for r in rows), "load_1min": os.getloadavg()[0]}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.browser")
    sub = p.add_subparsers(dest="what", required=True)
    load = sub.add_parser("load", help="a page's load time for a finished job")
    load.add_argument("--job", type=int, help="a finished job (default: the first finished run, trained if none)")
    load.add_argument("--page", default="Stragglers")
    load.add_argument("--ready", default="CSV", help="a button whose presence means the page is drawn")
    load.add_argument("--repeat", type=int, default=5)
    quick = sub.add_parser("quick", help="click on the quick demo -> inversion band (use an empty store)")
    quick.add_argument("--timeout", type=float, default=300, help="seconds to wait for the band")
    quick.add_argument("--compare", action="store_true",
                       help="twice, each on a fresh server and an empty store under DIR: without the home page's "
                            "warm worker (today's path before it), then with it")
    home = sub.add_parser("home", help="cold first loads of the home page, a fresh server each")
    home.add_argument("--repeat", type=int, default=3)
    for s in (load, quick, home):
        s.add_argument("--runs", type=Path, required=True, help="the store's folder (STRAGGLERS_RUNS)")
    a = p.parse_args(argv)
    os.environ["STRAGGLERS_RUNS"] = str(a.runs.resolve())
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _exit_on)
    if a.what == "home":
        print(json.dumps(home_load(a)))
        return 0
    if a.what == "quick" and a.compare:
        out = {}
        for label, linger in (("cold", "0"), ("warm", "")):
            one = argparse.Namespace(**{**vars(a), "runs": a.runs / label})
            os.environ.update(STRAGGLERS_RUNS=str(one.runs.resolve()), STRAGGLERS_WARM_WORKER=linger)
            with _served(one.runs.resolve()) as (port, driver):
                out[label] = quick_demo(driver, f"http://127.0.0.1:{port}", one)
            out[label].pop("config")
        print(json.dumps(out))
        return 0
    with _served(a.runs.resolve()) as (port, driver):
        out = (page_load if a.what == "load" else quick_demo)(driver, f"http://127.0.0.1:{port}", a)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
