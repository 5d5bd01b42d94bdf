"""The default executor: each run's worker is a process on this machine (`python -m core.jobs.worker RUN_ID`),
never the server's own thread, so a crashing job cannot take the server or other jobs down."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch

from core.jobs.executor import PROJECT_ROOT
from core.jobs.store import RunRecord


class LocalExecutor:
    name = "local"

    def launch(self, record: RunRecord, device: str, env: dict[str, str], log_path: Path, workers: int = 1
               ) -> subprocess.Popen:
        with log_path.open("a") as log:
            return subprocess.Popen([sys.executable, "-m", "core.jobs.worker", record.id], cwd=PROJECT_ROOT, env=env,
                                    stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def describe(self, handle: subprocess.Popen) -> str:
        return f"its worker process (pid {handle.pid})"

    def devices(self) -> dict[str, int]:
        return {"cpu": os.cpu_count() or 1, "gpu": torch.cuda.device_count()}

    def summary(self) -> str | None:
        return None
