"""Classical (training-free) enhancement through the libraries that implement each method well.

Denoising: non-local means (Buades, Coll & Morel 2005), total variation (Rudin, Osher & Fatemi 1992, solved by
Chambolle 2004), bilateral (Tomasi & Manduchi 1998), BM3D (Dabov, Foi, Katkovnik & Egiazarian 2007), median.
Contrast: CLAHE (Zuiderveld 1994), histogram equalisation. Sharpening: unsharp mask. Upscaling: bicubic and
Lanczos (Pillow). Noise levels left empty are estimated (wavelet MAD, Donoho & Johnstone 1994, `estimate_sigma`).
Methods work on float32 [0, 1]; `scale_to_unit` maps 8-bit, 16-bit and float (HU) images there and back, so a result
keeps its input's dtype and never leaves the input's own min..max.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from PIL import Image
from skimage import color, exposure, filters, restoration  # lazy modules: each filter loads when first called

from core.enhance.tiling import needs_tiling, process_tiled
from core.errors import UserError

Kind = Literal["denoise", "contrast", "sharpen", "upscale"]
UPSCALES = (2, 4)
_MIN_SIGMA = 1e-4  # an estimate of zero (a noiseless image) would divide by zero in the filters
_NOISE_PARAMS = ("sigma", "sigma_color")  # fractions of the value range (see run_classical's noise_unit)


@dataclass(frozen=True)
class Param:
    """One tunable number; a default of None means "estimated from the image" (noise levels)."""

    name: str
    label: str
    default: float | int | None
    low: float
    high: float
    step: float
    help: str

    @property
    def integer(self) -> bool:
        return all(isinstance(v, int) for v in (self.low, self.high, self.step))


@dataclass(frozen=True)
class MethodSpec:
    title: str
    kind: Kind
    description: str
    params: list[Param] = field(default_factory=list)
    tileable: bool = True  # False for methods whose result depends on the whole image (histograms)

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.params}


@dataclass
class ClassicalResult:
    """The enhanced unit image, the parameter values used (estimates filled in) and notes for the user."""

    image: np.ndarray
    params: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    estimated_sigma: float | None = None


def _sigma() -> Param:
    return Param("sigma", "Noise level (sigma)", None, 0.001, 0.5, 0.001,
                 "Noise standard deviation as a fraction of the image's value range; empty = estimated from the image.")


CLASSICAL_METHODS: dict[str, MethodSpec] = {
    "nl_means": MethodSpec("Non-local means", "denoise",
        "Averages pixels whose surrounding patches look alike (Buades et al. 2005); keeps edges and texture.", [
            _sigma(),
            Param("h", "Strength (x sigma)", 0.8, 0.1, 3.0, 0.05,
                  "Filter strength in multiples of sigma; higher smooths more."),
            Param("patch_size", "Patch size", 5, 3, 11, 2, "Side of the patches that are compared, in pixels."),
            Param("patch_distance", "Search distance", 6, 1, 20, 1, "How far (pixels) to look for similar patches."),
        ]),
    "tv": MethodSpec("Total variation", "denoise",
        "Finds the piecewise-smooth image closest to the input (Rudin-Osher-Fatemi 1992, Chambolle 2004).", [
            Param("weight", "Weight", 0.05, 0.005, 1.0, 0.005, "Denoising weight; higher gives flatter regions."),
            Param("max_num_iter", "Iterations", 200, 10, 1000, 10, "Maximum iterations of Chambolle's algorithm."),
        ]),
    "bilateral": MethodSpec("Bilateral filter", "denoise",
        "Gaussian smoothing that skips across edges (Tomasi & Manduchi 1998).", [
            Param("sigma_color", "Intensity sigma", None, 0.001, 1.0, 0.001, "Intensity differences well above this "
                  "count as edges (fraction of the range); empty = the estimated noise sigma."),
            Param("sigma_spatial", "Spatial sigma", 1.5, 0.5, 10.0, 0.5, "Width of the spatial Gaussian, in pixels."),
        ]),
    "bm3d": MethodSpec("BM3D", "denoise",
        "Collaborative filtering of groups of similar blocks (Dabov et al. 2007); strong but slow.", [_sigma()]),
    "median": MethodSpec("Median filter", "denoise",
        "Replaces each pixel by the median of its neighbourhood; removes salt-and-pepper noise.", [
            Param("size", "Window size", 3, 3, 15, 2, "Side of the square window, in pixels (odd)."),
        ]),
    "clahe": MethodSpec("CLAHE", "contrast",
        "Contrast-limited adaptive histogram equalisation (Zuiderveld 1994): local contrast, noise kept in check.", [
            Param("clip_limit", "Clip limit", 0.01, 0.001, 1.0, 0.001,
                  "Caps each local histogram; higher gives more contrast."),
            Param("tiles", "Tiles per side", 8, 1, 64, 1, "The image is equalised in about tiles x tiles regions."),
            Param("nbins", "Histogram bins", 256, 16, 4096, 1, "Number of grey-level bins."),
        ], tileable=False),
    "hist_eq": MethodSpec("Histogram equalisation", "contrast",
        "Spreads the grey levels so that their histogram becomes flat (global, one mapping for the whole image).", [
            Param("nbins", "Histogram bins", 256, 16, 4096, 1, "Number of grey-level bins."),
        ], tileable=False),
    "unsharp": MethodSpec("Unsharp mask", "sharpen",
        "Adds back the difference between the image and a Gaussian-blurred copy, sharpening edges.", [
            Param("radius", "Radius", 1.0, 0.5, 20.0, 0.5, "Sigma of the Gaussian blur, in pixels."),
            Param("amount", "Amount", 1.0, 0.1, 5.0, 0.1, "How much of the detail is added back."),
        ]),
    "bicubic": MethodSpec("Bicubic", "upscale", "Bicubic interpolation (Pillow); smooth, slightly soft."),
    "lanczos": MethodSpec("Lanczos", "upscale", "Lanczos (a=3) resampling (Pillow); sharper than bicubic, may ring."),
}


def method_spec(method: str) -> MethodSpec:
    spec = CLASSICAL_METHODS.get(method)
    if spec is None:
        raise UserError(f"Unknown enhancement method '{method}': choose one of {', '.join(CLASSICAL_METHODS)}.")
    return spec


def validate_params(method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    """The method's defaults overlaid with `params`, each checked against its range (UserError naming it)."""
    spec = method_spec(method)
    given = dict(params or {})
    known = {p.name: p for p in spec.params}
    unknown = sorted(set(given) - set(known))
    if unknown:
        takes = ", ".join(known) or "no parameters"
        raise UserError(f"{spec.title} has no parameter {', '.join(unknown)}: it takes {takes}.")
    values: dict[str, Any] = {}
    for p in spec.params:
        value = given.get(p.name, p.default)
        if value is None and p.default is None:
            values[p.name] = None
            continue
        try:
            number = math.nan if isinstance(value, (bool, np.bool_)) else float(value)  # True is not a number
        except (TypeError, ValueError):
            raise UserError(f"{spec.title}: {p.name} must be a number, not {value!r}.") from None
        if not math.isfinite(number) or not p.low <= number <= p.high:
            raise UserError(f"{spec.title}: {p.name} must be between {p.low:g} and {p.high:g}, not {value}.")
        if p.integer:
            if number != int(number) or (int(number) - p.low) % p.step:
                grid = f"a whole number from {p.low} in steps of {p.step}" if p.step > 1 else "a whole number"
                raise UserError(f"{spec.title}: {p.name} must be {grid}, not {value}.")
            number = int(number)
        values[p.name] = number
    return values


