"""The built-in synthetic "phantom" chest radiographs: a deterministic 4-class classification dataset.

Each image looks like a frontal chest X-ray: dark air around a bright body, two darker lung fields with
parenchymal texture, ribs, a bright spine/mediastinum and heart shadow, and a random number of vessels
running out from each hilum. Every synthetic patient has its own anatomy and contributes two images
(different lesion position, size and contrast, different exposure). The label is what sits in a lung field:

    normal   no lesion
    nodule   one solid round opacity
    cavity   a ring-shaped opacity with a lucent centre (thick wall)
    scar     a straight band-like opacity (plate atelectasis / fibrotic streak)

Why intensity histograms fail: the three lesions cover the same area (their area-equivalent radius is drawn
from one distribution) with the same contrast, so they add the same pixel values; a lesion covers only about
1-2.5 % of the image, which is far less than the random variation of body, lung and heart size, vessel count,
exposure (brightness, contrast, gamma) and noise. Only the shape of a small local pattern separates the
classes, which a small CNN learns in seconds and a histogram cannot see.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from core.errors import UserError

PHANTOM_CLASSES: tuple[str, ...] = ("normal", "nodule", "cavity", "scar")
PHANTOM_SIZES = (28, 64, 128)
DEFAULT_COUNT = 3200
_MAX_VESSELS = 10
_CHUNK = 256  # images rendered at once (bounds memory at 128 px)
_HOLE = 0.6  # inner / outer radius of a cavity
_R_MAX = 0.17  # largest area-equivalent lesion radius, in image half-widths


@dataclass
class PhantomData:
    images: np.ndarray  # uint8 (N, H, W)
    labels: np.ndarray  # int64 (N,), index into classes
    patients: np.ndarray  # str (N,), e.g. "P0001"
    classes: tuple[str, ...]


def describe_phantom() -> str:
    """Two or three sentences for the UI."""
    return (
        "Synthetic chest radiographs (two per patient, each patient with its own anatomy) labelled by what sits "
        "in a lung field: nothing (normal), a solid round nodule, a ring-shaped cavity, or a straight band-like scar. "
        "The lesions are small (1-2.5 % of the image) and all three carry the same amount of equally bright tissue, "
        "while body size, vessels, exposure and noise vary at random, so an intensity histogram cannot tell the "
        "classes apart (a logistic regression on histograms stays near chance) but a small CNN that sees shape can."
    )


def _soft(signed_dist: np.ndarray, width: float) -> np.ndarray:
    """1 inside, 0 outside, a linear ramp `width` wide across the boundary (signed distance > 0 is outside)."""
    return np.clip(0.5 - signed_dist / width, 0.0, 1.0)


def _ellipse_dist(x: np.ndarray, y: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Approximate signed distance to an axis-aligned ellipse centred at 0 (exact for circles)."""
    return (np.sqrt((x / a) ** 2 + (y / b) ** 2) - 1.0) * np.minimum(a, b)


