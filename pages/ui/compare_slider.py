"""A draggable before/after comparison, drawn with a few lines of our own HTML and JavaScript (nothing is loaded
from the internet): the 'before' image is clipped at the slider's position over the 'after' image."""
from __future__ import annotations

import base64
import io
import secrets

import numpy as np
import streamlit as st
from PIL import Image


def _png(pixels: np.ndarray) -> str:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def before_after(before: np.ndarray, after: np.ndarray, width: int = 640) -> None:
    """Two uint8 images of the same size; `width` is the largest display width in pixels."""
    if before.shape[:2] != after.shape[:2]:  # e.g. super-resolution: show the input enlarged, pixel for pixel
        factor = after.shape[0] // before.shape[0]
        before = before.repeat(factor, axis=0).repeat(factor, axis=1)
    uid = "cmp-" + secrets.token_hex(4)
    st.html(f"""
<div id="{uid}" style="position:relative;width:100%;max-width:{width}px;line-height:0;user-select:none">
  <img src="data:image/png;base64,{_png(after)}" alt="after" style="width:100%;image-rendering:pixelated">
  <img class="before" src="data:image/png;base64,{_png(before)}" alt="before"
       style="position:absolute;top:0;left:0;width:100%;clip-path:inset(0 50% 0 0);image-rendering:pixelated">
  <div class="bar" style="position:absolute;top:0;bottom:0;left:50%;width:2px;background:#fff;box-shadow:0 0 3px #000"></div>
  <span style="position:absolute;top:6px;left:8px;color:#fff;font:12px sans-serif;text-shadow:0 0 3px #000;line-height:1">before</span>
  <span style="position:absolute;top:6px;right:8px;color:#fff;font:12px sans-serif;text-shadow:0 0 3px #000;line-height:1">after</span>
  <input type="range" min="0" max="100" value="50" aria-label="Drag to compare before and after"
         style="position:absolute;left:0;bottom:6px;width:100%;margin:0">
</div>
<script>
(() => {{
  const root = document.getElementById("{uid}");
  const slider = root.querySelector("input");
  slider.addEventListener("input", () => {{
    root.querySelector(".before").style.clipPath = `inset(0 ${{100 - slider.value}}% 0 0)`;
    root.querySelector(".bar").style.left = `${{slider.value}}%`;
  }});
}})();
</script>""", unsafe_allow_javascript=True)
