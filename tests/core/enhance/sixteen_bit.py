"""Shared inputs of the native-scale tests: 16-bit PNGs whose clean values span 0.30-0.55 of the full range."""
from __future__ import annotations

import atexit
import functools
import io
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import skimage.data
from PIL import Image

LOW, HIGH, SIGMA = 0.30, 0.55, 0.1


def png16(unit: np.ndarray) -> bytes:
    """A 16-bit greyscale PNG of a [0, 1] image (samples 0..65535)."""
    buffer = io.BytesIO()
    Image.fromarray(np.rint(np.clip(unit, 0, 1) * 65535).astype(np.uint16)).save(buffer, format="PNG")
    return buffer.getvalue()


def clean_crop(index: int = 0, size: int = 64) -> np.ndarray:
    """A real-texture crop (scikit-image's camera, downsampled 2x) scaled to span LOW..HIGH exactly."""
    camera = skimage.data.camera()[::2, ::2].astype(np.float64)
    top, left = divmod(index, 4)
    crop = camera[top * size:(top + 1) * size, left * size:(left + 1) * size]
    crop = (crop - crop.min()) / (crop.max() - crop.min())
    return LOW + (HIGH - LOW) * crop


def noisy(clean: np.ndarray, seed: int = 0) -> np.ndarray:
    return np.clip(clean + np.random.default_rng(seed).normal(0, SIGMA, clean.shape), 0, 1)


def read_png16(data: bytes) -> np.ndarray:
    image = Image.open(io.BytesIO(data))
    assert image.mode in ("I;16", "I;16B", "I"), image.mode
    array = np.asarray(image)
    assert array.max() <= 65535
    return array


def train_tiny_denoiser(workspace: str = "default") -> str:
    """A restoration run trained for a few steps on native 32 px patches of 16-bit crops, imported through the
    app (intensity full_range, resize tile): its id."""
    from core.data.importer import import_uploads
    from core.data.preprocess import Preprocessing
    from core.jobs.control import create_run
    from core.jobs.execute import execute
    from core.jobs.store import RunStore

    uploads = [(f"crop{i}.png", png16(clean_crop(i))) for i in range(1, 6)]
    summary = import_uploads(workspace, uploads, "crops16", Preprocessing(size=32, resize="tile",
                                                                          intensity="full_range"))
    store = RunStore()
    record = create_run(store, workspace, {"task": "denoise", "dataset": summary.dataset_id, "epochs": 1,
                                           "batch_size": 8, "patch_size": 32, "lr": 2e-3}, status="running")
    final = execute(store, record.id)
    assert final.status == "completed", final.message
    return record.id


@functools.cache
def tiny_run(builtin_dir: str) -> tuple[Path, str]:
    """(MEDLAB_HOME holding it, run id) of one tiny denoiser per test session, trained in a home of its own."""
    home = Path(tempfile.mkdtemp(prefix="medlab-tiny-run-"))
    atexit.register(shutil.rmtree, home, ignore_errors=True)  # the session's tests share it; nothing stays behind
    saved = {key: os.environ.get(key) for key in ("MEDLAB_HOME", "MEDLAB_BUILTIN_DIR")}
    os.environ.update(MEDLAB_HOME=str(home), MEDLAB_BUILTIN_DIR=builtin_dir)
    try:
        return home, train_tiny_denoiser()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
