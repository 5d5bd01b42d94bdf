"""The built-in cine phantom: short clips of a beating heart chamber whose class lives in the motion only.

Each clip shows a short-axis view of one chamber, as a cine MR or an echo loop would: a bright blood pool inside
a dark myocardial ring on mid-grey tissue. The pool shrinks and the wall thickens in systole (the wall keeps its
area), then both relax in diastole, with one contraction profile (a quick systole over the first 35 % of a beat,
a slower relaxation over the rest). The label is the rhythm:

    normal       regular beats, 7-10 frames each (60-86 beats/min at 100 ms per frame)
    bradycardia  regular beats, 13-17 frames each (35-46 beats/min)
    irregular    out-of-step beats: short (4-6 frames) and long (10-13 frames) beats alternate, each beat's
                 length drawn anew (a bigeminy-like rhythm of about the normal rate)

Why a single frame cannot tell the classes apart: a clip's window starts at a uniformly random time of a long
beat train, so at every frame the position within the current beat (the phase) is uniform on [0, 1) in every class
(the renewal theorem: the beat a random time falls in is length-biased and the time is uniform within it), and the
contraction state is the same profile of that phase. Everything else a frame shows (position, size and shape of
the chamber, wall thickness, contraction amplitude, tissue texture, brightness, contrast and noise) is drawn from
one distribution for every class. Only how the state changes from frame to frame separates the classes, which a
network that sees several frames learns and a single-frame classifier cannot (EchoNet-Dynamic's frames=1 arm,
Ouyang et al., Nature 2020, measures the same thing on echo).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.errors import UserError

CINE_CLASSES: tuple[str, ...] = ("normal", "bradycardia", "irregular")
CINE_SIZE = 32
CINE_FRAMES = 16
CINE_FRAME_TIME_MS = 100.0
CINE_COUNT = 3600
CLIPS_PER_PATIENT = 2
SYSTOLE = 0.35  # share of a beat spent contracting
# beat lengths in frames: (low, high) per class; irregular alternates a short and a long beat
NORMAL_BEAT, SLOW_BEAT, SHORT_BEAT, LONG_BEAT = (7.0, 10.0), (13.0, 17.0), (4.0, 6.0), (10.0, 13.0)
# Nuisance, the same for every class: (low, high) of a uniform draw per patient (anatomy, in image half-widths and
# intensities in [0, 1] before exposure) and per clip (exposure).
ANATOMY = {
    "cx": (-0.15, 0.15), "cy": (-0.15, 0.15),  # chamber centre
    "radius": (0.34, 0.48),                    # diastolic blood-pool radius
    "aspect": (0.8, 1.2), "angle": (0.0, np.pi),  # an ellipse, stretched along a random axis
    "wall": (0.10, 0.16),                      # diastolic wall thickness
    "amplitude": (0.3, 0.45),                  # systolic shortening of the pool radius
    "rate": (0.0, 1.0),                        # where a regular rhythm's beat length lies in its class range
    "tissue": (0.35, 0.5), "pool": (0.75, 0.9), "muscle": (0.12, 0.22),  # intensities
    "gx": (-0.1, 0.1), "gy": (-0.1, 0.1),      # a linear shading across the image (coil sensitivity)
}
EXPOSURE = {"bright": (-0.08, 0.08), "contrast": (0.8, 1.2), "noise": (0.01, 0.04)}
_TRAIN_BEATS = 12  # beats simulated per clip; the clip's window starts uniformly within them
_CHUNK = 128  # clips rendered at once


@dataclass
class CinePhantomData:
    clips: np.ndarray        # uint8 (N, T, H, W)
    labels: np.ndarray       # int64 (N,), index into classes
    patients: np.ndarray     # str (N,), e.g. "C0001"
    classes: tuple[str, ...]
    contraction: np.ndarray  # float32 (N, T): contraction state of each frame, 0 (end-diastole) to 1 (end-systole)
    cavity_area: np.ndarray  # float32 (N, T): blood-pool area of each frame, in pixels


def describe_cine_phantom() -> str:
    """Two or three sentences for the UI."""
    return (
        "Synthetic cine clips (16 frames, 100 ms apart, two clips per patient) of a beating heart chamber, labelled "
        "by its rhythm: regular normal beats (7-10 frames), slow regular beats (bradycardia, 13-17 frames), or "
        "irregular beats (short and long beats alternating). Each clip starts at a random moment of its beat train, "
        "so every single frame shows a contraction state drawn from the same distribution in every class, and "
        "position, size, amplitude, brightness and noise vary alike: only the motion tells the classes apart, so a "
        "single-frame classifier stays at chance while a model that sees the sequence does not."
    )


def contraction_profile(phase: np.ndarray) -> np.ndarray:
    """Contraction state in [0, 1] at `phase` in [0, 1) of a beat: a quick systole, then a slower relaxation."""
    rising = 0.5 - 0.5 * np.cos(np.pi * phase / SYSTOLE)
    falling = 0.5 + 0.5 * np.cos(np.pi * (phase - SYSTOLE) / (1 - SYSTOLE))
    return np.where(phase < SYSTOLE, rising, falling)


def beat_lengths(rng: np.random.Generator, labels: np.ndarray, rate: np.ndarray) -> np.ndarray:
    """(N, _TRAIN_BEATS) beat lengths in frames for clips of class `labels`; `rate` in [0, 1) places a regular
    rhythm's (fixed) beat length within its class range."""
    n = len(labels)
    lengths = np.empty((n, _TRAIN_BEATS), np.float64)
    for label, (low, high) in ((0, NORMAL_BEAT), (1, SLOW_BEAT)):
        chosen = labels == label
        lengths[chosen] = (low + rate[chosen] * (high - low))[:, None]
    irregular = labels == 2
    draws = rng.random((n, _TRAIN_BEATS))
    short = SHORT_BEAT[0] + draws * (SHORT_BEAT[1] - SHORT_BEAT[0])
    long = LONG_BEAT[0] + draws * (LONG_BEAT[1] - LONG_BEAT[0])
    alternate = (np.arange(_TRAIN_BEATS) + rng.integers(0, 2, (n, 1))) % 2 == 0  # which beat type comes first
    lengths[irregular] = np.where(alternate, short, long)[irregular]
    return lengths


