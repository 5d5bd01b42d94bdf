"""Export a trained sequence classifier: its safetensors weights with the rebuild spec, ONNX (checked in
onnxruntime against PyTorch), torch.export's ExportedProgram (.pt2, checked by reloading), TorchScript (deprecated
by PyTorch in favour of torch.export), and a Markdown model card (Mitchell et al., "Model Cards for Model
Reporting", FAT* 2019) that states the frame policy a clip must be prepared with.

Every exported model takes clips in [0, 1] of shape (N, T, C, S, S): the input normalisation is inside it, T is
fixed by the run. INT8 quantisation is offered for image classifiers only (its accuracy check runs on images).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from core.errors import UserError
from core.evaluate.export import (RunRecord, onnx_logit_difference, traced_bytes, verified_onnx_bytes,
                                  verified_pt2_bytes)
from core.evaluate.intervals import METHOD_TEXT
from core.evaluate.predict_sequence import SequencePredictor
from core.evaluate.report import load_report, report_warnings
from core.train.run_folder import BEST_WEIGHTS, REBUILD_SPEC

SEQUENCE_FORMATS = ("weights", "onnx", "pt2", "torchscript", "card")
SEQUENCE_SUFFIXES = {"weights": ".safetensors", "spec": ".model.json", "onnx": ".onnx", "pt2": ".pt2",
                     "torchscript": ".pt", "card": ".md"}


def example_clip(predictor: SequencePredictor, batch: int = 2, seed: int = 0) -> torch.Tensor:
    """Random clips (batch, T, C, S, S) in [0, 1] of the run's shape."""
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(batch, predictor.frames, predictor.in_channels, predictor.image_size, predictor.image_size,
                      generator=generator)


def sequence_onnx_bytes(predictor: SequencePredictor) -> bytes:
    """The model as ONNX (opset 17, input "clip" (N, T, C, S, S) with a dynamic batch, output "logits"), verified:
    onnxruntime must match PyTorch, else UserError and nothing is returned."""
    return verified_onnx_bytes(predictor.model, lambda batch, seed: example_clip(predictor, batch, seed), "clip",
                               predictor.spec.get("architecture", "sequence"))


def sequence_onnx_difference(predictor: SequencePredictor, data: bytes) -> float:
    """Largest absolute difference between onnxruntime's and PyTorch's logits on random clips (batch of 2, so the
    dynamic batch axis is exercised too)."""
    return onnx_logit_difference(predictor.model, data, example_clip(predictor, batch=2, seed=1), "clip")


def sequence_pt2_bytes(predictor: SequencePredictor) -> bytes:
    """The model as a torch.export ExportedProgram (.pt2), input "clip" (N, T, C, S, S) with a dynamic batch,
    verified by reloading it (UserError otherwise)."""
    return verified_pt2_bytes(predictor.model, lambda batch, seed: example_clip(predictor, batch, seed),
                              predictor.spec.get("architecture", "sequence"))


def sequence_torchscript_bytes(predictor: SequencePredictor) -> bytes:
    return traced_bytes(predictor.model, example_clip(predictor, 1))


def weights_bytes(folder: Path) -> bytes:
    """The best epoch's safetensors weights (rebuild the network with core.models.sequence_nets and model.json)."""
    return (folder / BEST_WEIGHTS).read_bytes()


def spec_bytes(folder: Path) -> bytes:
    """model.json: architecture, encoder, classes, T, preprocessing and frame policy."""
    return (folder / REBUILD_SPEC).read_bytes()


