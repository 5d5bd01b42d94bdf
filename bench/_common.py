"""Shared set-up for the benchmarks: a throwaway MEDLAB_HOME and a sink that keeps metrics in memory."""
from __future__ import annotations

import atexit
import os
import platform
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


def machine_conditions(software: str) -> str:
    """The machine a figure was measured on: CPU model, cores, load average, and `software` (versions that matter
    to the figure)."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    return f"{model}; {os.cpu_count()} logical cores; load average {load} (1/5/15 min); {software}"


class ListSink:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def write_events(self, events: list[dict[str, Any]]) -> None:
        self.events += events

    def progress(self, **fields: Any) -> None:
        pass