def estimate_noise(unit: np.ndarray) -> float:
    """Gaussian noise sigma of a [0, 1] image (wavelet MAD, Donoho & Johnstone 1994), averaged over channels."""
    sigma = restoration.estimate_sigma(unit, average_sigmas=True, channel_axis=_axis(unit))
    return float(sigma) if np.isfinite(sigma) else 0.0


def scale_to_unit(array: np.ndarray) -> tuple[np.ndarray, Callable[[np.ndarray], np.ndarray]]:
    """Map an integer or float image to float32 [0, 1] by its own min..max, with the inverse mapping.

    `back(unit)` returns the input's dtype within the input's min..max (integers rounded), so a 12-bit
    image stored as uint16 stays 12-bit and a CT slice stays in its HU range. Non-finite values map to 0.
    """
    a = np.asarray(array)
    a = a.astype(np.uint8) if a.dtype == np.bool_ else a
    if not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)):
        raise UserError(f"Images of type {a.dtype} cannot be enhanced: use integer or floating-point pixels.")
    dtype = a.dtype
    values = a.astype(np.float64)
    finite = np.isfinite(values)
    low, high = (float(values[finite].min()), float(values[finite].max())) if finite.any() else (0.0, 0.0)
    span = high - low
    unit = np.where(finite, (values - low) / span if span > 0 else 0.0, 0.0).clip(0.0, 1.0).astype(np.float32)

    def back(result: np.ndarray) -> np.ndarray:
        out = low + np.clip(np.nan_to_num(np.asarray(result, np.float64)), 0.0, 1.0) * span
        if np.issubdtype(dtype, np.integer):
            out = np.rint(out)
        return np.clip(out, low, high).astype(dtype)

    return unit, back