def _draw(rng: np.random.Generator, n_pat: int, labels: np.ndarray) -> tuple[dict, dict]:
    """All random numbers, drawn up front in a fixed order (so rendering in chunks stays deterministic):
    per-patient anatomy and per-image lesion and exposure."""
    n, u, f32 = len(labels), rng.random, np.float32
    pat = {
        "cx": u(n_pat) * 0.14 - 0.07, "cy": u(n_pat) * 0.12 - 0.06, "zoom": 0.9 + u(n_pat) * 0.15,
        "body_w": 0.78 + u(n_pat) * 0.14, "body_top": -0.85 + u(n_pat) * 0.15,
        "lung_x": 0.36 + u(n_pat) * 0.08, "lung_y": -0.1 + u(n_pat) * 0.1,
        "lung_a": 0.22 + u(n_pat) * 0.07, "lung_b": 0.48 + u(n_pat) * 0.12, "lung_depth": 0.28 + u(n_pat) * 0.14,
        "heart_a": 0.3 + u(n_pat) * 0.08, "heart_b": 0.24 + u(n_pat) * 0.06, "heart_x": 0.1 + u(n_pat) * 0.08,
        "rib_period": 0.15 + u(n_pat) * 0.05, "rib_phase": u(n_pat), "rib_curv": 0.25 + u(n_pat) * 0.25,
        "rib_level": 0.05 + u(n_pat) * 0.07,
        "n_vessels": rng.integers(2, _MAX_VESSELS + 1, n_pat),
        "v_side": rng.integers(0, 2, (n_pat, _MAX_VESSELS)), "v_angle": u((n_pat, _MAX_VESSELS)),
        "v_len": 0.3 + u((n_pat, _MAX_VESSELS)) * 0.35, "v_width": 0.025 + u((n_pat, _MAX_VESSELS)) * 0.02,
        "v_level": 0.1 + u((n_pat, _MAX_VESSELS)) * 0.12,
        "tex": u((n_pat, 8, 8)),
    }
    img = {
        "label": labels, "l_side": rng.integers(0, 2, n), "l_rad": np.sqrt(u(n)), "l_ang": u(n) * 2 * np.pi,
        "l_r": _R_MAX - u(n) * 0.05, "l_contrast": 0.3 + u(n) * 0.15, "l_orient": u(n) * np.pi,
        "bright": u(n) * 0.16 - 0.08, "contrast": 0.75 + u(n) * 0.5, "gamma": np.exp(u(n) * 0.8 - 0.4),
        "noise": 0.015 + u(n) * 0.04,
    }
    cast = lambda d: {k: v.astype(f32) if v.dtype == np.float64 else v for k, v in d.items()}  # noqa: E731
    return cast(pat), cast(img)


def _grid(size: int) -> tuple[np.ndarray, np.ndarray, float]:
    px = 2.0 / size  # pixel size in [-1, 1] image coordinates; y points down
    c = ((np.arange(size) + 0.5) * px - 1.0).astype(np.float32)
    return c[None, None, :], c[None, :, None], px


def _upsample(a: np.ndarray, size: int) -> np.ndarray:
    """Bilinear resize of (n, m, m) to (n, size, size); both grids cover the same field of view."""
    g = np.clip((np.arange(size, dtype=np.float32) + 0.5) * (a.shape[-1] / size) - 0.5, 0, a.shape[-1] - 1)
    i0 = np.minimum(g.astype(int), a.shape[-1] - 2)
    f = (g - i0).astype(np.float32)
    a = a[:, :, i0] * (1 - f) + a[:, :, i0 + 1] * f
    return a[:, i0, :] * (1 - f[:, None]) + a[:, i0 + 1, :] * f[:, None]