def contraction_states(rng: np.random.Generator, labels: np.ndarray, rate: np.ndarray, frames: int) -> np.ndarray:
    """(N, frames) contraction states: a window of `frames` frames starting at a uniformly random time of each
    clip's beat train (so the phase of every frame is uniform in every class)."""
    lengths = beat_lengths(rng, labels, rate)
    ends = np.cumsum(lengths, axis=1)
    start = rng.random(len(labels)) * (ends[:, -1] - frames)
    times = start[:, None] + np.arange(frames)[None, :]
    beat = np.stack([np.searchsorted(row_ends, row_times, side="right") for row_ends, row_times in zip(ends, times)])
    beat_start = np.take_along_axis(np.concatenate([np.zeros((len(labels), 1)), ends], axis=1), beat, axis=1)
    phase = (times - beat_start) / np.take_along_axis(lengths, beat, axis=1)
    return contraction_profile(np.clip(phase, 0.0, 1.0 - 1e-9)).astype(np.float32)


def _check(size: int, frames: int, count: int, seed: int) -> None:
    if not 16 <= size <= 256:
        raise UserError(f"The cine phantom can be generated at 16 to 256 pixels, not {size}.")
    if not 4 <= frames <= 64:
        raise UserError(f"The cine phantom's clips can hold 4 to 64 frames, not {frames}.")
    if count < len(CINE_CLASSES):
        raise UserError(f"The cine phantom needs at least {len(CINE_CLASSES)} clips (one per class), not {count}.")
    if int(seed) != seed or seed < 0:
        raise UserError(f"The cine phantom seed must be a whole number of 0 or more, not {seed}.")