def sequence_model_card(predictor: SequencePredictor, record: RunRecord, config: dict[str, Any], folder: Path
                        ) -> str:
    """A Markdown model card of a sequence classifier: model, data, the frame policy and per-frame preprocessing,
    test metrics with their intervals and warnings, calibration, intended use and limits."""
    report = load_report(folder) or {}
    spec = predictor.spec
    metrics = report.get("metrics", {}).get("headline", {})
    architecture = spec.get("architecture", "?")
    if architecture in ("cnn_lstm", "cnn_gru"):
        architecture += (f" ({spec.get('encoder')} frame encoder, hidden size {spec.get('hidden_size')}"
                         f"{', bidirectional' if spec.get('bidirectional') else ''}, "
                         f"{spec.get('temporal_pooling')} pooling over time)")
    elif architecture == "single_frame":
        architecture += f" ({spec.get('encoder')} frame encoder, logits averaged over frames: the no-motion baseline)"
    frame_time = f", {predictor.frame_time_ms:.0f} ms between frames" if predictor.frame_time_ms else ""
    recipe = {k: config[k] for k in ("optimizer", "lr", "batch_size", "scheduler", "seed") if k in config}
    lines = [
        f"# Model card: {record.name or record.id}", "",
        "## Model",
        f"- Architecture: {architecture}, {'pretrained' if spec.get('pretrained') else 'trained from scratch'}, "
        f"{sum(p.numel() for p in predictor.model.parameters()):,} parameters",
        f"- Task: sequence classification (one label per clip) into {', '.join(predictor.classes)}",
        f"- Trained by MedLab run `{record.id}` for {record.epoch} epochs on {record.device_used}; "
        f"best epoch {record.best_epoch} by {record.monitor}",
        f"- Training config: `{recipe}`", "",
        "## Data",
        f"- Dataset: {spec.get('dataset_name')} (`{spec.get('dataset')}`), held-out test split of "
        f"{report.get('n_test', '?')} clips; no patient is in two splits.", "",
        "## Preprocessing (applied inside MedLab's predictor, and expected by the exported files)",
        f"- {predictor.policy.describe().rstrip('.')}{frame_time}.",
        *[f"- {line}" for line in predictor.preprocessing.describe()[:3]],
        f"- The network input is (N, {predictor.frames}, {predictor.in_channels}, {predictor.image_size}, "
        f"{predictor.image_size}) in [0, 1] (clip, time, channel, height, width); normalisation is built into the "
        "exported model.", "",
        "## Test metrics (95% confidence intervals)",
        *([f"- **Warning:** {warning}" for warning in report_warnings(report)] if report else []),
        *[f"- {name.replace('_', ' ')}: {value['value']:.3f} ({value['ci_low']:.3f}-{value['ci_high']:.3f}, "
          f"{METHOD_TEXT.get(value.get('method', 'bootstrap'), value.get('method'))})"
          for name, value in metrics.items() if isinstance(value, dict) and value.get("value") is not None],
    ]
    calibration = report.get("calibration")
    if calibration and not calibration.get("applied", True):
        lines += ["", "## Calibration", f"- {calibration['note']} Expected calibration error on test "
                  f"{calibration['before']['ece']:.3f}."]
    elif calibration:
        lines += ["", "## Calibration",
                  f"- Temperature {calibration['temperature']:.2f} fitted on the validation split; expected "
                  f"calibration error on test {calibration['before']['ece']:.3f} before, "
                  f"{calibration['after']['ece']:.3f} after."]
    lines += ["", "## Intended use and limits",
              "- For research and teaching. It is not a medical device and must not be used for diagnosis.",
              "- Valid only for sequences like its training data (modality, view, frame rate, clip length, intensity "
              "range); MedLab's predictor flags inputs that look out of distribution, exported files do not.",
              "- Performance was measured on one held-out split of one dataset; expect lower performance on data from "
              "other sites, scanners or populations."]
    return "\n".join(lines) + "\n"


def export_sequence(predictor: SequencePredictor, record: RunRecord, config: dict[str, Any], folder: Path, fmt: str
                    ) -> tuple[bytes, dict[str, Any]]:
    """(file bytes, facts to report) for one of SEQUENCE_FORMATS; UserError for any other, in one sentence."""
    if fmt == "int8":
        raise UserError("INT8 export is available for image classifiers only; export this sequence model as ONNX.")
    if fmt not in SEQUENCE_FORMATS:
        raise UserError(f"Unknown export format '{fmt}' for a sequence model; choose one of "
                        f"{', '.join(SEQUENCE_FORMATS)}.")
    if fmt == "weights":
        return weights_bytes(folder), {"spec": json.loads(spec_bytes(folder))}
    if fmt == "torchscript":
        return sequence_torchscript_bytes(predictor), {}
    if fmt == "pt2":
        return sequence_pt2_bytes(predictor), {}
    if fmt == "onnx":
        data = sequence_onnx_bytes(predictor)
        return data, {"max_difference_vs_pytorch": sequence_onnx_difference(predictor, data)}
    return sequence_model_card(predictor, record, config, folder).encode(), {}