def _anatomy(p: dict, size: int) -> np.ndarray:
    """Render the lesion-free chest of each patient in `p` as floats (n, size, size), before exposure.
    It is smooth, so above 64 px it is rendered at 64 px and upsampled (lesions and noise are not)."""
    if size > 64:
        return _upsample(_anatomy(p, 64), size)
    x, y, px = _grid(size)
    col = {k: v[:, None, None] if v.ndim == 1 else v for k, v in p.items()}
    x, y = x / col["zoom"], (y - col["cy"]) / col["zoom"]  # patient position and size in the field of view
    cx, n = col["cx"], len(p["cx"])
    edge = max(px, 0.04) / col["zoom"]  # anatomy edges look the same at every size
    # body: a super-ellipse opening downwards, with a neck above it
    bx, by = np.abs(x - cx) / col["body_w"], np.clip((y - 1.0) / (1.0 - col["body_top"]), -1.0, 0.0)
    body = _soft(((bx ** 2.5 + np.abs(by) ** 2.5) ** 0.4 - 1.0) * 0.8, edge)
    img = 0.04 + 0.52 * body
    # lungs, wider at the base, with smooth parenchymal texture; the heart shadow overlaps the left base
    lungs = np.zeros((n, size, size), np.float32)
    for side in (-1.0, 1.0):
        lx, ly = x - (cx + side * col["lung_x"]), y - col["lung_y"]
        a = col["lung_a"] * (0.8 + 0.2 * np.clip(ly / col["lung_b"], -1.0, 1.0))
        lungs = np.maximum(lungs, _soft(_ellipse_dist(lx, ly, a, col["lung_b"]), edge))
    hx, hy = x - cx - col["heart_x"], y - col["lung_y"] - 0.45
    heart = _soft(_ellipse_dist(hx, hy, col["heart_a"], col["heart_b"]), edge)
    lungs *= 1.0 - heart
    img += 0.05 * heart * body
    img -= lungs * (col["lung_depth"] + 0.08 * (_upsample(p["tex"], size) - 0.5))
    # spine and ribs (ribs slope down laterally and show most over the lungs)
    img += 0.12 * body * _soft(np.abs(x - cx) - 0.07, edge)
    t = (y - col["rib_curv"] * (x - cx) ** 2) / col["rib_period"] + col["rib_phase"]
    img += col["rib_level"] * np.clip(np.cos(2 * np.pi * t), 0.0, 1.0) ** 2 * (0.25 * body + 0.75 * lungs)
    # vessels: tapering lines from each hilum outwards
    right = p["v_side"] == 1
    x0, y0 = p["cx"][:, None] + np.where(right, 0.15, -0.15).astype(np.float32), p["lung_y"][:, None] + 0.05
    ang = np.where(right, -0.6, np.pi + 0.6) + (p["v_angle"] - 0.5) * np.where(right, 2.4, -2.4)
    dx, dy = (np.cos(ang) * p["v_len"]).astype(np.float32), (np.sin(ang) * p["v_len"]).astype(np.float32)
    level = p["v_level"] * (np.arange(_MAX_VESSELS) < p["n_vessels"][:, None])
    vessels = np.zeros((n, size, size), np.float32)
    for k in range(_MAX_VESSELS):
        ex, ey, lev = dx[:, k, None, None], dy[:, k, None, None], level[:, k, None, None]
        rx, ry = x - x0[:, k, None, None], y - y0[:, 0, None, None]  # (n, 1, size) and (n, size, 1)
        s = np.clip((rx * ex + ry * ey) / (ex ** 2 + ey ** 2), 0.0, 1.0)
        d2 = (rx - s * ex) ** 2 + (ry - s * ey) ** 2
        w = p["v_width"][:, k, None, None] * (1.0 - 0.5 * s)
        vessels += lev * (1.0 - 0.7 * s) * np.clip(1.0 - d2 / (2.0 * w * w), 0.0, 1.0) ** 2
    return img + vessels * lungs


