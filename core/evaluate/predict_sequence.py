"""Predictions on new sequences with a trained sequence run: the clip prepared exactly like its training data (the
dataset's frame policy and preprocessing), calibrated, checked for being out of distribution, and explained by
frame importance and Grad-CAM on the most important frame.

    load_sequence_predictor(folder)      the run's network from model.json and its best safetensors weights
    predict_clip(predictor, image)       one sequence (a MedicalImage of F frames) -> SequencePrediction
    predict_clip_files(predictor, files) uploads (multi-frame DICOM, video, NIfTI 4D, ZIP of frames) -> predictions
                                         and (file, reason) for each file that holds no readable sequence

The out-of-distribution check is the image one (core.evaluate.ood) on what the run's reference was fitted on: the
clip's middle frame (brightness, contrast, colour) and its pooled clip features (Mahalanobis distance), plus the
calibrated confidence.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from core.data.clips import read_clip
from core.data.frame_policy import FrameChoice, FramePolicy
from core.data.medical_image import MedicalImage
from core.data.preprocess import INTENSITY_POLICIES, RESIZE_POLICIES, Preprocessing, match_channels
from core.data.sequence_import import clip_units, match_channels_clip
from core.data.windowing import window_to_unit
from core.errors import UserError
from core.evaluate.ood import OODReference, OODResult, check, colourfulness
from core.evaluate.predict import _window_choice
from core.evaluate.report import OOD_FILE, load_report
from core.evaluate.temporal import attention_weights, frame_gradcam, frame_importance, gradcam_grid
from core.models.sequence_nets import SequenceClassifier, build_sequence_model
from core.train.run_folder import load_trained_run

FRAME_TIME_TOLERANCE = 1.5   # frames this many times closer or further apart than in training: said in a note


@dataclass
class SequencePredictor:
    run_id: str
    model: SequenceClassifier
    classes: list[str]
    temperature: float
    preprocessing: Preprocessing
    image_size: int
    frames: int                        # T, the frames the model takes
    policy: FramePolicy                # how the dataset chose its T frames (reused for every new sequence)
    frame_time_ms: float | None        # the training clips' time between stored frames, when known
    ood: OODReference | None
    spec: dict[str, Any] = field(default_factory=dict)
    multilabel: bool = False           # one label per clip (what code shared with image predictors reads)

    @property
    def in_channels(self) -> int:
        return int(self.model.in_channels)


@dataclass
class SequencePrediction:
    file: str
    label: str                         # the predicted class
    probabilities: dict[str, float]    # calibrated (the run's temperature)
    ood: OODResult | None
    importance: np.ndarray             # (T,) probability of the predicted class lost when each frame is occluded
    key_frame: int                     # the clip frame (0..T-1) with the highest importance
    heat: np.ndarray                   # Grad-CAM of the key frame for the predicted class, (S, S) in [0, 1]
    frames: np.ndarray                 # what the model saw, (T, S, S, C) in [0, 1]
    attention: np.ndarray | None       # (T,) attention weights, when the model pools by attention
    source_frames: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))  # (T,) frames of the file
    source_frame_count: int = 0        # frames in the file
    frame_time_ms: float | None = None  # time between the clip's frames, when the file said
    notes: list[str] = field(default_factory=list)  # the frame policy's fallbacks, a frame time unlike training
    heat_grid: tuple[int, int] | None = None  # (h, w) of the map Grad-CAM upsampled: how coarse `heat` is

    @property
    def out_of_distribution(self) -> bool:
        return bool(self.ood and self.ood.flagged)

    def row(self) -> dict[str, Any]:
        """One table/CSV row; the out-of-distribution flag and its reason lead, before the prediction they qualify.
        key_frame counts from 1 (as the page shows frames); key_source_frame is that frame's number in the file."""
        source = int(self.source_frames[self.key_frame]) + 1 if len(self.source_frames) > self.key_frame else ""
        return {"out_of_distribution": self.out_of_distribution,
                "ood_reason": "; ".join(self.ood.reasons) if self.ood else "", "file": self.file,
                "frames_in_file": self.source_frame_count, "key_frame": self.key_frame + 1,
                "key_source_frame": source, "prediction": self.label,
                **{f"p_{k}": round(v, 6) for k, v in self.probabilities.items()}}


