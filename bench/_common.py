"""Shared set-up for the benchmarks: a throwaway MEDLAB_HOME and a sink that keeps metrics in memory."""
from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def temporary_home() -> Path:
    """Benchmarks never touch the user's MEDLAB_HOME; built-in datasets are still shared if configured. The home
    (datasets, runs, weights: tens of megabytes) is removed when the benchmark exits."""
    home = Path(tempfile.mkdtemp(prefix="medlab-bench-"))
    os.environ["MEDLAB_HOME"] = str(home)
    atexit.register(shutil.rmtree, home, ignore_errors=True)
    return home


class ListSink:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def write_events(self, events: list[dict[str, Any]]) -> None:
        self.events += events

    def progress(self, **fields: Any) -> None:
        pass
