"""Export a trained classifier for deployment: ONNX (checked in onnxruntime against PyTorch), TorchScript,
a dynamically quantised INT8 ONNX model (size and test-accuracy change measured), and a Markdown model card.

Every exported model takes images in [0, 1] of shape (N, C, S, S): the input normalisation is inside it.
"""
from __future__ import annotations

import io
import os
import tempfile
import time
import warnings
from pathlib import Path
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np
import onnxruntime as ort
import torch
from onnxruntime.quantization import QuantType, quantize_dynamic

from core.data.catalog import open_dataset
from core.errors import UserError
from core.evaluate.formats import FORMATS, SUFFIXES  # noqa: F401 - SUFFIXES: also read from here by the pages
from core.evaluate.predict import Predictor
from core.evaluate.intervals import METHOD_TEXT
from core.evaluate.report import load_report, report_warnings
from core.tasks.tensors import SplitTensors

ONNX_TOLERANCE = 1e-4


class RunRecord(Protocol):
    """What the export states about the run (core.jobs.store.RunRecord has these fields)."""

    id: str
    name: str
    workspace: str
    dataset: str
    epoch: int
    device_used: str | None
    best_epoch: int | None
    monitor: str | None


def example_input(predictor: Predictor, batch: int = 2, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(batch, predictor.model.in_channels, predictor.image_size, predictor.image_size,
                      generator=generator)


def onnx_bytes(predictor: Predictor) -> bytes:
    """The model as ONNX (opset 17, input "image" (N, C, S, S) with a dynamic batch), verified: onnxruntime must
    match PyTorch."""
    return verified_onnx_bytes(predictor.model, lambda batch, seed: example_input(predictor, batch, seed), "image",
                               predictor.spec.get("architecture", "classifier"))


def onnx_difference(predictor: Predictor, data: bytes) -> float:
    """Largest absolute difference between onnxruntime's and PyTorch's logits on random inputs."""
    return onnx_logit_difference(predictor.model, data, example_input(predictor, batch=4, seed=1), "image")


def torchscript_bytes(predictor: Predictor) -> bytes:
    return traced_bytes(predictor.model, example_input(predictor, 1))


def verified_onnx_bytes(model: torch.nn.Module, example: Callable[[int, int], torch.Tensor], input_name: str,
                        what: str) -> bytes:
    """`model` as ONNX (opset 17, input `input_name` with a dynamic batch axis, output "logits"), checked in
    onnxruntime against PyTorch on `example(batch=2, seed=1)`. Raises UserError (nothing returned) when ONNX
    cannot express an operator or the two disagree by more than ONNX_TOLERANCE."""
    buffer = io.BytesIO()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(model.eval(), (example(1, 0),), buffer, dynamo=False, input_names=[input_name],
                              output_names=["logits"], opset_version=17,
                              dynamic_axes={input_name: {0: "batch"}, "logits": {0: "batch"}})
    except Exception as error:  # an operator ONNX cannot express: one sentence, not a traceback
        raise UserError(f"This {what} model cannot be exported to ONNX ({type(error).__name__}); download its "
                        "safetensors weights instead.") from error
    data = buffer.getvalue()
    difference = onnx_logit_difference(model, data, example(2, 1), input_name)
    if difference > ONNX_TOLERANCE:
        raise UserError(f"The ONNX export differs from PyTorch by {difference:.2g}; it was not saved.")
    return data


def onnx_logit_difference(model: torch.nn.Module, data: bytes, inputs: torch.Tensor, input_name: str) -> float:
    """Largest absolute difference between onnxruntime's and PyTorch's logits for `inputs`."""
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    with torch.no_grad():
        expected = model.eval()(inputs).numpy()
    return float(np.abs(session.run(None, {input_name: inputs.numpy()})[0] - expected).max())


def traced_bytes(model: torch.nn.Module, example: torch.Tensor) -> bytes:
    """`model` traced with TorchScript on `example`, saved to bytes."""
    with warnings.catch_warnings():  # torch.jit is deprecated in favour of torch.export, yet widely deployed
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(model.eval(), example)
        buffer = io.BytesIO()
        torch.jit.save(traced, buffer)
    return buffer.getvalue()


def int8_bytes(onnx: bytes) -> bytes:
    """Dynamic INT8 quantisation of the ONNX model's weights (convolutions and linear layers)."""
    with tempfile.TemporaryDirectory() as folder:
        source, target = Path(folder) / "model.onnx", Path(folder) / "model.int8.onnx"
        source.write_bytes(onnx)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8)
        return target.read_bytes()


