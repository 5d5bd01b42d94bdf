"""A browser session that ended gives its memory back: after Streamlit's disconnected-session TTL, the images the
server drew for it (MediaFileManager) are no longer served, as for a session Streamlit closes itself
(pages.ui.session_release shuts expired sessions down; uploads go the same way, AppSession.shutdown)."""
from __future__ import annotations

import asyncio
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.e2e.conftest import _serve
from tests.fixtures import wait_for
from tests.load_clients import StreamlitClient, run_async


@pytest.fixture(scope="module")
def short_ttl_server(tmp_path_factory: pytest.TempPathFactory, shared_builtin_dir: Path):
    yield from _serve(tmp_path_factory, shared_builtin_dir,
                      env_extra={"STREAMLIT_SERVER_DISCONNECTED_SESSION_TTL": "2"})


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_an_ended_sessions_images_are_released(short_ttl_server):
    async def visit() -> list[str]:
        client = StreamlitClient(short_ttl_server)
        await client.connect()
        try:
            await client.open("enhance")
            while not client.media_urls:  # a new server generates its built-in datasets first
                await asyncio.sleep(2)
                await client.open("enhance")
            assert client.exceptions == []
            assert {_status(f"{short_ttl_server}{path}") for path in client.media_urls} == {200}  # while open
            return client.media_urls
        finally:
            await client.close()

    urls = [f"{short_ttl_server}{path}" for path in run_async(asyncio.wait_for(visit(), 300))]
    # the session is gone from the server's view once the TTL passes; its images go with it
    wait_for(lambda: all(_status(url) == 404 for url in urls), timeout=120, every=1.0)
