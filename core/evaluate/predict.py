"""Predictions on new files with a trained run: prepared exactly like its training data, calibrated, checked
for being out of distribution, and explained with a class activation map."""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from core.data.medical_image import MedicalImage
from core.data.preprocess import INTENSITY_POLICIES, RESIZE_POLICIES, Preprocessing, frame_to_unit_square, match_channels
from core.data.readers import read_medical_image
from core.data.windowing import PRESETS, window_to_unit
from core.errors import UserError
from core.evaluate.explain import class_activation_map, overlay
from core.evaluate.ood import OODReference, OODResult, check, colourfulness
from core.evaluate.report import OOD_FILE, load_report
from core.models import Classifier, build_classifier
from core.train.run_folder import load_trained_run


@dataclass
class Predictor:
    run_id: str
    model: Classifier
    classes: list[str]
    multilabel: bool
    thresholds: list[float] | None
    temperature: float
    preprocessing: Preprocessing
    image_size: int
    ood: OODReference | None
    spec: dict[str, Any] = field(default_factory=dict)


@dataclass
class Prediction:
    file: str
    frame: int
    label: str                         # the predicted class (multi-label: the labels above their thresholds)
    probabilities: dict[str, float]
    ood: OODResult | None
    heat: np.ndarray                   # class activation map (H, W) in [0, 1] at the model's input size
    image: np.ndarray                  # what the model saw, (H, W, C) in [0, 1]

    @property
    def out_of_distribution(self) -> bool:
        return bool(self.ood and self.ood.flagged)

    def row(self) -> dict[str, Any]:
        """One table/CSV row; the out-of-distribution flag and its reason lead, before the prediction they qualify."""
        return {"out_of_distribution": self.out_of_distribution,
                "ood_reason": "; ".join(self.ood.reasons) if self.ood else "", "file": self.file, "frame": self.frame,
                "prediction": self.label, **{f"p_{k}": round(v, 6) for k, v in self.probabilities.items()}}


def load_predictor(folder: Path) -> Predictor:
    """Rebuild the network of the run in `folder` (see core.train.run_folder; the run store's `run_folder` finds
    it from a run id) from its rebuild spec, model.json, and its best safetensors weights (nothing is unpickled)."""
    trained = load_trained_run(folder, ("classification", "multilabel"),
                               "is not a classifier, so it cannot classify images")
    run_id, spec = trained.run_id, trained.spec
    model = build_classifier(spec["architecture"], spec["in_channels"], len(spec["classes"]))
    model.load_state_dict(trained.weights)  # includes the input normalisation
    model.eval()
    report = load_report(folder) or {}
    source = spec.get("preprocessing", {})
    preprocessing = Preprocessing(  # built-in and MedMNIST data name no file policy: use the defaults for files
        size=int(source.get("size") or spec["image_size"]), channels=spec["in_channels"],
        resize=source.get("resize") if source.get("resize") in RESIZE_POLICIES else "pad",
        window=_window_choice(source.get("window")),
        # a model trained on full-range data (the file's own values) must see new images the same way
        intensity=source.get("intensity") if source.get("intensity") in INTENSITY_POLICIES else "window",
    )
    return Predictor(
        run_id=run_id, model=model, classes=spec["classes"], multilabel=spec["task"] == "multilabel",
        thresholds=spec.get("thresholds") or report.get("thresholds"), temperature=float(report.get("temperature", 1.0)),
        preprocessing=preprocessing, image_size=int(spec["image_size"]),
        ood=OODReference.load(folder / OOD_FILE) if (folder / OOD_FILE).exists() else None, spec=spec,
    )


def prepare(predictor: Predictor, image: MedicalImage, frame: int) -> tuple[np.ndarray, torch.Tensor]:
    """The frame as the model sees it: (H, W, C) in [0, 1] and a (1, C, S, S) tensor at the model's size."""
    unit = match_channels(frame_to_unit_square(image, frame, predictor.preprocessing), predictor.model.in_channels)
    tensor = torch.from_numpy(np.ascontiguousarray(unit)).permute(2, 0, 1)[None]
    if tensor.shape[-1] != predictor.image_size:
        tensor = F.interpolate(tensor, size=(predictor.image_size,) * 2, mode="bilinear", align_corners=False,
                               antialias=tensor.shape[-1] > predictor.image_size)
    return tensor[0].permute(1, 2, 0).numpy(), tensor


def predict_image(predictor: Predictor, image: MedicalImage, frame: int | None = None, method: str = "gradcam"
                  ) -> Prediction:
    frame = image.frame_count // 2 if frame is None else frame
    prepared, tensor = prepare(predictor, image, frame)
    model = predictor.model
    with torch.no_grad():
        features = model.backbone(model.normalize(tensor))
        logits = model.head(features)[0]
    if predictor.multilabel:
        probabilities = torch.sigmoid(logits).numpy()
        thresholds = np.asarray(predictor.thresholds or [0.5] * len(predictor.classes))
        chosen = [c for c, p, t in zip(predictor.classes, probabilities, thresholds) if p >= t]
        label, target = ("|".join(chosen) or "no finding"), int(np.argmax(probabilities))
    else:
        probabilities = torch.softmax(logits / predictor.temperature, dim=0).numpy()
        target = int(np.argmax(probabilities))
        label = predictor.classes[target]
    ood = None
    if predictor.ood is not None:
        colour = colourfulness(window_to_unit(image, frame)) if image.is_color else 0.0
        confidence = float(probabilities.max()) if not predictor.multilabel else 1.0
        ood = check(predictor.ood, colour, tensor[0].numpy(), features[0].numpy(), confidence)
    heat = class_activation_map(model, tensor, target, method)
    return Prediction(image.name, frame, label, dict(zip(predictor.classes, map(float, probabilities))), ood, heat,
                      prepared)


def explain(predictor: Predictor, prediction: Prediction, class_name: str, method: str = "gradcam") -> np.ndarray:
    """The activation map of `prediction`'s image for any class (not only the predicted one)."""
    tensor = torch.from_numpy(np.ascontiguousarray(prediction.image)).permute(2, 0, 1)[None]
    return class_activation_map(predictor.model, tensor, predictor.classes.index(class_name), method)


def predict_files(predictor: Predictor, files: list[tuple[str, bytes]], cam_dir: Path | None = None,
                  method: str = "gradcam") -> tuple[list[Prediction], list[tuple[str, str]]]:
    """Predict each file (DICOM de-identified on reading); unreadable files are returned with the reason."""
    predictions, errors = [], []
    for name, data in files:
        try:
            prediction = predict_image(predictor, read_medical_image(data, name), method=method)
        except UserError as error:
            errors.append((name, error.message))
            continue
        predictions.append(prediction)
        if cam_dir is not None:
            Image.fromarray(overlay(prediction.image, prediction.heat)).save(cam_dir / f"{Path(name).stem}_cam.png")
    return predictions, errors


def predictions_csv(predictions: list[Prediction]) -> str:
    buffer = io.StringIO()
    rows = [p.row() for p in predictions]
    if rows:
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return buffer.getvalue()


def _window_choice(saved: object) -> str:
    """The dataset's window choice ("default", "auto", a preset or "C,W") when a new image can use it, else
    "default" (built-in data name no window: "generated")."""
    if not isinstance(saved, str):
        return "default"
    if saved in ("default", "auto", *PRESETS):
        return saved
    try:
        center, width = (float(part) for part in saved.replace(";", ",").split(","))
    except ValueError:
        return "default"
    return saved if width > 0 and np.isfinite(center) and np.isfinite(width) else "default"
