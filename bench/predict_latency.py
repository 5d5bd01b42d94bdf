"""Warm per-image latency of prediction plus Grad-CAM for a 512x512 DICOM with the recommended model, and the
throughput for a batch of 100 files.

It trains the recommended recipe on the built-in phantom first (about 20 s on a 2-core CPU), then times
`predict_image` on DICOM bytes: reading and de-identifying the file, windowing, resizing, the forward pass with
calibration and the out-of-distribution check, and the Grad-CAM backward pass. Target: <= 150 ms per image on a
2-core CPU.

    python bench/predict_latency.py [--repeats 30]
"""
from __future__ import annotations

import argparse
import io
import statistics
import time

from _common import temporary_home

import numpy as np
import pydicom
from pydicom.data import get_testdata_file


def dicom_512(seed: int = 0) -> bytes:
    """pydicom's CT slice enlarged to 512x512 (uncompressed, 16-bit, HU via rescale), with a little noise."""
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    original = ds.pixel_array
    enlarged = np.kron(original.astype(np.int32), np.ones((4, 4), dtype=np.int32))
    enlarged += np.random.default_rng(seed).integers(-5, 6, enlarged.shape)
    ds.Rows, ds.Columns = enlarged.shape
    ds.PixelData = enlarged.astype(original.dtype).tobytes()
    buffer = io.BytesIO()
    ds.save_as(buffer)
    return buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    temporary_home()

    import torch

    from core.data.readers import read_medical_image
    from core.evaluate.predict import load_predictor, predict_image
    from core.jobs.control import create_run
    from core.jobs.execute import execute
    from core.jobs.store import RunStore

    store = RunStore()
    record = create_run(store, "default", {"dataset": "phantom-64"}, status="running")
    print(f"training the recipe: {execute(store, record.id).status}")
    predictor = load_predictor(store.run_folder(record.id))
    data = dicom_512()

    def once(payload: bytes) -> float:
        start = time.perf_counter()
        predict_image(predictor, read_medical_image(payload, "scan.dcm"))
        return time.perf_counter() - start

    for _ in range(3):
        once(data)  # warm-up
    times = [once(data) for _ in range(args.repeats)]
    print(f"512x512 DICOM -> prediction + Grad-CAM: median {1000 * statistics.median(times):.1f} ms, "
          f"p90 {1000 * sorted(times)[int(0.9 * len(times)) - 1]:.1f} ms over {args.repeats} runs "
          f"({torch.get_num_threads()} threads; target <= 150 ms)")
    files = [dicom_512(seed) for seed in range(100)]
    start = time.perf_counter()
    for payload in files:
        predict_image(predictor, read_medical_image(payload, "scan.dcm"))
    elapsed = time.perf_counter() - start
    print(f"100 files: {elapsed:.1f} s, {100 / elapsed:.1f} files/s")


if __name__ == "__main__":
    main()
