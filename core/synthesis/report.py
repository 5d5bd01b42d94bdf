"""The report of a generative run (GAN, VAE / autoencoder, diffusion): built once by the job executor from the
task's split outputs (GenerativeTask.split_outputs: samples, real training and test images, their features on
the dataset's feature network, and for autoencoders the test images' reconstruction errors), never calling back
into the task, and stored in the run folder.

    report.json          {"task", "model", "dataset", "classes", "conditional", "train_class", "n_samples",
                         "n_test", "n_train_reference", "feature_accuracy", "seconds_per_sample",
                         "quality": {"fd", "kid", "kid_std", "precision", "recall", "density", "coverage",
                                     "two_sample_accuracy", "memorisation_ratio", "n_real", "n_fake", "features",
                                     "note"},
                         "real_baseline": the same figures (no memorisation) with real training images in
                                          place of the samples: what real images score at this count,
                         "per_class": {class: {"fd", "kid", "n_samples", "n_test"}} (conditional models),
                         "memorisation": {"space", "ratio", "close_share", "flagged", "pairs", ...},
                         "anomaly": null or {"normal_class", "auc", "per_class", "counts", "roc", "per_class_roc"},
                         "warnings": [sentences]}
    report_images.npz    uint8 images (N, H, W, C) the page shows beside it: "samples" (+ "sample_labels", -1 when
                         unconditional), the closest pairs "pair_samples" / "pair_train", and for autoencoders
                         "originals" / "reconstructions" and "anomaly_images" / "anomaly_maps" (N, H, W; 255 =
                         report["anomaly_map_scale"]) / "anomaly_labels" / "anomaly_scores"

Figures a set size does not allow are null. Quality is measured against the real test images of the class the
model learned (all classes unless train_class is set); an unlabelled dataset has no feature network, so its
quality figures are null with a note saying why, while memorisation (in pixel space) and anomaly scores remain.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from core.synthesis.anomaly import anomaly_roc, error_maps
from core.synthesis.quality import (QUALITY_KEYS, frechet_distance, kernel_inception_distance, memorisation,
                                    one_thread, quality_figures)
from core.train.run_folder import REPORT_FILE, REPORT_IMAGES, read_json, write_json

if TYPE_CHECKING:
    from core.tasks.generative import GenerativeOutputs

FEATURE_SPACE = "penultimate features of the dataset's classifier"
PIXEL_SPACE = "pixels (images at most 32 px)"
SHOWN_SAMPLES = 32
SHOWN_RECONSTRUCTIONS = 16
ANOMALY_PER_CLASS = 4
FEW_TEST_IMAGES = 200      # below this, warn that the figures are noisy
FEW_PER_CLASS = 10         # below this, no per-class figure (and an AUC on fewer is called noisy)
LOW_FEATURE_ACCURACY = 0.8

QUALITY_LABELS: dict[str, tuple[str, str]] = {  # key -> (what to call it, which way is better)
    "fd": ("FD on MedLab features", "lower is better, 0 at best"),
    "kid": ("KID on MedLab features", "lower is better, about 0 at best"),
    "precision": ("precision", "higher is better: samples that look real"),
    "recall": ("recall", "higher is better: real variety reached"),
    "density": ("density", "about 1 for real-like samples"),
    "coverage": ("coverage", "higher is better: real images with a sample nearby"),
    "two_sample_accuracy": ("two-sample accuracy", "0.5 is best: real and synthetic cannot be told apart"),
    "memorisation_ratio": ("memorisation ratio", "about 1 or above; below 1: closer to training images than new "
                                                 "real images are"),
}


def build_synthesis_report(outputs: GenerativeOutputs, folder: Path) -> dict[str, Any]:
    """Compute and store the report of a generative run from its split outputs; returns the report."""
    report, images = _report(outputs)
    _write_npz(folder / REPORT_IMAGES, images)
    write_json(folder / REPORT_FILE, report)
    return report


@one_thread
def _report(outputs: GenerativeOutputs) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    classes = outputs.classes
    normal = classes.index(outputs.train_class) if outputs.train_class in classes else None
    own = np.ones(len(outputs.test_labels), bool) if normal is None else outputs.test_labels == normal
    labelled = outputs.sample_features is not None and outputs.test_features is not None
    report: dict[str, Any] = {
        "task": outputs.task, "model": outputs.model, "dataset": outputs.dataset_id, "classes": classes,
        "conditional": outputs.conditional, "train_class": outputs.train_class,
        "n_samples": int(len(outputs.samples)), "n_test": int(own.sum()),
        "n_train_reference": int(len(outputs.train_images)), "feature_accuracy": outputs.feature_accuracy,
        "seconds_per_sample": float(outputs.seconds_per_sample), "per_class": {},
    }
    if labelled:
        figures = quality_figures(outputs.test_features[own], outputs.sample_features, outputs.train_features,
                                  space=FEATURE_SPACE)
        close = figures.pop("memorisation")
        report["quality"] = {**figures, "features": FEATURE_SPACE, "note": None}
        report["real_baseline"] = real_baseline(outputs, own)
        if outputs.conditional and outputs.sample_labels is not None:
            report["per_class"] = per_class_quality(outputs)
    else:
        report["quality"] = {**dict.fromkeys(QUALITY_KEYS), "n_real": int(own.sum()),
                             "n_fake": int(len(outputs.samples)), "features": None,
                             "note": "This dataset has no class labels, so there is no classifier whose features "
                                     "FD, KID, precision/recall and the two-sample test could be measured on."}
        close = memorisation(_pixels(outputs.samples), _pixels(outputs.train_images),
                             _pixels(outputs.test_images[own]), PIXEL_SPACE)
        report["quality"]["memorisation_ratio"] = close["ratio"]
    report["memorisation"] = close
    report["anomaly"] = None
    if outputs.anomaly_scores is not None and normal is not None:
        report["anomaly"] = anomaly_roc(outputs.anomaly_scores, outputs.test_labels, normal, classes)
    images = report_images(outputs, close)
    report["anomaly_map_scale"] = images.pop("_scale", None)
    report["warnings"] = synthesis_warnings(report)
    return _json_safe(report), images


def real_baseline(outputs: GenerativeOutputs, own: np.ndarray) -> dict[str, Any]:
    """The same figures with real training images in place of the samples (as many as there are samples, or all
    of them when fewer): what real images of this dataset score against its test split at this sample count, the
    yardstick for the samples' FD, KID and precision/recall (FD in particular is biased upwards on small sets).
    The memorisation check is left out (training images are their own nearest neighbours)."""
    train = outputs.train_features
    n = min(len(outputs.sample_features), len(train))
    picked = train[np.random.default_rng(0).choice(len(train), n, replace=False)]
    figures = quality_figures(outputs.test_features[own], picked)
    for key in ("memorisation", "memorisation_ratio"):
        figures.pop(key)
    return figures


def per_class_quality(outputs: GenerativeOutputs) -> dict[str, dict[str, Any]]:
    """FD and KID per class of a conditional model: its samples of a class against that class's test images
    (classes with fewer than FEW_PER_CLASS of either are left out)."""
    result = {}
    for index, name in enumerate(outputs.classes):
        fake = outputs.sample_features[outputs.sample_labels == index]
        real = outputs.test_features[outputs.test_labels == index]
        if min(len(fake), len(real)) < FEW_PER_CLASS:
            continue
        kid, kid_std = kernel_inception_distance(real, fake)
        result[name] = {"fd": frechet_distance(real, fake), "kid": kid, "kid_std": kid_std,
                        "n_samples": int(len(fake)), "n_test": int(len(real))}
    return result


def synthesis_warnings(report: dict[str, Any]) -> list[str]:
    """Sentences saying why the figures of `report` are less sure than they look."""
    warnings = []
    n_test, train_class = report["n_test"], report["train_class"]
    of_class = f" of class '{train_class}'" if train_class else ""
    if n_test < FEW_TEST_IMAGES:
        warnings.append(f"Only {n_test} real test images{of_class}: the figures are noisy (FD is also biased "
                        "upwards on small sets, so compare runs at the same sample count).")
    accuracy = report["feature_accuracy"]
    if accuracy is not None and not math.isnan(accuracy) and accuracy < LOW_FEATURE_ACCURACY:
        warnings.append(f"The feature network reaches only {accuracy:.0%} test accuracy, so its features may miss "
                        "differences that matter; read FD, KID and precision/recall with care.")
    if report["quality"].get("note"):
        warnings.append(report["quality"]["note"])
    close = report["memorisation"]
    if close.get("flagged"):
        warnings.append(f"{close['close_count']} of {report['n_samples']} samples ({close['close_share']:.0%}) are "
                        f"closer to a training image than 95% of real test images are (median distance ratio "
                        f"{close['ratio']:.2f}): the model may be reproducing training images, or only the most "
                        "typical ones; check recall and the closest pairs.")
    anomaly = report.get("anomaly")
    if anomaly:
        few = [name for name, count in anomaly["counts"].items() if 0 < count < FEW_PER_CLASS]
        if few:
            warnings.append(f"Fewer than {FEW_PER_CLASS} test images of {', '.join(few)}: those anomaly AUCs are "
                            "noisy.")
    return warnings


def report_images(outputs: GenerativeOutputs, close: dict[str, Any]) -> dict[str, np.ndarray]:
    """The uint8 images stored beside the report (see the module docstring), plus "_scale": the error of an
    anomaly map's 255 (None without maps)."""
    images: dict[str, np.ndarray] = {
        "samples": _uint8(outputs.samples[:SHOWN_SAMPLES]),
        "sample_labels": (np.full(min(len(outputs.samples), SHOWN_SAMPLES), -1) if outputs.sample_labels is None
                          else np.asarray(outputs.sample_labels[:SHOWN_SAMPLES])).astype(np.int64),
    }
    pairs = close.get("pairs") or []
    images["pair_samples"] = _uint8(outputs.samples[[p["sample"] for p in pairs]])
    images["pair_train"] = _uint8(outputs.train_images[[p["train"] for p in pairs]])
    images["_scale"] = None
    if outputs.reconstructions is not None and len(outputs.reconstructions):
        shown = _spread(outputs.test_labels, SHOWN_RECONSTRUCTIONS // max(1, len(outputs.classes)) or 1)
        images["originals"] = _uint8(outputs.test_images[shown])
        images["reconstructions"] = _uint8(outputs.reconstructions[shown])
        if outputs.anomaly_scores is not None:
            picked = _most_anomalous(outputs.anomaly_scores, outputs.test_labels)
            heat = error_maps(outputs.test_images[picked], outputs.reconstructions[picked])
            scale = float(heat.max()) if heat.size and heat.max() > 0 else 1.0
            images.update(anomaly_images=_uint8(outputs.test_images[picked]),
                          anomaly_maps=np.round(heat / scale * 255).astype(np.uint8),
                          anomaly_labels=np.asarray(outputs.test_labels[picked], np.int64),
                          anomaly_scores=np.asarray(outputs.anomaly_scores[picked], np.float32))
            images["_scale"] = scale
    return images


def load_synthesis_report(folder: Path) -> dict[str, Any] | None:
    """The stored report of a generative run folder, or None before it has one."""
    path = folder / REPORT_FILE
    return read_json(path) if path.exists() else None


def load_report_images(folder: Path) -> dict[str, np.ndarray]:
    """The images stored beside a generative run's report ({} before there are any)."""
    path = folder / REPORT_IMAGES
    if not path.exists():
        return {}
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def quality_lines(report: dict[str, Any]) -> list[str]:
    """The quality figures as readable lines (the command line's plain-text `evaluate`)."""
    quality, baseline = report["quality"], report.get("real_baseline") or {}
    lines = []
    for key, (label, better) in QUALITY_LABELS.items():
        value = quality.get(key)
        if value is None:
            continue
        shown = f"{value:.4g}"
        if key == "kid" and quality.get("kid_std") is not None:
            shown += f" ± {quality['kid_std']:.2g}"
        real = f"{baseline[key]:.4g}" if baseline.get(key) is not None else ""
        lines.append(f"  {label:26} {shown:18} {real:>10}   ({better})")
    if baseline:
        lines.insert(0, f"  {'':26} {'samples':18} {'real':>10}   (real: training images in place of samples)")
    return lines


# --- helpers ------------------------------------------------------------------------------------------------
def _pixels(images: np.ndarray, most: int = 32) -> np.ndarray:
    """(N, D) pixel vectors of images (N, H, W, C), box-downsampled to at most `most` px per side."""
    images = np.asarray(images, np.float32)
    if not len(images):
        return images.reshape(0, -1)
    factor = max(1, int(math.ceil(images.shape[1] / most)))
    h, w = images.shape[1] // factor * factor, images.shape[2] // factor * factor
    cut = images[:, :h, :w]
    pooled = cut.reshape(len(cut), h // factor, factor, w // factor, factor, -1).mean((2, 4))
    return pooled.reshape(len(pooled), -1)


def _uint8(images: np.ndarray) -> np.ndarray:
    return np.round(np.clip(np.asarray(images, np.float32), 0, 1) * 255).astype(np.uint8)


def _spread(labels: np.ndarray, per_class: int) -> np.ndarray:
    """Indices of up to `per_class` images of each label, in label order."""
    labels = np.asarray(labels)
    return np.concatenate([np.flatnonzero(labels == value)[:per_class] for value in np.unique(labels)]
                          ).astype(int) if len(labels) else np.zeros(0, int)


def _most_anomalous(scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Indices of the ANOMALY_PER_CLASS highest-scoring test images of each class, class by class."""
    scores, labels = np.asarray(scores), np.asarray(labels)
    picked = []
    for value in np.unique(labels):
        members = np.flatnonzero(labels == value)
        picked.append(members[np.argsort(-scores[members], kind="stable")[:ANOMALY_PER_CLASS]])
    return np.concatenate(picked).astype(int) if picked else np.zeros(0, int)


def _json_safe(value: Any) -> Any:
    """NaN and infinity become null; numpy scalars become Python numbers."""
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(item) for item in value]
    if isinstance(value, (np.floating, float)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def _write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """np.savez_compressed to a temporary file, then rename: readers never see half a file."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as handle:
        np.savez_compressed(handle, **arrays)
    os.replace(tmp, path)
