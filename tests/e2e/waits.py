"""Waiting for Streamlit in a real browser."""
from __future__ import annotations

from playwright.sync_api import Page, expect


def wait_idle(page: Page) -> None:
    """Wait until Streamlit has finished the current run (its status widget says 'Running' while busy)."""
    page.wait_for_timeout(300)
    expect(page.get_by_test_id("stStatusWidget")).to_have_count(0, timeout=120_000)
