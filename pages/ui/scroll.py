"""Bring something drawn below the fold into sight after the button that asked for it, e.g. the gallery's viewer
under a grid of thumbnails, or the Enhance result under its input: a click whose answer appears out of sight
reads as a click that did nothing.

Usage: `anchor = scroll_anchor()` just before the content, then `scroll_to(anchor)` after it. The script runs
once it is mounted, which is after the content above it, so the page is tall enough to scroll that far. It is
our own few lines of JavaScript (st.html), nothing loaded from elsewhere.
"""
from __future__ import annotations

import secrets

import streamlit as st


def scroll_anchor() -> str:
    """Mark this spot of the page and return the mark's id (new on every call, so the script runs again)."""
    anchor = "medlab-anchor-" + secrets.token_hex(4)
    st.html(f'<div id="{anchor}" style="height:0;margin:0"></div>')
    return anchor


def scroll_to(anchor: str) -> None:
    """Scroll the page so that `anchor` is at the top of the window."""
    st.html(f"""<script>
(() => {{
  const target = document.getElementById("{anchor}");
  if (target) requestAnimationFrame(() => target.scrollIntoView({{behavior: "smooth", block: "start"}}));
}})();
</script>""", unsafe_allow_javascript=True)
