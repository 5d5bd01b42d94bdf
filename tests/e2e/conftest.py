"""A real MedLab server per test module and Debian's chromium driven by Playwright (no downloaded browser)."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.fixtures import wait_until_serving

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]
ARTIFACTS = ROOT / "test-artifacts"
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


def non_local(urls: list[str]) -> list[str]:
    """The URLs that would leave the machine (data:, blob: and about: stay in the browser)."""
    return [url for url in urls
            if urlsplit(url).scheme not in ("data", "blob", "about") and urlsplit(url).hostname not in LOCAL_HOSTS]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server(str):
    """The server's URL (a str, so f"{server}/dataset" works), with `home`: its MEDLAB_HOME."""

    home: Path


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, shared_builtin_dir: Path) -> Iterator[Server]:
    """A MedLab server shared by a test module."""
    yield from _serve(tmp_path_factory, shared_builtin_dir)


@pytest.fixture
def fresh_server(tmp_path_factory: pytest.TempPathFactory, shared_builtin_dir: Path) -> Iterator[Server]:
    """A server no browser has visited yet (for first-visit behaviour)."""
    yield from _serve(tmp_path_factory, shared_builtin_dir)


@pytest.fixture(scope="module")
def trained_server(phantom_run, tmp_path_factory: pytest.TempPathFactory, shared_builtin_dir: Path
                   ) -> Iterator[Server]:
    """A server whose MEDLAB_HOME holds the recipe trained on the phantom (see tests/conftest.py)."""
    yield from _serve(tmp_path_factory, shared_builtin_dir, home=phantom_run.home)


def _serve(tmp_path_factory: pytest.TempPathFactory, shared_builtin_dir: Path, home: Path | None = None,
           secrets_toml: str | None = None, port: int | None = None, env_extra: dict[str, str] | None = None
           ) -> Iterator[Server]:
    """Start `streamlit run streamlit_app.py` on a free port (or `port`) with its own MEDLAB_HOME (or the given
    one). `secrets_toml`: the text of the server's .streamlit/secrets.toml (workshop or SSO mode), written into
    the home and passed with --secrets.files; without it the server never reads a secrets file (personal mode)."""
    port = port or _free_port()
    home = home or tmp_path_factory.mktemp("e2e-home")
    env = {**os.environ, "MEDLAB_HOME": str(home), "MEDLAB_BUILTIN_DIR": str(shared_builtin_dir),
           "PYTHONUNBUFFERED": "1", **(env_extra or {})}
    secrets = home / "secrets.toml"
    secrets.write_text(secrets_toml or "")
    log = (home / "server.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true", "--secrets.files", str(secrets)],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    wait_until_serving(url, process, home / "server.log")
    running = Server(url)
    running.home = home
    yield running
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
    log.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    executable = shutil.which("chromium")
    if executable is None:
        raise RuntimeError("Debian's chromium is not installed; `make test` installs it (apt-get install chromium).")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh browser tab. Every request it makes is recorded (`page.requests`), and the test fails if any of
    them goes to a host other than this machine: nothing MedLab serves may reach out to the internet."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    requests: list[str] = []
    context.on("request", lambda r: requests.append(r.url))  # every page and worker of the context
    page = context.new_page()
    page.requests = requests  # type: ignore[attr-defined]
    page.set_default_timeout(60_000)
    yield page
    if request.node.rep_call.failed if hasattr(request.node, "rep_call") else False:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    context.close()
    assert not non_local(requests), f"requests left the machine: {sorted(set(non_local(requests)))}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)
