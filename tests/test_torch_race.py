"""The first click of a lecture: on a fresh server the page thread asks "is there a
GPU?" (jobs.refresh's worker cap, preflight's device, the estimate's device) while
another thread of the same process (the machine's measurement for the estimates, the
home figure's demo) is importing torch. A check that peeks into sys.modules then finds
a half-initialised torch ("partially initialized module 'torch' has no attribute
'cuda'") and the Quick demo is refused. Reproduced in a fresh interpreter: one thread
imports torch, the other asks the three questions until the import has finished."""
import subprocess
import sys

from helpers import ROOT

RACE = r"""
import threading, time, traceback
from engine.config import RunConfig
from engine.environment import gpu_count
from engine.planning.estimate import device_of
from engine.planning.preflight import device_kind
import sys
assert "torch" not in sys.modules
cfg = RunConfig(dataset="digits", device="auto")
errors, asked = [], [0]
def importer():
    import torch  # noqa: F401
done = threading.Thread(target=importer)
done.start()
while done.is_alive():
    for ask in (gpu_count, lambda: device_of(cfg), lambda: device_kind(cfg)):
        try:
            ask()
            time.sleep(0.0005)
        except Exception:
            errors.append(traceback.format_exc(limit=1))
        asked[0] += 1
done.join()
print("asked", asked[0], "errors", len(errors))
if errors:
    print(errors[0])
    raise SystemExit(1)
"""


def test_asking_for_the_device_while_another_thread_imports_torch():
    proc = subprocess.run([sys.executable, "-c", RACE], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "asked" in proc.stdout
