"""The Enhance page's result: before/after slider, difference map, zoom, scores and downloads."""
from __future__ import annotations

from functools import partial

import numpy as np
import streamlit as st
from matplotlib import colormaps

from core.data.medical_image import MedicalImage, Window
from core.data.native import DataRange
from core.data.windowing import render_8bit, window_to_unit
from core.enhance.run import EnhanceResult, scores
from core.enhance.writers import enhanced_dicom, native_bits, native_png, png_bytes
from pages.ui.compare_slider import before_after


def render_result(result: EnhanceResult, reference: MedicalImage | None, key: str, window: Window | None = None
                  ) -> None:
    """The result at `window` (default: the input's own), the same for before, after and the difference map, so
    they compare; with a clean `reference`, PSNR and SSIM as shown (on that window) and on the data range."""
    before, after = result.input, result.output
    if before.is_color:
        window = None
    elif window is None:
        window = before.default_window
    st.caption(f"{result.method} · {after.width}×{after.height} · {result.seconds * 1000:.0f} ms"
               + (" · " + "; ".join(result.notes) if result.notes else ""))
    if reference is not None:
        _scores(result, reference, window)
    zoom_col, picture_col = st.columns([1, 3])
    with zoom_col:
        zoom = st.select_slider("Zoom", (1, 2, 4, 8), value=1, key=f"{key}-zoom", format_func=lambda z: f"{z}×")
        x = st.slider("Region left-right", 0.0, 1.0, 0.5, key=f"{key}-x", disabled=zoom == 1)
        y = st.slider("Region up-down", 0.0, 1.0, 0.5, key=f"{key}-y", disabled=zoom == 1)
    before_pixels, after_pixels = render_8bit(before, 0, window), render_8bit(after, 0, window)
    with picture_col:
        before_after(_crop(before_pixels, zoom, x, y), _crop(after_pixels, zoom, x, y))
    if before.frames.shape == after.frames.shape:
        difference = np.abs(window_to_unit(after, 0, window) - window_to_unit(before, 0, window))
        difference = difference.mean(axis=2) if difference.ndim == 3 else difference
        heat = (colormaps["magma"](np.clip(difference / max(difference.max(), 1e-6), 0, 1))[..., :3] * 255).astype(np.uint8)
        st.image(_crop(heat, zoom, x, y), caption=f"Difference |after − before| (brightest = "
                 f"{difference.max():.3f} of the display range): what the method removed or added", width=640)
    _downloads(result, key, window)


def _scores(result: EnhanceResult, reference: MedicalImage, window: Window | None) -> None:
    """PSNR and SSIM against the clean reference. With a window they are computed as shown (values clipped to the
    window, scaled to 0-1), so the figures match the pictures; the data-range figures (the scale restoration runs
    are trained and benchmarked on) are given in the caption. Without a window (colour), on the data range."""
    rng = result.data_range
    shown = DataRange(window.low, window.high, f"the display window W {window.width:g} / L {window.center:g}") \
        if window is not None else rng
    same_size = result.input.frames.shape == reference.frames.shape
    out = scores(result.output.frames[0], reference.frames[0], shown)
    before = scores(result.input.frames[0], reference.frames[0], shown) if same_size else None
    if window is None:
        st.caption(f"PSNR and SSIM on the image's own data range {rng.describe()}, scaled to 0-1.")
    else:
        on_range = scores(result.output.frames[0], reference.frames[0], rng)
        figures = f"result {on_range['psnr']:.2f} dB"
        if same_size:
            figures += f", input {scores(result.input.frames[0], reference.frames[0], rng)['psnr']:.2f} dB"
        st.caption(f"PSNR and SSIM as shown: on the display window W {window.width:g} / L {window.center:g} "
                   f"(values outside it count as its edges), scaled to 0-1. On the image's whole data range "
                   f"{rng.describe()}, the scale restoration runs are trained on, PSNR is {figures}.")
    columns = st.columns(4)
    columns[0].metric("PSNR of result", f"{out['psnr']:.2f} dB")
    columns[1].metric("SSIM of result", f"{out['ssim']:.4f}")
    if before is not None:
        columns[2].metric("PSNR of input", f"{before['psnr']:.2f} dB", delta=f"{out['psnr'] - before['psnr']:+.2f} dB",
                          delta_color="off")
        columns[3].metric("SSIM of input", f"{before['ssim']:.4f}")
    else:
        columns[2].caption("The input is smaller than the reference (super-resolution); the comparison table "
                           "below scores bicubic upscaling next to the model.")


def _crop(pixels: np.ndarray, zoom: int, x: float, y: float) -> np.ndarray:
    if zoom == 1:
        return pixels
    height, width = pixels.shape[:2]
    h, w = max(1, height // zoom), max(1, width // zoom)
    top, left = int(np.clip(y * height - h / 2, 0, height - h)), int(np.clip(x * width - w / 2, 0, width - w))
    return pixels[top:top + h, left:left + w].repeat(zoom, axis=0).repeat(zoom, axis=1)


def _downloads(result: EnhanceResult, key: str, window: Window | None) -> None:
    """Files are encoded only when their button is pressed (callable data), not on every rerun. A press does not
    rerun the page (on_click="ignore"): a rerun would replace every button's deferred file id, and a second or
    third button pressed before the new ids reached the browser failed with "Deferred file ... not found"."""
    output = result.output
    stem = output.name.rsplit(".", 1)[0] + f"_{result.method}"
    bits = native_bits(result.data_range)
    columns = st.columns(3)
    own = partial(native_png, output.frames[0], result.data_range)
    columns[0].download_button(f"PNG, own values ({bits}-bit)", own,
                               file_name=f"{stem}.png", mime="image/png", key=f"{key}-png-native", on_click="ignore",
                               help=f"The result's own values on the input's scale {result.data_range.describe()}, "
                                    "no window: for analysis and further processing.")
    columns[1].download_button("PNG, 8-bit as shown", partial(_shown_png, output, window),
                               file_name=f"{stem}_shown.png", mime="image/png", key=f"{key}-png8", on_click="ignore",
                               help="The displayed rendering, through the window the viewer uses.")
    if output.dicom is not None:
        scale = output.height // result.input.height
        data = partial(enhanced_dicom, output.dicom, output.frames[0], description=result.method, scale=scale,
                       frame=result.frame)
        columns[2].download_button("DICOM (derived image)", data, file_name=f"{stem}.dcm", mime="application/dicom",
                                   key=f"{key}-dicom", on_click="ignore",
                                   help="New series and instance UIDs, geometry and window kept, marked as derived, "
                                        "no identifying data.")


def _shown_png(output: MedicalImage, window) -> bytes:
    return png_bytes(window_to_unit(output, 0, window), 8)
