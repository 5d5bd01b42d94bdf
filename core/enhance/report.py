"""The report of a restoration run (denoising, super-resolution): built once by the job executor from the task's
split outputs (RestoreTask.split_outputs: test images, their seeded degraded copies and the network's
restorations with the best weights), never calling back into the task, and stored in the run folder.

    report.json   {"task", "degradation", "n_images", "comparison": rows of method, PSNR (dB), SSIM and
                  seconds per image, best PSNR first}: the trained network against the classical methods that do
                  the same job (the degraded input and the denoisers, or bicubic and Lanczos upscaling)
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from core.enhance.compare import best_first, classical_baselines, run_methods, score
from core.tasks.restore import RestorationOutputs
from core.train.run_folder import REPORT_FILE, write_json


def build_restoration_report(outputs: RestorationOutputs, folder: Path) -> dict[str, Any]:
    """Compute and store the report of a restoration run from its split outputs."""
    network = score(f"MedLab {outputs.model}", outputs.restored, outputs.clean, outputs.seconds_per_image)
    classical = run_methods(outputs.degraded, outputs.clean, classical_baselines(outputs.degradation))
    report = {"task": outputs.task, "degradation": outputs.degradation.describe(), "n_images": len(outputs.clean),
              "comparison": best_first([network, *classical])}
    write_json(folder / REPORT_FILE, report)
    return report
