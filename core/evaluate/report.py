"""The report of a classification run: built once by the job executor from the task's split outputs
(ClassifyTask.split_outputs: logits, labels and features with the best weights), never calling back into the
task, and stored in the run folder.

    report.json       metrics with 95% CIs (Wilson or Clopper-Pearson for proportions, bootstrap for the rest),
                      per-class table, confusion matrix, ROC/PR curves, calibration (temperature scaling fitted
                      on validation when it is large enough), top-loss cases, and "warnings": sentences saying
                      why numbers are uncertain (small test split or class, calibration not applied)
    predictions.npz   test logits, labels and dataset indices (for the threshold slider and confusion cells)
    ood.json          the out-of-distribution reference (see ood.py)
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from core.evaluate.calibration import apply_temperature, calibration_summary
from core.evaluate.intervals import DEFAULT_CI_METHOD, sample_size_warnings
from core.evaluate.metrics import multi_label_report, pr_curves, roc_curves, single_label_report
from core.evaluate.ood import COLOUR_LIMIT, OODReference, colourfulness, fit_reference
from core.tasks.classify import ClassificationOutputs, probabilities
from core.train.run_folder import REPORT_FILE, read_json, write_json

PREDICTIONS_FILE, OOD_FILE = "predictions.npz", "ood.json"
TOP_LOSSES = 24


def build_report(outputs: ClassificationOutputs, folder: Path, ci_method: str = DEFAULT_CI_METHOD
                 ) -> dict[str, Any]:
    """Compute and store the report of a classifier from its split outputs (ClassifyTask.split_outputs, taken
    with the best weights); proportions get `ci_method` ("wilson" or "clopper-pearson") intervals."""
    val, test, classes = outputs.val, outputs.test, outputs.classes
    if outputs.multilabel:
        scores = probabilities(test.logits, multilabel=True)
        report: dict[str, Any] = {
            "task": "multilabel",
            "metrics": multi_label_report(test.labels, scores, classes, outputs.thresholds, ci_method=ci_method),
            "roc": roc_curves(test.labels, scores, classes),
            "pr": pr_curves(test.labels, scores, classes),
            "temperature": 1.0,
        }
    else:
        calibration = calibration_summary(val.logits, val.labels, test.logits, test.labels)
        temperature = float(calibration["temperature"])
        # one set of probabilities for the whole report, as the predictor gives them (scaled when T is applied):
        # with more than two classes scaling changes each class's ranking a little, so the table's AUC and AP
        # would otherwise disagree with the curves' legends (argmax, and so accuracy, does not change)
        calibrated = apply_temperature(test.logits, temperature)
        report = {
            "task": "classification",
            "metrics": single_label_report(test.labels, calibrated, classes, ci_method=ci_method),
            "roc": roc_curves(test.labels, calibrated, classes),
            "pr": pr_curves(test.labels, calibrated, classes),
            "calibration": calibration,
            "temperature": temperature,
            "top_losses": top_losses(test.logits, test.labels, test.indices, classes),
        }
    report.update(classes=classes, n_test=int(len(test.labels)), dataset=outputs.dataset_id,
                  thresholds=outputs.thresholds if outputs.multilabel else None)
    report["warnings"] = report_warnings(report)
    np.savez(folder / PREDICTIONS_FILE, logits=test.logits, labels=test.labels, indices=test.indices)
    fit_ood(outputs, report["temperature"]).save(folder / OOD_FILE)
    write_json(folder / REPORT_FILE, report)
    return report


def top_losses(logits: np.ndarray, labels: np.ndarray, indices: np.ndarray, classes: list[str]) -> list[dict]:
    """The wrong test predictions with the highest cross-entropy loss (on the true class) first."""
    tensor_logits = torch.from_numpy(logits)
    losses = F.cross_entropy(tensor_logits, torch.from_numpy(labels).long(), reduction="none").numpy()
    probabilities = torch.softmax(tensor_logits, dim=1).numpy()
    predicted = probabilities.argmax(1)
    wrong = np.flatnonzero(predicted != labels)
    order = wrong[np.argsort(-losses[wrong])][:TOP_LOSSES]
    return [{"index": int(indices[i]), "true": classes[int(labels[i])], "predicted": classes[int(predicted[i])],
             "confidence": float(probabilities[i, predicted[i]]), "loss": float(losses[i])} for i in order]


def fit_ood(outputs: ClassificationOutputs, temperature: float) -> OODReference:
    """The out-of-distribution reference from this run's training and validation images."""
    train, val, prepared = outputs.train, outputs.val, outputs.train_images
    labels = train.labels if not outputs.multilabel else np.where(train.labels.any(1), train.labels.argmax(1), -1)
    confidence = apply_temperature(val.logits, temperature).max(1) if not outputs.multilabel else np.array([])
    # "greyscale" also covers grey scans stored as RGB: judge by the training images' colour, not channel count
    greyscale = prepared.shape[1] == 1 or max(colourfulness(image.transpose(1, 2, 0)) for image in prepared[:256]) \
        < COLOUR_LIMIT
    return fit_reference(prepared, train.features, labels, val.features, confidence, greyscale)


def report_warnings(report: dict[str, Any]) -> list[str]:
    """Why the numbers of `report` are less sure than they look: the stored "warnings", or for a report stored
    before they existed, the same sentences worked out from it (small test split or class, collapsed bootstrap
    intervals, temperature scaling not applied)."""
    if "warnings" in report:
        return list(report["warnings"])
    calibration = report.get("calibration") or {}
    return sample_size_warnings(report["metrics"]) + ([calibration["note"]] if calibration.get("note") else [])


def load_report(folder: Path) -> dict[str, Any] | None:
    path = folder / REPORT_FILE
    return read_json(path) if path.exists() else None


def load_predictions(folder: Path) -> dict[str, np.ndarray]:
    with np.load(folder / PREDICTIONS_FILE) as data:
        return {key: data[key] for key in data.files}