def onnx_test_accuracy(data: bytes, predictor: Predictor, workspace: str, dataset_id: str) -> tuple[float, float]:
    """(accuracy on the run's test split, milliseconds per image) of an ONNX model in onnxruntime."""
    dataset = open_dataset(workspace, dataset_id)
    split = SplitTensors(dataset, dataset.indices("test"), torch.device("cpu"), predictor.image_size)
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    correct, seconds = 0, 0.0
    for images, labels in split.batches(64):
        start = time.perf_counter()
        logits = session.run(None, {"image": images.numpy()})[0]
        seconds += time.perf_counter() - start
        correct += int((logits.argmax(1) == labels.numpy()).sum()) if labels.ndim == 1 else 0
    return correct / max(len(split), 1), 1000 * seconds / max(len(split), 1)


def int8_comparison(predictor: Predictor, record: RunRecord, onnx: bytes, int8: bytes) -> dict[str, Any]:
    """Sizes and test accuracy of the float and INT8 models, as the Export tab and model card report them."""
    float_accuracy, float_ms = onnx_test_accuracy(onnx, predictor, record.workspace, record.dataset)
    int8_accuracy, int8_ms = onnx_test_accuracy(int8, predictor, record.workspace, record.dataset)
    return {"float_bytes": len(onnx), "int8_bytes": len(int8), "float_accuracy": float_accuracy,
            "int8_accuracy": int8_accuracy, "accuracy_change": int8_accuracy - float_accuracy,
            "float_ms_per_image": float_ms, "int8_ms_per_image": int8_ms}


def model_card(predictor: Predictor, record: RunRecord, config: dict[str, Any], folder: Path,
               quantisation: dict[str, Any] | None = None) -> str:
    """A Markdown model card (Mitchell et al., "Model Cards for Model Reporting", FAT* 2019)."""
    report = load_report(folder) or {}
    spec = predictor.spec
    metrics = report.get("metrics", {}).get("headline", {})
    lines = [
        f"# Model card: {record.name or record.id}", "",
        "## Model",
        f"- Architecture: {spec['architecture']} ({'ImageNet-pretrained' if spec.get('pretrained') else 'trained from scratch'}), "
        f"{sum(p.numel() for p in predictor.model.parameters()):,} parameters",
        f"- Task: {'multi-label' if predictor.multilabel else 'single-label'} classification into "
        f"{', '.join(predictor.classes)}",
        f"- Trained by MedLab run `{record.id}` for {record.epoch} epochs on {record.device_used}; "
        f"best epoch {record.best_epoch} by {record.monitor}",
        f"- Training config: `{ {k: config[k] for k in ('optimizer', 'lr', 'batch_size', 'scheduler', 'seed')} }`", "",
        "## Data",
        f"- Dataset: {spec.get('dataset_name')} (`{spec.get('dataset')}`), held-out test split of "
        f"{report.get('n_test', '?')} images; no patient is in two splits.",
        "",
        "## Preprocessing (applied inside MedLab's predictor, and expected by the exported files)",
        *[f"- {line}" for line in predictor.preprocessing.describe()],
        f"- The network input is (N, {predictor.model.in_channels}, {predictor.image_size}, {predictor.image_size}) "
        "in [0, 1]; normalisation is built into the exported model.", "",
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
    if quantisation:
        lines += ["", "## INT8 model",
                  f"- {quantisation['float_bytes'] / 1e6:.2f} MB -> {quantisation['int8_bytes'] / 1e6:.2f} MB; test "
                  f"accuracy {quantisation['float_accuracy']:.3f} -> {quantisation['int8_accuracy']:.3f}."]
    lines += ["", "## Intended use and limits",
              "- For research and teaching. It is not a medical device and must not be used for diagnosis.",
              "- Valid only for images like its training data (modality, view, size, intensity range); MedLab's "
              "predictor flags inputs that look out of distribution, exported files do not.",
              "- Performance was measured on one held-out split of one dataset; expect lower performance on data from "
              "other sites, scanners or populations."]
    return "\n".join(lines) + "\n"


def export(predictor: Predictor, record: RunRecord, config: dict[str, Any], folder: Path, fmt: str
           ) -> tuple[bytes, dict[str, Any]]:
    """(file bytes, facts to report) for one format."""
    if fmt not in FORMATS:
        raise UserError(f"Unknown export format '{fmt}'; choose one of {', '.join(FORMATS)}.")
    if fmt == "torchscript":
        return torchscript_bytes(predictor), {}
    onnx = onnx_bytes(predictor)
    if fmt == "onnx":
        return onnx, {"max_difference_vs_pytorch": onnx_difference(predictor, onnx)}
    int8 = int8_bytes(onnx)
    comparison = int8_comparison(predictor, record, onnx, int8) if not predictor.multilabel else {}
    if fmt == "int8":
        return int8, comparison
    return model_card(predictor, record, config, folder, comparison or None).encode(), comparison


def write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
