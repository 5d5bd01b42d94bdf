"""A worker process: `python -m core.jobs.worker RUN_ID`, started by the JobRunner, trains one run."""
from __future__ import annotations

import os
import sys

import torch

from core.jobs.execute import execute
from core.jobs.store import RunStore


def main() -> int:
    threads = os.environ.get("MEDLAB_THREADS")
    if threads:
        torch.set_num_threads(int(threads))
    execute(RunStore(), sys.argv[1], managed=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