def load_sequence_predictor(folder: Path) -> SequencePredictor:
    """Rebuild the sequence network of the run in `folder` from model.json and its best safetensors weights
    (nothing is unpickled), with the dataset's frame policy and per-frame preprocessing, the calibration
    temperature of its report and its out-of-distribution reference. UserError when the run is not a sequence
    model or has no weights yet."""
    trained = load_trained_run(folder, ("sequence",), "is not a sequence model, so it cannot classify sequences")
    spec = trained.spec
    model = build_sequence_model(spec["architecture"], int(spec["in_channels"]), len(spec["classes"]),
                                 encoder=spec.get("encoder") or "small_cnn",
                                 hidden_size=int(spec.get("hidden_size") or 64),
                                 bidirectional=bool(spec.get("bidirectional")),
                                 pooling=spec.get("temporal_pooling") or "attention", pretrained=False)
    model.load_state_dict(trained.weights)  # includes the input normalisation
    model.eval()
    report = load_report(folder) or {}
    source = spec.get("preprocessing") or {}
    frames = int(spec["frames"])
    policy = FramePolicy.from_dict(source["frame_policy"]) if source.get("frame_policy") else \
        FramePolicy("uniform", frames)
    preprocessing = Preprocessing(
        size=int(source.get("size") or spec["image_size"]), channels=int(spec["in_channels"]),
        resize=source.get("resize") if source.get("resize") in RESIZE_POLICIES and source.get("resize") != "tile"
        else "pad",
        window=_window_choice(source.get("window")),
        intensity=source.get("intensity") if source.get("intensity") in INTENSITY_POLICIES else "window",
    )
    return SequencePredictor(
        run_id=trained.run_id, model=model, classes=list(spec["classes"]),
        temperature=float(report.get("temperature") or 1.0), preprocessing=preprocessing,
        image_size=int(spec["image_size"]), frames=frames, policy=policy,
        frame_time_ms=spec.get("frame_time_ms"),
        ood=OODReference.load(folder / OOD_FILE) if (folder / OOD_FILE).exists() else None, spec=spec)


def prepare_clip(predictor: SequencePredictor, image: MedicalImage
                 ) -> tuple[np.ndarray, torch.Tensor, FrameChoice]:
    """The sequence as the model sees it: the frames the dataset's policy keeps, each windowed and resized like the
    training frames: (T, S, S, C) in [0, 1], the (1, T, C, S, S) tensor and the frame choice."""
    units, choice = clip_units(image, predictor.policy, predictor.preprocessing)   # exactly as the import does
    if len(choice.indices) != predictor.frames:
        raise UserError(f"The model takes clips of {predictor.frames} frames, but its frame policy gave "
                        f"{len(choice.indices)}.")
    units = match_channels_clip(units, predictor.in_channels)
    tensor = torch.from_numpy(np.ascontiguousarray(units)).permute(0, 3, 1, 2)   # (T, C, S', S')
    if tensor.shape[-1] != predictor.image_size:
        tensor = F.interpolate(tensor, size=(predictor.image_size,) * 2, mode="bilinear", align_corners=False,
                               antialias=tensor.shape[-1] > predictor.image_size).clamp(0, 1)
    return tensor.permute(0, 2, 3, 1).numpy(), tensor[None].contiguous(), choice


def clip_tensor(frames: np.ndarray) -> torch.Tensor:
    """(T, S, S, C) in [0, 1] (or a stored uint8/uint16 clip) -> the model's (1, T, C, S, S) float tensor."""
    if frames.dtype in (np.uint8, np.uint16):
        frames = frames.astype(np.float32) / np.iinfo(frames.dtype).max
    return torch.from_numpy(np.ascontiguousarray(frames, dtype=np.float32)).permute(0, 3, 1, 2)[None]


