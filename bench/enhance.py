"""Enhancement speed and quality.

1. Speed: a 1024x1024 greyscale image through the default learned denoiser (residual U-Net), warm, as the Enhance
   page runs it (tiled at 512 px with overlap). Target: <= 1 s on a 2-core CPU; <= 30 ms on a GPU.
2. Quality on real images: the recommended denoising recipe trained on the built-in real image tiles (fundus,
   histology, microscopy, CT, MR, ultrasound) with Gaussian noise sigma 0.1, then compared with non-local means
   and the other classical denoisers on the held-out test tiles (non-overlapping regions the training never saw;
   tiles are grouped by position, so regions of one source image can sit in different splits).
   Target: the learned denoiser beats non-local means by >= 1 dB PSNR.
3. Super-resolution x2 next to bicubic and Lanczos on the same test tiles (skip with --no-sr).

    python bench/enhance.py [--epochs 20] [--no-quality] [--no-sr]
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

from _common import temporary_home

import numpy as np
import torch


def speed(device: str) -> None:
    from core.enhance.learned import restore_image
    from core.models.restoration import build_restorer

    model = build_restorer("resunet", 1).to(device).eval()
    image = np.random.default_rng(0).random((1024, 1024)).astype(np.float32)
    if device == "cpu":
        for _ in range(2):
            restore_image(model, image)
        times = []
        for _ in range(5):
            start = time.perf_counter()
            restore_image(model, image)
            times.append(time.perf_counter() - start)
        print(f"speed: 1024x1024 through the default denoiser as the Enhance page runs it (CPU, {torch.get_num_threads()} threads): "
              f"median {statistics.median(times):.3f} s (target <= 1 s)")
        return
    tensor = torch.from_numpy(image)[None, None].to(device)
    with torch.inference_mode(), torch.autocast("cuda", dtype=torch.bfloat16):
        for _ in range(5):
            model(tensor)
        torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(20):
            model(tensor)
        torch.cuda.synchronize()
    print(f"speed: 1024x1024 through the default denoiser on {torch.cuda.get_device_name()}: "
          f"{(time.perf_counter() - start) / 20 * 1000:.1f} ms (bf16; target <= 30 ms)")


def train(task: str, epochs: int) -> dict:
    from core.jobs.control import create_run
    from core.jobs.execute import execute
    from core.jobs.store import RunStore

    store = RunStore()
    record = create_run(store, "default", {"task": task, "dataset": "real-tiles-128", "epochs": epochs},
                        status="running")
    start = time.perf_counter()
    final = execute(store, record.id)
    print(f"{task}: trained {final.epoch} epochs in {time.perf_counter() - start:.0f} s ({final.status}); "
          f"best val PSNR {final.best_value:.2f} dB")
    return json.loads((store.run_dir(final) / "report.json").read_text())


def show(report: dict) -> None:
    print(f"  held-out test tiles: {report['n_images']}, {report['degradation']}")
    for row in report["comparison"]:
        print(f"  {row['method']:34} PSNR {row['psnr']:6.2f} dB   SSIM {row['ssim']:.4f}   "
              f"{row['seconds_per_image'] * 1000:7.1f} ms/image")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--no-quality", action="store_true")
    parser.add_argument("--no-sr", action="store_true")
    args = parser.parse_args()
    temporary_home()
    speed("cpu")
    if torch.cuda.is_available():
        speed("cuda")
    if args.no_quality:
        return
    report = train("denoise", args.epochs)
    show(report)
    rows = {row["method"]: row["psnr"] for row in report["comparison"]}
    learned = next(v for k, v in rows.items() if k.startswith("MedLab"))
    print(f"  learned denoiser minus non-local means: {learned - rows['Non-local means']:+.2f} dB (target >= +1 dB)")
    if not args.no_sr:
        show(train("super_resolution", args.epochs))


if __name__ == "__main__":
    main()
