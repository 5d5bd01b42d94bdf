"""Time a person waits for a page opened directly by its URL, on a warm MedLab server, in headless chromium.

It starts `streamlit run streamlit_app.py` (headless, a free loopback port, MEDLAB_HOME in a temporary folder,
no built-in datasets yet, as after `make run` on a new machine) and times the first visit of Home and then of
Dataset (which waits for the built-in datasets the server generates in the background). It then opens every
page once more to warm the server and loads each page URL N times, each in a new browser context (a new
session with an empty browser cache, as a first visit is). For each page it prints the median time from the
navigation to (a) the page's heading being visible and (b) its content complete: Streamlit's script run
finished and the browser has drawn what it sent (Plotly charts drawn, images loaded). Target: (b) at most 2 s
median on a warm server.

Chromium is Debian's (as in tests/e2e/conftest.py); Playwright never downloads a browser.

    python bench/page_load.py [--repeats 5] [--pages dataset,train]
"""
from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _common import ROOT, temporary_home

from tests.fixtures import wait_until_serving

PAGES = {"": "MedLab", "dataset": "Dataset", "train": "Train", "evaluate": "Evaluate", "enhance": "Enhance",
         "synthesize": "Synthesize"}
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]
FINISHED = '[data-test-script-state="notRunning"]'  # Streamlit's app root while no script run is under way
# ... and what the browser draws after the run: every Plotly chart drawn, every image loaded.
DRAWN = """() => [...document.querySelectorAll('[data-testid="stPlotlyChart"]')]
                 .every(chart => chart.querySelector('.main-svg'))
             && [...document.querySelectorAll('img')].every(image => image.complete)"""
TARGET_S = 2.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(port: int, log_path, script: Path = ROOT / "streamlit_app.py") -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(script), "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false"],
        cwd=script.parent, env={**os.environ, "PYTHONUNBUFFERED": "1"}, stdout=log_path.open("w"),
        stderr=subprocess.STDOUT)
    wait_until_serving(f"http://127.0.0.1:{port}", process, log_path)
    return process


def load(browser, url: str, title: str, timeout_ms: int = 60_000) -> tuple[float, float]:
    """Seconds from navigation to the heading, and to the finished run, in a fresh context (a new session)."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    try:
        start = time.perf_counter()
        page.goto(url, wait_until="commit")
        page.get_by_role("heading", name=title, exact=True).first.wait_for(state="visible", timeout=timeout_ms)
        heading = time.perf_counter() - start
        page.locator(FINISHED).wait_for(state="attached", timeout=timeout_ms)
        page.wait_for_function(DRAWN, timeout=timeout_ms, polling="raf")
        return heading, time.perf_counter() - start
    finally:
        context.close()


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


def floor(browser, folder: Path, repeats: int) -> float:
    """Median complete load of a Streamlit app that shows only a title: what this machine and browser take for
    any Streamlit page (loading the front end, opening the session), the part no page can save."""
    script = folder / "title_only.py"
    script.write_text('import streamlit as st\n\nst.title("MedLab")\n')
    port = free_port()
    process = start_server(port, folder / "title_only.log", script)
    try:
        load(browser, f"http://127.0.0.1:{port}/", "MedLab", timeout_ms=120_000)
        return statistics.median(load(browser, f"http://127.0.0.1:{port}/", "MedLab")[1] for _ in range(repeats))
    finally:
        stop(process)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--pages", default=",".join(PAGES), help="comma-separated URL paths ('' is Home)")
    args = parser.parse_args()
    pages = {path: PAGES[path] for path in args.pages.split(",")}
    from playwright.sync_api import sync_playwright

    home = temporary_home()
    os.environ.pop("MEDLAB_BUILTIN_DIR", None)  # the home's own built-in folder: empty, as on a new machine
    port = free_port()
    process = start_server(port, home / "server.log")
    base = f"http://127.0.0.1:{port}"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS,
                                                 headless=True)
            first_home = load(browser, f"{base}/", "MedLab", timeout_ms=300_000)  # imports torch, starts the jobs
            first_dataset = load(browser, f"{base}/dataset", "Dataset", timeout_ms=300_000)
            print(f"first visit of a new server: Home {first_home[1]:.1f} s, then Dataset {first_dataset[1]:.1f} s "
                  "(while the built-in datasets were generated)")
            start = time.perf_counter()
            for path, title in pages.items():  # warm: each page module's first run imports what it uses
                load(browser, f"{base}/{path}", title, timeout_ms=180_000)
            print(f"server warmed in {time.perf_counter() - start:.1f} s")
            failed = []
            for path, title in pages.items():
                times = [load(browser, f"{base}/{path}", title) for _ in range(args.repeats)]
                heading = statistics.median(t[0] for t in times)
                done = statistics.median(t[1] for t in times)
                failed += [path or "home"] if done > TARGET_S else []
                print(f"/{path:11} heading {heading:.2f} s, complete {done:.2f} s median "
                      f"(complete min {min(t[1] for t in times):.2f}, max {max(t[1] for t in times):.2f}; "
                      f"{args.repeats} loads; target <= {TARGET_S:.1f} s)")
            stop(process)
            reference = floor(browser, home, args.repeats)
            print(f"reference: a Streamlit app showing only a title loads in {reference:.2f} s median here")
            browser.close()
    finally:
        stop(process)
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; "
          + ("all within target" if not failed else f"over target: {', '.join(failed)}"))
    shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
