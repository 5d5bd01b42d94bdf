"""Wall time of the command-line calls that need no model and no network, on a warm home.

Each command runs as a person runs it (`python -m core ...`, a fresh interpreter every time) with MEDLAB_HOME
in a temporary folder where the built-in datasets were generated first, so nothing is generated during the
timing. Target: at most 1.0 s median for each (the interpreter's own start is in the figure).

    python bench/cli_latency.py [--repeats 5]
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time

from _common import ROOT, temporary_home

COMMANDS = {"--help": ["--help"], "datasets --json": ["datasets", "--json"], "runs --json": ["runs", "--json"]}
TARGET_S = 1.0


def wall_time(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "core", *argv], cwd=ROOT, env=os.environ, check=True,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    home = temporary_home()
    os.environ.pop("MEDLAB_BUILTIN_DIR", None)  # the home's own built-in folder, generated below
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "from core.data.builtin import prepare_builtins; prepare_builtins()"],
                   cwd=ROOT, env=os.environ, check=True)
    print(f"home {home}: built-in datasets generated in {time.perf_counter() - start:.1f} s")
    wall_time(["--help"])  # the first start of the interpreter reads its files from disk
    failed = []
    for name, argv in COMMANDS.items():
        times = [wall_time(argv) for _ in range(args.repeats)]
        median = statistics.median(times)
        failed += [name] if median > TARGET_S else []
        print(f"python -m core {name:16} median {median:.2f} s  (min {min(times):.2f}, max {max(times):.2f}, "
              f"{args.repeats} runs; target <= {TARGET_S:.1f} s)")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; "
          + ("all within target" if not failed else f"over target: {', '.join(failed)}"))
    shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