# --- the methods, each on a float32 [0, 1] image (H, W) or (H, W, 3) ---------------------------------------
def _axis(img: np.ndarray) -> int | None:
    # Positive on purpose: skimage 0.26 unsharp_mask slices axis 0 for channel_axis=-1 and returns uninitialised memory.
    return 2 if img.ndim == 3 else None


def _nl_means(img: np.ndarray, p: dict[str, Any], scale: int) -> np.ndarray:
    return restoration.denoise_nl_means(img, patch_size=p["patch_size"], patch_distance=p["patch_distance"],
                                        h=p["h"] * p["sigma"], sigma=p["sigma"], fast_mode=True,
                                        channel_axis=_axis(img))


def _bm3d(img: np.ndarray, p: dict[str, Any], scale: int) -> np.ndarray:
    try:
        import bm3d  # imported here: it takes about a second (bm4d's binary) and only this method needs it
    except ImportError:
        raise UserError("BM3D needs the optional bm3d package (its licence allows non-commercial use only): "
                        "pip install bm3d.") from None
    # bm3d 4.0.3 crashes the interpreter (SIGSEGV) on an 8x8 image: give it at least 16x16, mirrored.
    pad = [(0, max(0, 16 - n)) for n in img.shape[:2]] + [(0, 0)] * (img.ndim - 2)
    work = np.pad(img, pad, mode="symmetric")
    # colour: block matching on luminance, filtering in an opponent colour space
    out = bm3d.bm3d_rgb(work, p["sigma"]) if img.ndim == 3 else bm3d.bm3d(work, p["sigma"])
    return out[: img.shape[0], : img.shape[1]]


def _clahe(img: np.ndarray, p: dict[str, Any], scale: int) -> np.ndarray:
    kernel = tuple(max(1, math.ceil(n / p["tiles"])) for n in img.shape[:2])
    # RGB: equalised on the HSV value
    return exposure.equalize_adapthist(img, kernel_size=kernel, clip_limit=p["clip_limit"], nbins=p["nbins"])


def _hist_eq(img: np.ndarray, p: dict[str, Any], scale: int) -> np.ndarray:
    if img.ndim == 2:
        return exposure.equalize_hist(img, nbins=p["nbins"])
    hsv = color.rgb2hsv(img)  # equalise brightness only, so hues do not shift
    hsv[..., 2] = exposure.equalize_hist(hsv[..., 2], nbins=p["nbins"])
    return color.hsv2rgb(hsv)


def _median(img: np.ndarray, p: dict[str, Any], scale: int) -> np.ndarray:
    from scipy.ndimage import median_filter  # here, not at the top: scipy.ndimage takes a third of a second

    return median_filter(img, size=(p["size"],) * 2 + (1,) * (img.ndim - 2), mode="reflect")


def _resampler(resample: Image.Resampling) -> Callable[[np.ndarray, dict[str, Any], int], np.ndarray]:
    def resize(img: np.ndarray, p: dict[str, Any], scale: int) -> np.ndarray:
        size = (img.shape[1] * scale, img.shape[0] * scale)
        planes = [img] if img.ndim == 2 else [img[..., c] for c in range(img.shape[2])]
        out = [np.asarray(Image.fromarray(np.ascontiguousarray(c, np.float32)).resize(size, resample)) for c in planes]
        return out[0] if img.ndim == 2 else np.stack(out, axis=-1)
    return resize


_IMPLS: dict[str, Callable[[np.ndarray, dict[str, Any], int], np.ndarray]] = {
    "nl_means": _nl_means,
    "tv": lambda img, p, scale: restoration.denoise_tv_chambolle(img, weight=p["weight"], channel_axis=_axis(img),
                                                                 max_num_iter=p["max_num_iter"]),
    "bilateral": lambda img, p, scale: restoration.denoise_bilateral(img, sigma_color=p["sigma_color"], mode="reflect",
                                                                     sigma_spatial=p["sigma_spatial"],
                                                                     channel_axis=_axis(img)),
    "bm3d": _bm3d,
    "median": _median,
    "unsharp": lambda img, p, scale: filters.unsharp_mask(img, radius=p["radius"], amount=p["amount"],
                                                          preserve_range=True, channel_axis=_axis(img)),
    "clahe": _clahe, "hist_eq": _hist_eq,
    "bicubic": _resampler(Image.Resampling.BICUBIC), "lanczos": _resampler(Image.Resampling.LANCZOS),
}


