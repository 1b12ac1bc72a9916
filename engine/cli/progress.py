"""The one progress bar of the command line: runs, experiments and waited-for jobs
all draw it, on a TTY only (a pipe or a log file gets no carriage returns)."""
from __future__ import annotations

import sys
import time


class Progress:
    """A one-line progress bar with ETA on a TTY; silent otherwise."""

    def __init__(self, total: int = 1, label: str = "epochs", stream=None):
        self.total, self.label = max(int(total), 1), label
        self.stream = stream or sys.stderr  # looked up now, not at import (it may have been replaced since)
        self.start = time.perf_counter()
        self.enabled = self.stream.isatty()

    def __call__(self, done: int, total: int | None = None, eta_s: float | None = None, note: str = "") -> None:
        """Draw `done` of `total` (default: the total given at creation). The ETA is the
        caller's when it has one (a job's own), else from the elapsed time."""
        if not self.enabled:
            return
        self.total = max(int(total), 1) if total is not None else self.total
        elapsed = time.perf_counter() - self.start
        if eta_s is None and done:
            eta_s = elapsed / done * (self.total - done)
        eta = f"ETA {eta_s:5.1f}s" if eta_s is not None else ""
        bar = "#" * int(30 * min(done, self.total) / self.total)
        text = f"[{bar:<30}] {done}/{self.total} {self.label}  {elapsed:5.1f}s  {eta} {note}".rstrip()
        self.stream.write(f"\r{text:<80}")
        if done >= self.total:
            self.end()
        self.stream.flush()

    def text(self, line: str) -> None:
        """A status line in the bar's place (e.g. a job still queued)."""
        if self.enabled:
            self.stream.write(f"\r{line:<80}")
            self.stream.flush()

    def end(self) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()