def generate_cine_phantom(size: int = CINE_SIZE, frames: int = CINE_FRAMES, count: int = CINE_COUNT,
                          seed: int = 0) -> CinePhantomData:
    """Generate `count` clips of `frames` frames of `size` x `size` pixels; the same arguments give the same bytes.

    Classes are balanced (counts differ by at most one); a patient contributes CLIPS_PER_PATIENT clips of one class
    (the same anatomy and rhythm, different start time, exposure and noise). Raises UserError for bad arguments.
    """
    _check(size, frames, count, seed)
    k = len(CINE_CLASSES)
    rng = np.random.default_rng(seed)
    labels = np.arange(count) % k
    # patients: consecutive clips of one class, then shuffled as patients
    order = np.argsort(labels, kind="stable")
    labels = labels[order]
    patient_of = np.empty(count, np.int64)
    next_patient = 0
    for label in range(k):
        members = np.flatnonzero(labels == label)
        patient_of[members] = next_patient + np.arange(len(members)) // CLIPS_PER_PATIENT
        next_patient += (len(members) + CLIPS_PER_PATIENT - 1) // CLIPS_PER_PATIENT
    shuffle = rng.permutation(next_patient)[patient_of]
    order = np.argsort(shuffle, kind="stable")
    labels, patient_of = labels[order].astype(np.int64), shuffle[order]

    anatomy = {key: low + rng.random(next_patient) * (high - low) for key, (low, high) in ANATOMY.items()}
    anatomy["texture"] = rng.random((next_patient, 6, 6))
    contraction = contraction_states(rng, labels, anatomy["rate"][patient_of], frames)
    exposure = {key: low + rng.random(count) * (high - low) for key, (low, high) in EXPOSURE.items()}
    noise_rng = np.random.default_rng([seed, size, frames])
    clips = np.empty((count, frames, size, size), np.uint8)
    areas = np.empty((count, frames), np.float32)
    for start in range(0, count, _CHUNK):
        chunk = slice(start, start + _CHUNK)
        pat = {key: value[patient_of[chunk]] for key, value in anatomy.items()}
        unit, areas[chunk] = _render(pat, contraction[chunk], size)
        exp = {key: value[chunk][:, None, None, None] for key, value in exposure.items()}
        unit = 0.5 + exp["bright"] + exp["contrast"] * (unit - 0.5)
        unit += noise_rng.standard_normal(unit.shape, dtype=np.float32) * exp["noise"]
        clips[chunk] = np.rint(np.clip(unit, 0.0, 1.0) * 255).astype(np.uint8)
    patients = np.array([f"C{p + 1:04d}" for p in patient_of])
    return CinePhantomData(clips=clips, labels=labels, patients=patients, classes=CINE_CLASSES,
                           contraction=contraction, cavity_area=areas)


def _upsample(a: np.ndarray, size: int) -> np.ndarray:
    """Bilinear resize of (n, m, m) to (n, size, size), both grids covering the same field of view."""
    g = np.clip((np.arange(size, dtype=np.float32) + 0.5) * (a.shape[-1] / size) - 0.5, 0, a.shape[-1] - 1)
    i0 = np.minimum(g.astype(int), a.shape[-1] - 2)
    f = (g - i0).astype(np.float32)
    a = a[:, :, i0] * (1 - f) + a[:, :, i0 + 1] * f
    return a[:, i0, :] * (1 - f[:, None]) + a[:, i0 + 1, :] * f[:, None]


def _render(pat: dict[str, np.ndarray], contraction: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Float frames (n, T, size, size) in about [0, 1] before exposure, and the blood-pool area (n, T) in pixels.
    The pool radius is radius * (1 - amplitude * state); the wall keeps its diastolic area, so it thickens."""
    px = 2.0 / size
    c = ((np.arange(size) + 0.5) * px - 1.0).astype(np.float32)
    col = lambda key: pat[key].astype(np.float32)[:, None, None, None]  # noqa: E731
    x, y = c[None, None, None, :] - col("cx"), c[None, None, :, None] - col("cy")
    cos, sin = np.cos(col("angle")), np.sin(col("angle"))
    u, v = x * cos + y * sin, (y * cos - x * sin) * col("aspect")  # an ellipse stretched along one axis
    dist = np.sqrt(u * u + v * v)
    state = contraction[:, :, None, None]
    inner = col("radius") * (1.0 - col("amplitude") * state)
    outer_diastole = col("radius") + col("wall")
    outer = np.sqrt(inner ** 2 + outer_diastole ** 2 - col("radius") ** 2)  # the wall's area is kept
    soft = lambda d: np.clip(0.5 - d / px, 0.0, 1.0)  # noqa: E731  (1 inside, a one-pixel ramp at the edge)
    pool, heart = soft(dist - inner), soft(dist - outer)
    texture = _upsample(pat["texture"].astype(np.float32), size)[:, None]
    tissue = col("tissue") + 0.08 * (texture - 0.5) + col("gx") * x + col("gy") * y
    frames = tissue * (1 - heart) + col("muscle") * (heart - pool) + col("pool") * pool
    area = np.pi * inner[..., 0, 0] ** 2 / col("aspect")[..., 0, 0] / px ** 2
    return frames.astype(np.float32), area.astype(np.float32)