def _reach(method: str, p: dict[str, Any]) -> int:
    """How far (input pixels) a method looks around a pixel: the tile overlap needed for a seamless result."""
    reach = {"nl_means": lambda: p["patch_distance"] + p["patch_size"] // 2,
             "bilateral": lambda: 3 * p["sigma_spatial"] + 1, "median": lambda: p["size"] // 2,
             "unsharp": lambda: 4 * p["radius"] + 1}.get(method, lambda: 0)()
    return max(32, int(math.ceil(reach)))  # TV is global in principle and BM3D searches 19 px: 32 covers both


def _check_image(image: np.ndarray) -> np.ndarray:
    img = np.asarray(image)
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[..., 0]
    if not (img.ndim == 2 or (img.ndim == 3 and img.shape[2] == 3)):
        raise UserError(f"Enhancement needs a greyscale or RGB image, not one of shape {tuple(img.shape)}.")
    if min(img.shape[:2]) < 8:
        raise UserError(f"The image is too small to enhance ({img.shape[0]}x{img.shape[1]} pixels): use at least 8x8.")
    if not np.issubdtype(img.dtype, np.floating):
        raise ValueError(f"apply_classical expects a float image in [0, 1] (see scale_to_unit), got {img.dtype}")
    return np.clip(np.nan_to_num(img.astype(np.float32, copy=False)), 0.0, 1.0)


def run_classical(method: str, image: np.ndarray, params: dict[str, Any] | None = None, scale: int = 1, *,
                  tile: int | None = 1024, noise_unit: float = 1.0) -> ClassicalResult:
    """Apply one method to a float [0, 1] image, reporting the parameter values used and any noise estimate.

    Images larger than `tile` pixels in a direction are processed in overlapping tiles (tileable methods only),
    with the noise level estimated once on the whole image so every tile is treated alike.

    `noise_unit` is the fraction of the image's data range that [0, 1] of `image` spans (see core.enhance.run):
    noise levels (sigma, sigma_color) are given, estimated and reported as fractions of the data range, and
    divided by it for the filters, so sigma 0.1 means the same noise whether or not the image fills its range.
    """
    spec = method_spec(method)
    if spec.kind == "upscale" and scale not in UPSCALES:
        raise UserError(f"{spec.title} upscales by 2 or 4, not {scale}.")
    if spec.kind != "upscale" and scale != 1:
        raise UserError(f"{spec.title} does not change the image size: use scale 1, not {scale}.")
    values = validate_params(method, params)
    if not 0 < noise_unit <= 1:
        raise ValueError(f"noise_unit must be in (0, 1], not {noise_unit}")
    values = {k: v / noise_unit if k in _NOISE_PARAMS and v is not None else v for k, v in values.items()}
    channel_dim = np.ndim(image) == 3 and np.shape(image)[2] == 1
    img = _check_image(image)
    notes: list[str] = []
    estimated: float | None = None
    if any(v is None for v in values.values()):
        estimated = estimate_noise(img)
        notes.append(f"Noise sigma estimated from the image: {estimated * noise_unit:.4f} of the "
                     f"{'data' if noise_unit < 1 else 'value'} range.")
        values = {k: max(estimated, _MIN_SIGMA) if v is None else v for k, v in values.items()}
        estimated *= noise_unit

    def fn(part: np.ndarray) -> np.ndarray:
        return np.clip(_IMPLS[method](part, values, scale), 0.0, 1.0).astype(np.float32)

    if tile and spec.tileable and needs_tiling(img.shape, tile):
        overlap = _reach(method, values)
        out = process_tiled(img, fn, tile=max(tile, 4 * overlap), overlap=overlap, scale=scale)
    else:
        out = fn(img)
    reported = {k: v * noise_unit if k in _NOISE_PARAMS else v for k, v in values.items()}
    return ClassicalResult(out[..., None] if channel_dim else out, reported, notes, estimated)


def apply_classical(method: str, image: np.ndarray, params: dict[str, Any] | None = None, scale: int = 1) -> np.ndarray:
    """Apply one classical method to a float32 [0, 1] image (H, W) or (H, W, 3); returns float32 in [0, 1].

    Upscalers ("bicubic", "lanczos") take scale 2 or 4 and return (scale*H, scale*W[, 3]); the others take scale 1.
    Unknown methods, bad parameters or a wrong scale raise UserError.
    """
    return run_classical(method, image, params, scale).image