def _lesions(p: dict, pat: dict, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The lesion of each image, in [0, 1], as (n, c, c) patches and the (n,) top/left pixel of each patch.
    One ellipse minus an optional inner one: nodule, a disc of radius r; cavity, a ring of the same area;
    scar, a 2.5 r x 0.4 r band (also the same area); normal, nothing."""
    px = 2.0 / size
    lab, r = p["label"], p["l_r"]
    side = np.where(p["l_side"] == 1, 1.0, -1.0).astype(np.float32)
    zoom = pat["zoom"]
    lcx = zoom * (pat["cx"] + side * pat["lung_x"] + 0.6 * p["l_rad"] * np.cos(p["l_ang"]) * pat["lung_a"])
    lcy = pat["cy"] + zoom * (pat["lung_y"] + 0.6 * p["l_rad"] * np.sin(p["l_ang"]) * pat["lung_b"])
    r = r * zoom
    c = min(size, int(2 * _R_MAX * 1.05 * 2.5 / px) + 3)  # patch side in pixels, holds the largest lesion
    left = np.clip(np.floor((lcx + 1) / px - c / 2).astype(int), 0, size - c)
    top = np.clip(np.floor((lcy + 1) / px - c / 2).astype(int), 0, size - c)
    g = (np.arange(c, dtype=np.float32) + 0.5) * px - 1.0
    x, y = g[None, None, :] + (left * px - lcx)[:, None, None], g[None, :, None] + (top * px - lcy)[:, None, None]
    r_out = r / math.sqrt(1 - _HOLE ** 2)
    a = np.select([lab == 2, lab == 3], [r_out, 2.5 * r], r)[:, None, None]
    b = np.select([lab == 2, lab == 3], [r_out, 0.4 * r], r)[:, None, None]
    hole = (lab == 2)[:, None, None]
    co, si = np.cos(p["l_orient"])[:, None, None], np.sin(p["l_orient"])[:, None, None]
    u, v = x * co + y * si, y * co - x * si
    out = _soft(_ellipse_dist(u, v, a, b), px) - hole * _soft(_ellipse_dist(u, v, _HOLE * a, _HOLE * b), px)
    return out * (lab > 0)[:, None, None], top, left


def _paste(images: np.ndarray, patches: np.ndarray, top: np.ndarray, left: np.ndarray) -> None:
    """images[i, top:top+c, left:left+c] += patches[i], for every i at once."""
    c = patches.shape[-1]
    rows, cols = top[:, None, None] + np.arange(c)[:, None], left[:, None, None] + np.arange(c)
    images[np.arange(len(images))[:, None, None], rows, cols] += patches


def _check(size: int, count: int, seed: int) -> None:
    if size not in PHANTOM_SIZES:
        raise UserError(f"The phantom can be generated at {', '.join(map(str, PHANTOM_SIZES))} pixels, not {size}.")
    if count < len(PHANTOM_CLASSES):
        raise UserError(f"The phantom needs at least {len(PHANTOM_CLASSES)} images (one per class), not {count}.")
    if int(seed) != seed or seed < 0:
        raise UserError(f"The phantom seed must be a whole number of 0 or more, not {seed}.")


def _generate(size: int, count: int, seed: int, masks: bool) -> tuple[PhantomData, np.ndarray | None]:
    _check(size, count, seed)
    k = len(PHANTOM_CLASSES)
    rng = np.random.default_rng(seed)  # not size: the same seed gives the same patients at every size
    per_class = np.full(k, count // k) + (np.arange(k) < count % k)
    pat_class = np.concatenate([np.full((n + 1) // 2, c) for c, n in enumerate(per_class)])
    pat_size = np.concatenate([np.minimum(2, n - 2 * np.arange((n + 1) // 2)) for n in per_class])
    order = rng.permutation(len(pat_class))
    pat_class, pat_size = pat_class[order], pat_size[order]
    pat_of = np.repeat(np.arange(len(pat_class)), pat_size)
    labels = pat_class[pat_of].astype(np.int64)
    pat, img = _draw(rng, len(pat_class), labels)
    noise_rng = np.random.default_rng([seed, size])
    images = np.empty((count, size, size), np.uint8)
    lesion_masks = np.zeros((count, size, size), bool) if masks else None
    for s in range(0, count, _CHUNK):
        ids = pat_of[s : s + _CHUNK]
        p = {key: v[s : s + _CHUNK] for key, v in img.items()}
        patches, top, left = _lesions(p, {key: v[ids] for key, v in pat.items()}, size)
        if lesion_masks is not None:
            _paste(lesion_masks[s : s + _CHUNK], patches >= 0.5, top, left)
            continue
        x = _anatomy({key: v[ids[0] : ids[-1] + 1] for key, v in pat.items()}, size)[ids - ids[0]]
        _paste(x, patches * p["l_contrast"][:, None, None], top, left)
        x = np.clip(x, 0.0, 1.0) ** p["gamma"][:, None, None]  # exposure: gamma, contrast, brightness; noise
        x = (0.5 + p["bright"])[:, None, None] + p["contrast"][:, None, None] * (x - 0.5)
        x += noise_rng.standard_normal(x.shape, dtype=np.float32) * p["noise"][:, None, None]
        images[s : s + _CHUNK] = np.rint(np.clip(x, 0.0, 1.0) * 255).astype(np.uint8)
    patients = np.array([f"P{i + 1:04d}" for i in pat_of])
    return PhantomData(images=images, labels=labels, patients=patients, classes=PHANTOM_CLASSES), lesion_masks


def generate_phantom(size: int = 64, count: int = DEFAULT_COUNT, seed: int = 0) -> PhantomData:
    """Generate `count` phantom images of `size` x `size` pixels; the same arguments give the same bytes.

    Classes are balanced (counts differ by at most one); a patient contributes two images of one class
    (one image only when its class has an odd count). The same seed gives the same patients at every size.
    """
    return _generate(size, count, seed, masks=False)[0]


def phantom_lesion_masks(size: int = 64, count: int = DEFAULT_COUNT, seed: int = 0) -> np.ndarray:
    """Bool (N, H, W): where the lesion of each image of `generate_phantom(size, count, seed)` covers at least
    half a pixel (all False for "normal"); ground truth for lesion size checks and saliency maps."""
    return _generate(size, count, seed, masks=True)[1]
