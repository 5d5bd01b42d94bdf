"""Export a trained classifier for deployment: ONNX (checked in onnxruntime against PyTorch), torch.export's
ExportedProgram (.pt2, checked by reloading), TorchScript (deprecated by PyTorch in favour of torch.export, kept for
runtimes that still load it), an INT8 ONNX model (core.evaluate.quantize: static, calibrated on training images,
for CNNs; compared with float by core.evaluate.int8_compare) and a Markdown model card.

Every exported model takes images in [0, 1] of shape (N, C, S, S): the input normalisation is inside it.
"""
from __future__ import annotations

import io
import os
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import onnxruntime as ort
import torch

from core.data.catalog import open_dataset
from core.errors import UserError
from core.evaluate.formats import FORMATS, SUFFIXES  # noqa: F401 - SUFFIXES: also read from here by the pages
from core.evaluate.int8_compare import compare, comparison_rows
from core.evaluate.intervals import METHOD_TEXT
from core.evaluate.predict import Predictor
from core.evaluate.quantize import CALIBRATION_BATCH, CALIBRATION_IMAGES, quantise
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


def verified_pt2_bytes(model: torch.nn.Module, example: Callable[[int, int], torch.Tensor], what: str) -> bytes:
    """`model` as a torch.export ExportedProgram (.pt2) with a dynamic batch dimension, saved to bytes and checked:
    reloaded with torch.export.load, it must match the model on batches of 2 and 3 (the example has 2 images: a
    batch of 1 would specialise the batch size). Raises UserError (nothing returned) when torch.export cannot
    trace the model or the reloaded program differs by more than ONNX_TOLERANCE. (torch.export.load unpickles:
    it only ever reads the bytes made here.)"""
    model = model.eval()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.export.export(model, (example(2, 0),),
                                          dynamic_shapes=({0: torch.export.Dim("batch", min=1)},))
            buffer = io.BytesIO()
            torch.export.save(program, buffer)
            reloaded = torch.export.load(io.BytesIO(buffer.getvalue())).module()
    except Exception as error:  # an operator or control flow torch.export cannot capture: one sentence
        raise UserError(f"This {what} model cannot be exported with torch.export ({type(error).__name__}); "
                        "export it as ONNX or download its safetensors weights instead.") from error
    with torch.no_grad():
        difference = max(float((reloaded(inputs) - model(inputs)).abs().max())
                         for inputs in (example(2, 1), example(3, 2)))
    if difference > ONNX_TOLERANCE:
        raise UserError(f"The torch.export program differs from PyTorch by {difference:.2g}; it was not saved.")
    return buffer.getvalue()


def pt2_bytes(predictor: Predictor) -> bytes:
    """The model as a torch.export ExportedProgram (.pt2), input (N, C, S, S) in [0, 1] with a dynamic batch."""
    return verified_pt2_bytes(predictor.model, lambda batch, seed: example_input(predictor, batch, seed),
                              predictor.spec.get("architecture", "classifier"))


def _split(predictor: Predictor, workspace: str, dataset_id: str, split: str, limit: int | None = None,
           seed: int = 0) -> SplitTensors:
    """A split of the run's dataset at the run's image size, as the network sees it; at most `limit` images (a
    seeded random choice, in dataset order)."""
    dataset = open_dataset(workspace, dataset_id)
    indices = dataset.indices(split)
    if limit is not None and len(indices) > limit:
        indices = np.sort(np.random.default_rng(seed).choice(indices, limit, replace=False))
    return SplitTensors(dataset, indices, torch.device("cpu"), predictor.image_size)


def _numpy_batches(split: SplitTensors, size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    for images, labels in split.batches(size):
        yield images.numpy(), labels.numpy()


def calibration_batches(predictor: Predictor, workspace: str, dataset_id: str, limit: int = CALIBRATION_IMAGES
                        ) -> Iterator[np.ndarray]:
    """Up to `limit` training images (float32 (B, C, S, S) in [0, 1]) in batches, to calibrate INT8 ranges."""
    for images, _ in _numpy_batches(_split(predictor, workspace, dataset_id, "train", limit), CALIBRATION_BATCH):
        yield images


def int8_export(predictor: Predictor, record: RunRecord, onnx: bytes) -> tuple[bytes, dict[str, Any]]:
    """(INT8 ONNX bytes, the side-by-side facts of core.evaluate.int8_compare plus quantisation, its reason and
    the number of calibration images). Multi-label runs are scored by subset accuracy at their thresholds."""
    quantised = quantise(onnx, lambda: calibration_batches(predictor, record.workspace, record.dataset))
    test = _split(predictor, record.workspace, record.dataset, "test")
    timing = test if len(test) else _split(predictor, record.workspace, record.dataset, "train", 32)
    timing_images = timing.batch(torch.arange(min(len(timing), 32)))[0].numpy()   # repeated up to batch 32
    facts = compare(onnx, quantised.data, _numpy_batches(test, 64), timing_images, multilabel=predictor.multilabel,
                    thresholds=predictor.thresholds)
    return quantised.data, {"quantisation": quantised.method, "quantisation_reason": quantised.reason,
                            "calibration_images": quantised.calibration_images, **facts}


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
        lines += ["", "## INT8 model", f"- {quantisation['quantisation_reason']}"
                  + (f" {quantisation['calibration_images']} training images calibrated the activation ranges."
                     if quantisation.get("calibration_images") else ""), "",
                  "| | Float ONNX | INT8 ONNX |", "|---|---|---|",
                  *[f"| {measure} | {left} | {right} |" for measure, left, right in comparison_rows(quantisation)],
                  "", f"- Times: {quantisation['timing']}; expect other figures on other machines. The INT8 "
                  "speed needs onnxruntime's default (full) graph optimisation; at lower levels it runs slower."
                  + (f" {quantisation['int8_hardware']}" if quantisation.get("int8_hardware") else "")]
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
    if fmt == "pt2":
        return pt2_bytes(predictor), {}
    onnx = onnx_bytes(predictor)
    if fmt == "onnx":
        return onnx, {"max_difference_vs_pytorch": onnx_difference(predictor, onnx)}
    int8, comparison = int8_export(predictor, record, onnx)
    if fmt == "int8":
        return int8, comparison
    return model_card(predictor, record, config, folder, comparison).encode(), comparison


def write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
