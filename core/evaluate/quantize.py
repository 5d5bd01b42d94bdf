"""INT8 versions of an exported ONNX classifier, made with ONNX Runtime's quantisation tools.

Two methods (ONNX Runtime, "Quantize ONNX models",
https://onnxruntime.ai/docs/performance/model-optimizations/quantization.html):
- static (post-training, calibrated): weights and activations in 8 bits. Activation ranges come from running
  calibration images (from the run's training split) through the float model, so every convolution runs as an
  integer kernel end to end (Jacob et al., "Quantization and Training of Neural Networks for Efficient
  Integer-Arithmetic-Only Inference", CVPR 2018). Written in QDQ format (QuantizeLinear/DequantizeLinear pairs
  that ONNX Runtime fuses into integer kernels), after ONNX Runtime's pre-processing step (shape inference and
  graph optimisation), with per-channel symmetric INT8 weights and unsigned 8-bit activations (the u8 x s8
  product is what x86 VNNI/AVX2 kernels compute natively, as ONNX Runtime's guide for x86 CPUs advises; signed
  activations were as fast on the small CNN and slower on ResNet-18 here).
- dynamic: weights in 8 bits, each activation quantised on the fly from its own range. No calibration, but on a
  CNN the convolutions run through slow integer kernels (the reason this module exists: the dynamic model of the
  recommended CNN was 6 times slower than float). ONNX Runtime recommends it for RNN and transformer (linear-heavy)
  models, static quantisation for CNNs; `choose_method` follows that: static when the graph has a convolution.

Two graph details make the static model fast on a CPU (measured in bench/deploy.py):
- the input normalisation (everything before the first convolution) stays in float: per-image statistics are
  computed once per image, and quantising them costs accuracy and time for no gain;
- a convolution whose input channels are not a multiple of 4 (a grey image has 1) gets zero channels padded onto
  its input and weights, which changes no output but lets ONNX Runtime's symmetric INT8 convolution kernel run it
  instead of a generic im2col path that is several times slower than float.
The speed needs onnxruntime's full graph optimisation (its default, ORT_ENABLE_ALL, which fuses the QDQ pairs into
NHWC integer kernels): at the basic or extended level the INT8 model ran slower than float.

No library text reaches stderr: ONNX Runtime's quantisation logs through the root logger (and would install a
stderr handler on it), so `quiet_onnxruntime` holds those records while it works.
"""
from __future__ import annotations

import logging
import tempfile
import warnings
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper
from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                      quantize_dynamic, quantize_static)
from onnxruntime.quantization.shape_inference import quant_pre_process

from core.errors import UserError

CALIBRATION_IMAGES = 256     # at most this many training images calibrate the activation ranges
CALIBRATION_BATCH = 8        # images per calibration run: 8 ResNet-18 images at 224 px hold ~0.1 GB of activations
CHANNEL_MULTIPLE = 4         # ONNX Runtime's symmetric INT8 convolution needs input channels in multiples of 4
METHODS = ("auto", "static", "dynamic")
METHOD_TEXT = {"static": "static (calibrated)", "dynamic": "dynamic"}


@dataclass(frozen=True)
class Quantised:
    """An INT8 ONNX model: its bytes, the method that made it and the reason, in one sentence."""

    data: bytes
    method: str          # "static" | "dynamic"
    reason: str
    calibration_images: int = 0


class _Held(logging.Handler):
    """Keeps log records instead of printing them."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def quiet_onnxruntime() -> Iterator[list[logging.LogRecord]]:
    """Hold what ONNX Runtime's quantisation tools log (through the root logger) and Python warnings while inside.

    `logging.warning(...)` on a root logger without handlers would call `basicConfig()` and print to stderr, then
    and for the rest of the process; with a handler in place for the duration it does neither. Yields the held
    records (for tests and debugging)."""
    root = logging.getLogger()
    held = _Held()
    saved_handlers, saved_level = root.handlers[:], root.level
    root.handlers = [held]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield held.records
    finally:
        root.handlers = saved_handlers
        root.setLevel(saved_level)


def choose_method(model: onnx.ModelProto) -> tuple[str, str]:
    """("static" | "dynamic", the reason in one sentence) for a float ONNX model."""
    if any(node.op_type == "Conv" for node in model.graph.node):
        return "static", ("Static quantisation calibrated on training images: the network is convolutional, and "
                          "only calibrated activation ranges let its convolutions run as fast integer kernels "
                          "(dynamic quantisation makes a CNN slower than float).")
    return "dynamic", ("Dynamic quantisation: the network has no convolutions, and for linear layers quantising "
                       "each input on the fly needs no calibration and is as fast.")


def float_prefix(model: onnx.ModelProto) -> list[str]:
    """Names of the nodes that compute the first convolution's input (the input normalisation): kept in float."""
    convs = [node for node in model.graph.node if node.op_type == "Conv"]
    if not convs:
        return []
    producer = {output: node for node in model.graph.node for output in node.output}
    names: set[str] = set()
    stack = [convs[0].input[0]]
    while stack:
        node = producer.get(stack.pop())
        if node is not None and node.name not in names:
            names.add(node.name)
            stack += list(node.input)
    return sorted(names)


