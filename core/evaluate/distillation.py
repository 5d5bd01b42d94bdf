"""The result table of a knowledge distillation (Hinton, Vinyals & Dean 2015): the teacher, the same student
trained alone, and the student distilled, each with its test accuracy and 95% interval, size and speed.

- Accuracy and its interval come from each run's stored report (report.json: Wilson score interval by default,
  core.evaluate.intervals), so the table says what the Report tab says.
- Size: the parameter count and the bytes of the run's float32 safetensors weights (best.safetensors; it also
  holds BatchNorm statistics and the input normalisation), the file MedLab keeps and exports are built from.
- Speed: milliseconds per image of the PyTorch model in float32 on the CPU at batch 1, eager mode, torch's
  current thread count; after a warm-up, the median of `repeats` timed forward passes on the same random image,
  measured the same way for all three models, one after another in this process.
- `paired_difference`: distilled minus alone on the same test images, with an exact McNemar test on the images
  where exactly one of the two is right (McNemar 1947; the binomial form, Fagerland et al. 2013).

Everything is read from run folders (core.train.run_folder); finding which runs these are is core.jobs.distillation.
"""
from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from core.train.run_folder import BEST_WEIGHTS, REBUILD_SPEC, read_json

ROLES = ("teacher", "student alone", "student distilled")
SPEED_REPEATS = 50
SPEED_WARMUP = 5


def count_parameters(model: torch.nn.Module) -> int:
    """Every parameter of `model` (trainable or not; buffers such as BatchNorm statistics excluded)."""
    return int(sum(p.numel() for p in model.parameters()))


@torch.inference_mode()
def ms_per_image(model: torch.nn.Module, channels: int, size: int, repeats: int = SPEED_REPEATS,
                 warmup: int = SPEED_WARMUP) -> float:
    """Median milliseconds of one forward pass of `model` (moved to the CPU, eval mode, float32) on one random
    (1, channels, size, size) image, after `warmup` untimed passes."""
    model = model.cpu().eval()
    image = torch.rand((1, channels, size, size), generator=torch.Generator().manual_seed(0))
    for _ in range(warmup):
        model(image)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        model(image)
        times.append(time.perf_counter() - start)
    return float(np.median(times) * 1000)


def model_row(role: str, folder: Path | None, status: str = "completed", measure_speed: bool = True,
              repeats: int = SPEED_REPEATS) -> dict[str, Any]:
    """One row of the table for the run in `folder`: {"role", "run", "architecture", "accuracy", "ci_low",
    "ci_high", "n_test", "parameters", "weights_bytes", "ms_per_image", "status"}. Numbers are None when the run is
    missing (`folder` None), not completed (`status`), or has no report; speed is None unless `measure_speed`."""
    from core.evaluate.predict import load_predictor  # torch models only when a row is actually measured
    from core.evaluate.report import load_report

    row: dict[str, Any] = {"role": role, "run": folder.name if folder is not None else None, "architecture": None,
                           "accuracy": None, "ci_low": None, "ci_high": None, "n_test": None, "parameters": None,
                           "weights_bytes": None, "ms_per_image": None, "status": status}
    if folder is None or status != "completed" or not (folder / REBUILD_SPEC).exists():
        return row
    row["architecture"] = read_json(folder / REBUILD_SPEC).get("architecture")
    accuracy = ((load_report(folder) or {}).get("metrics") or {}).get("headline", {}).get("accuracy") or {}
    row.update(accuracy=accuracy.get("value"), ci_low=accuracy.get("ci_low"), ci_high=accuracy.get("ci_high"),
               n_test=accuracy.get("trials"))
    if (folder / BEST_WEIGHTS).exists():
        row["weights_bytes"] = (folder / BEST_WEIGHTS).stat().st_size
        predictor = load_predictor(folder)
        row["parameters"] = count_parameters(predictor.model)
        if measure_speed:
            row["ms_per_image"] = ms_per_image(predictor.model, predictor.model.in_channels, predictor.image_size,
                                               repeats=repeats)
    return row


def comparison_rows(runs: dict[str, tuple[Path | None, str]], measure_speed: bool = True,
                    repeats: int = SPEED_REPEATS) -> list[dict[str, Any]]:
    """The table: one `model_row` per role of ROLES, in that order. `runs` maps a role to (run folder or None,
    the run's status); a role missing from `runs` is a row without numbers."""
    return [model_row(role, *runs.get(role, (None, "none")), measure_speed=measure_speed, repeats=repeats)
            for role in ROLES]


def paired_difference(alone: Path, distilled: Path) -> dict[str, Any] | None:
    """Distilled minus alone on the same test images: {"difference" (accuracy points as a fraction),
    "distilled_only" (images only the distilled student gets right), "alone_only", "p_value" (two-sided exact
    McNemar), "n"}; None when either run has no stored test predictions or they are not of the same images."""
    from scipy.stats import binomtest  # here: scipy.stats takes most of a second to import

    from core.evaluate.report import PREDICTIONS_FILE, load_predictions

    if not (alone / PREDICTIONS_FILE).exists() or not (distilled / PREDICTIONS_FILE).exists():
        return None
    first, second = load_predictions(alone), load_predictions(distilled)
    if not np.array_equal(first["indices"], second["indices"]) or not np.array_equal(first["labels"], second["labels"]):
        return None
    labels = first["labels"]
    right_alone = first["logits"].argmax(1) == labels
    right_distilled = second["logits"].argmax(1) == labels
    distilled_only = int((right_distilled & ~right_alone).sum())
    alone_only = int((right_alone & ~right_distilled).sum())
    discordant = distilled_only + alone_only
    p_value = float(binomtest(distilled_only, discordant, 0.5).pvalue) if discordant else 1.0
    n = int(len(labels))
    return {"difference": (distilled_only - alone_only) / n if n else math.nan, "distilled_only": distilled_only,
            "alone_only": alone_only, "p_value": p_value, "n": n}


def verdict(rows: list[dict[str, Any]], paired: dict[str, Any] | None) -> str:
    """One sentence: whether the distilled student beat the student trained alone on test accuracy, by how much."""
    by_role = {row["role"]: row for row in rows}
    alone, distilled = by_role["student alone"].get("accuracy"), by_role["student distilled"].get("accuracy")
    if alone is None or distilled is None:
        return "The comparison needs both students' test reports."
    points = (distilled - alone) * 100
    word = "beat" if points > 0 else "did not beat" if points < 0 else "tied with"
    text = f"The distilled student {word} the student trained alone: {distilled:.1%} against {alone:.1%} test " \
           f"accuracy ({points:+.1f} points)"
    if paired is not None:
        text += (f"; {paired['distilled_only']} test image(s) only the distilled student got right, "
                 f"{paired['alone_only']} only the student alone (exact McNemar p = {paired['p_value']:.2g})")
    return text + "."
