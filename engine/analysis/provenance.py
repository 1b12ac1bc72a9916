"""How a result was computed, for its manifest: the versions of what computed it and
the git commit of this checkout (None outside a git checkout)."""
from __future__ import annotations

import platform
import subprocess
from importlib.metadata import version
from pathlib import Path

import numpy as np

from engine import __version__


def versions() -> dict:
    import torch
    return {"stragglers": __version__, "python": platform.python_version(), "numpy": np.__version__,
            "torch": torch.__version__, "scipy": version("scipy")}


def git_commit() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
                              text=True, timeout=5).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None
