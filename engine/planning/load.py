"""How busy this machine is now, and what that costs a run.

A lecturer's laptop is never idle. The calibration (engine.planning.calibration) is one
moment, measured under whatever else ran then; an estimate made later sees another
load. Both are read the same way, as the cores kept busy by other work, from the
kernel's own CPU counters over a short sample (/proc/stat), and the estimate scales
the calibrated training time by slowdown(now) / slowdown(then).

slowdown(b) for b busy cores of C: torch's CPU kernels run one OpenMP thread per core
and each parallel region waits for its slowest thread, so the first busy core costs
a whole factor (one thread gets half a core: the region takes twice as long); more
busy cores, up to C, cost little more; beyond C every core is time-shared. Measured
here (2 cores): one core kept busy made a run 2.06x slower, two busy cores about 2x.
"""
from __future__ import annotations

import os
import time

SAMPLE_S = 0.25      # the sample of the CPU counters: long enough to see a busy core
BUSY_ENV = "STRAGGLERS_BUSY_CORES"  # a fixed reading instead (benchmarks, tests)
NOTICE = 1.2         # a slowdown above this is said in the estimate's words


def _cpu_times() -> tuple[int, int] | None:
    """(idle + iowait, total) jiffies of all cores, or None without /proc/stat."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    return fields[3] + (fields[4] if len(fields) > 4 else 0), sum(fields[:8])


def busy_cores(sample_s: float = SAMPLE_S) -> float:
    """Cores kept busy by other processes now (0 .. cores, more when oversubscribed:
    the runnable tasks beyond the cores, from the load average)."""
    fixed = os.environ.get(BUSY_ENV)
    if fixed:
        return max(0.0, float(fixed))
    cores = os.cpu_count() or 1
    own0 = time.process_time()
    first = _cpu_times()
    time.sleep(sample_s)
    second = _cpu_times()
    own = time.process_time() - own0  # this process's own share of the sample is not "other work"
    if first is None or second is None or second[1] <= first[1]:
        return min(max(os.getloadavg()[0], 0.0), 4.0 * cores)
    total = second[1] - first[1]
    busy = cores * (1.0 - (second[0] - first[0]) / total) - own / sample_s
    queued = max(0.0, os.getloadavg()[0] - cores)  # waiting for a core: a time-shared machine
    return max(0.0, busy) + (queued if busy >= cores - 0.5 else 0.0)


def slowdown(busy: float, cores: int | None = None) -> float:
    """How many times longer a run takes with `busy` cores kept busy by other work."""
    cores = cores or os.cpu_count() or 1
    return 1.0 + min(busy, 1.0) + max(0.0, busy - cores) / cores


def words(busy: float, factor: float, cores: int | None = None) -> str:
    """'' on an idle machine; else what the load costs, for the estimate's sentence."""
    cores = cores or os.cpu_count() or 1
    if factor < NOTICE:
        return ""
    return f"the machine is busy now (about {busy:.1f} of {cores} cores taken by other work): x{factor:.1f}"