def predict_clip(predictor: SequencePredictor, image: MedicalImage) -> SequencePrediction:
    """Classify one sequence (any number of frames: the saved frame policy makes the T the model takes), check
    it for being out of distribution and explain it (frame importance, Grad-CAM on the key frame)."""
    frames, tensor, choice = prepare_clip(predictor, image)
    middle = int(choice.indices[len(choice.indices) // 2])
    colour = colourfulness(window_to_unit(image, middle)) if image.is_color else 0.0
    notes = [n for n in (choice.note, frame_time_note(predictor, choice.frame_time_ms)) if n]
    return _predict_prepared(predictor, image.name, frames, tensor, colour, np.asarray(choice.indices),
                             image.frame_count, choice.frame_time_ms, [_sentence(n) for n in notes])


def predict_stored_clip(predictor: SequencePredictor, clip: np.ndarray, name: str) -> SequencePrediction:
    """Classify a clip of a stored sequence dataset, (T, H, W, C) uint8/uint16: its frames were already chosen
    by the dataset's policy and preprocessed, so they go to the model as they are (resized if the run trained
    at another size)."""
    unit = clip.astype(np.float32) / np.iinfo(clip.dtype).max if clip.dtype in (np.uint8, np.uint16) else \
        clip.astype(np.float32)
    if unit.shape[0] != predictor.frames:
        raise UserError(f"The clip has {unit.shape[0]} frames, but the model takes {predictor.frames}.")
    unit = np.stack([match_channels(frame, predictor.in_channels) for frame in unit])
    tensor = clip_tensor(unit)[0]
    if tensor.shape[-1] != predictor.image_size:
        tensor = F.interpolate(tensor, size=(predictor.image_size,) * 2, mode="bilinear", align_corners=False,
                               antialias=tensor.shape[-1] > predictor.image_size).clamp(0, 1)
    middle = unit[len(unit) // 2]
    colour = colourfulness(middle) if middle.shape[-1] == 3 else 0.0
    return _predict_prepared(predictor, name, tensor.permute(0, 2, 3, 1).numpy(), tensor[None].contiguous(), colour,
                             np.arange(len(unit)), len(unit), predictor.frame_time_ms, [])


def _predict_prepared(predictor: SequencePredictor, name: str, frames: np.ndarray, tensor: torch.Tensor,
                      colour: float, source_frames: np.ndarray, source_count: int, frame_time_ms: float | None,
                      notes: list[str]) -> SequencePrediction:
    """Classify, check and explain a prepared clip: frames (T, S, S, C) and tensor (1, T, C, S, S) in [0, 1];
    `colour` is the colourfulness of the middle frame before preparation."""
    model = predictor.model
    with torch.no_grad():
        features = model.features(tensor)
        logits = model.head(features)[0]
    probabilities = torch.softmax(logits / predictor.temperature, dim=0).numpy()
    target = int(np.argmax(probabilities))
    ood = None
    if predictor.ood is not None:
        middle = tensor.shape[1] // 2
        ood = check(predictor.ood, colour, tensor[0, middle].numpy(), features[0].numpy(), float(probabilities.max()))
    importance, key_frame, heat, attention = explain_clip(predictor, tensor, target)
    return SequencePrediction(
        file=name, label=predictor.classes[target],
        probabilities=dict(zip(predictor.classes, map(float, probabilities))), ood=ood, importance=importance,
        key_frame=key_frame, heat=heat, frames=frames, attention=attention, source_frames=source_frames,
        source_frame_count=source_count, frame_time_ms=frame_time_ms, notes=notes,
        heat_grid=gradcam_grid(model, tensor))


def _sentence(text: str) -> str:
    """A note fragment from the frame policy ("the sequence has ...") as a sentence."""
    text = text.strip()
    return (text[:1].upper() + text[1:]).rstrip(".") + "."


def explain_clip(predictor: SequencePredictor, tensor: torch.Tensor, class_index: int
                 ) -> tuple[np.ndarray, int, np.ndarray, np.ndarray | None]:
    """(importance (T,), key frame, Grad-CAM (S, S) of the key frame, attention (T,) or None) of a prepared
    (1, T, C, S, S) clip for `class_index`."""
    importance = frame_importance(predictor.model, tensor, class_index, predictor.temperature)
    key_frame = int(np.argmax(importance))
    heat = frame_gradcam(predictor.model, tensor, class_index, key_frame)
    return importance, key_frame, heat, attention_weights(predictor.model, tensor)


def explain_class(predictor: SequencePredictor, prediction: SequencePrediction, class_name: str
                  ) -> tuple[np.ndarray, int, np.ndarray, np.ndarray | None]:
    """explain_clip of `prediction`'s frames for any class (not only the predicted one)."""
    return explain_clip(predictor, clip_tensor(prediction.frames), predictor.classes.index(class_name))


def frame_time_note(predictor: SequencePredictor, frame_time_ms: float | None) -> str | None:
    """A sentence when the clip's frames are much closer or further apart in time than the training clips'."""
    trained = predictor.frame_time_ms
    if not trained or not frame_time_ms:
        return None
    ratio = frame_time_ms / trained
    if 1 / FRAME_TIME_TOLERANCE <= ratio <= FRAME_TIME_TOLERANCE:
        return None
    return (f"Its frames are {frame_time_ms:.0f} ms apart, the training clips' {trained:.0f} ms: motion looks "
            f"{'faster' if ratio > 1 else 'slower'} to the model than in training.")


def predict_clip_files(predictor: SequencePredictor, files: list[tuple[str, bytes]]
                       ) -> tuple[list[SequencePrediction], list[tuple[str, str]]]:
    """Predict each uploaded sequence (DICOM de-identified on reading); files holding no readable sequence are
    returned with the reason, in the order given."""
    predictions, errors = [], []
    for name, data in files:
        try:
            image = read_clip(data, name)
            if image.frame_count < 2:
                raise UserError("It holds a single image, not a sequence; a sequence model needs several frames.")
            predictions.append(predict_clip(predictor, image))
        except UserError as error:
            errors.append((name, error.message))
    return predictions, errors


def sequence_predictions_csv(predictions: list[SequencePrediction]) -> str:
    """The predictions' rows (SequencePrediction.row) plus the per-frame importance, as CSV."""
    buffer = io.StringIO()
    rows = [{**p.row(), "importance": " ".join(f"{v:.4f}" for v in p.importance)} for p in predictions]
    if rows:
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return buffer.getvalue()