def pad_conv_channels(model: onnx.ModelProto, multiple: int = CHANNEL_MULTIPLE) -> onnx.ModelProto:
    """The model with zero input channels added to every ungrouped convolution whose input channels are not a
    multiple of `multiple`: a Pad on its input (N, C, H, W) -> (N, C', H, W) and zero weights (O, C', kh, kw).
    The outputs are exactly the same; the point is ONNX Runtime's faster INT8 convolution kernel."""
    weights = {init.name: init for init in model.graph.initializer}
    nodes = []
    for node in model.graph.node:
        group = next((attribute.i for attribute in node.attribute if attribute.name == "group"), 1)
        if node.op_type == "Conv" and group == 1 and len(node.input) > 1 and node.input[1] in weights:
            weight = numpy_helper.to_array(weights[node.input[1]])
            extra = -weight.shape[1] % multiple
            if extra:
                zeros = np.zeros((weight.shape[0], extra, *weight.shape[2:]), weight.dtype)
                weights[node.input[1]].CopyFrom(numpy_helper.from_array(np.concatenate([weight, zeros], 1),
                                                                        node.input[1]))
                pads, padded = f"{node.name}_channel_pads", f"{node.input[0]}_channels_padded"
                model.graph.initializer.append(numpy_helper.from_array(
                    np.array([0, 0] + [0] * (weight.ndim - 2) + [0, extra] + [0] * (weight.ndim - 2), np.int64),
                    pads))
                nodes.append(helper.make_node("Pad", [node.input[0], pads], [padded], name=f"{node.name}_pad"))
                node.input[0] = padded
        nodes.append(node)
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    return model


class ImageCalibration(CalibrationDataReader):
    """Feeds calibration batches (float32 (B, C, H, W) in [0, 1], as the network sees them) to quantize_static,
    one batch per stride (ONNX Runtime's CalibStridedMinMax: the ranges of each stride are merged, giving the
    same model as one pass; a histogram calibrator then holds one batch's activations, not all of them)."""

    def __init__(self, batches: list[np.ndarray], input_name: str = "image") -> None:
        self.input_name = input_name
        self.batches = batches
        self.start, self.end = 0, len(batches)

    def __len__(self) -> int:
        return len(self.batches)

    def set_range(self, start_index: int, end_index: int) -> None:
        self.start, self.end = start_index, min(end_index, len(self.batches))

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self.start >= self.end:
            return None
        self.start += 1
        return {self.input_name: np.ascontiguousarray(self.batches[self.start - 1], dtype=np.float32)}


def static_int8(model: bytes, batches: Iterable[np.ndarray], input_name: str = "image", *,
                per_channel: bool = True, activation_type: QuantType = QuantType.QUInt8,
                quant_format: QuantFormat = QuantFormat.QDQ, reduce_range: bool = False,
                calibrate_method: CalibrationMethod = CalibrationMethod.MinMax, pad_channels: bool = True,
                keep_prefix_float: bool = True) -> tuple[bytes, int]:
    """(static INT8 model, calibration images used). The keyword options are ONNX Runtime's `quantize_static`
    ones, plus the two graph details of the module docstring; the defaults are what bench/deploy.py measured best.

    Raises UserError when no calibration image came."""
    batches = [batch for batch in batches if len(batch)]
    if not batches:
        raise UserError("INT8 calibration needs training images, and this run's training split has none.")
    with tempfile.TemporaryDirectory() as folder, quiet_onnxruntime():
        source, prepared, target = (Path(folder) / name for name in ("float.onnx", "pre.onnx", "int8.onnx"))
        source.write_bytes(model)
        quant_pre_process(str(source), str(prepared))
        graph = onnx.load(str(prepared))
        if pad_channels:
            onnx.save(pad_conv_channels(graph), str(prepared))
        excluded = float_prefix(graph) if keep_prefix_float else None
        quantize_static(str(prepared), str(target), ImageCalibration(batches, input_name), quant_format=quant_format,
                        per_channel=per_channel, reduce_range=reduce_range, activation_type=activation_type,
                        weight_type=QuantType.QInt8, nodes_to_exclude=excluded, calibrate_method=calibrate_method,
                        extra_options={"CalibStridedMinMax": 1})
        return target.read_bytes(), sum(len(batch) for batch in batches)


def dynamic_int8(model: bytes) -> bytes:
    """Dynamic INT8 quantisation (weights in 8 bits, activations quantised per call), after pre-processing."""
    with tempfile.TemporaryDirectory() as folder, quiet_onnxruntime():
        source, prepared, target = (Path(folder) / name for name in ("float.onnx", "pre.onnx", "int8.onnx"))
        source.write_bytes(model)
        quant_pre_process(str(source), str(prepared))
        quantize_dynamic(str(prepared), str(target), weight_type=QuantType.QInt8)
        return target.read_bytes()


def quantise(model: bytes, calibration: Callable[[], Iterable[np.ndarray]], input_name: str = "image",
             method: str = "auto") -> Quantised:
    """The INT8 model of a float ONNX model by `method`: "auto" (`choose_method`), "static" or "dynamic".

    `calibration()` gives the calibration batches; it is called only for static quantisation.
    Raises UserError for an unknown method."""
    if method not in METHODS:
        raise UserError(f"Unknown quantisation method '{method}'; choose one of {', '.join(METHODS)}.")
    chosen, reason = choose_method(onnx.load_from_string(model))
    if method != "auto" and method != chosen:
        chosen, reason = method, f"{METHOD_TEXT[method].capitalize()} quantisation, as asked."
    if chosen == "dynamic":
        return Quantised(dynamic_int8(model), "dynamic", reason)
    data, count = static_int8(model, calibration(), input_name)
    return Quantised(data, "static", reason, count)
