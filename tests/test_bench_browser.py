"""`python -m benchmarks.browser quick` on a fresh server (empty runs folder): the click
on Quick demo, as soon as the button is there, starts the demo (the click used to
race the estimates' background import of torch and create no job); and a benchmark
that fails, times out or is killed leaves nothing running: not its Streamlit server,
not the browser, not the job worker the click started. The quick preset is shrunk
(digits, P = 512, 60 epochs at η = 1, the home demo's run: its inversion is present)."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import ROOT, wait_until

pytestmark = pytest.mark.skipif(not (os.path.exists("/usr/bin/chromium") and os.path.exists("/usr/bin/chromedriver")),
                                reason="needs Debian's chromium and chromedriver in /usr/bin")
QUICK = "dataset=digits,n_train=512,seeds=10,epochs=60,lr=1,device=cpu"


def _bench(runs: Path, *extra, **popen):
    env = dict(os.environ, STRAGGLERS_QUICK_PRESET=QUICK)
    return subprocess.Popen([sys.executable, "-m", "benchmarks.browser", "quick", "--runs", str(runs), *extra],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)


def _processes_on(runs: Path) -> list:
    """(pid, command) of this user's processes that serve or work on the store in `runs`."""
    mark = f"STRAGGLERS_RUNS={runs.resolve()}".encode()
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and mark in (proc / "environ").read_bytes().split(b"\0"):
                found.append((int(proc.name), (proc / "cmdline").read_bytes().replace(b"\0", b" ")[:120]))
        except OSError:
            pass
    return found


def _nothing_left(runs: Path):
    wait_until(lambda: not _processes_on(runs), 20, "every process of the benchmark to end", poll=0.5)


def test_the_first_click_on_a_fresh_server_starts_the_demo(tmp_path):
    runs = tmp_path / "runs"
    bench = _bench(runs)
    out, err = bench.communicate(timeout=400)
    assert bench.returncode == 0, err[-3000:]
    result = json.loads(out.strip().splitlines()[-1])
    assert result["status"] == "done" and result["band_after_click_s"] > 0, result
    _nothing_left(runs)


def test_a_benchmark_that_times_out_stops_what_it_started(tmp_path):
    runs = tmp_path / "runs"
    bench = _bench(runs, "--timeout", "0.01")  # the click queues the job, then the wait gives up at once
    _, err = bench.communicate(timeout=300)
    assert bench.returncode != 0 and "TimeoutError" in err, err[-3000:]
    _nothing_left(runs)


def test_a_benchmark_killed_by_sigterm_stops_what_it_started(tmp_path):
    runs = tmp_path / "runs"
    bench = _bench(runs)
    wait_until(lambda: (runs / "store.sqlite").exists() and len(_processes_on(runs)) > 2, 120,
               "the server and the browser", poll=0.5)  # the benchmark, its server, chromium
    time.sleep(2)
    bench.send_signal(signal.SIGTERM)  # what `timeout` sends
    bench.communicate(timeout=60)
    assert bench.returncode != 0
    _nothing_left(runs)
