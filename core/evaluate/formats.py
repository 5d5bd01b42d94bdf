"""The export formats a trained run can be written in, and their file suffixes.

Kept apart from `core.evaluate.export` (which imports torch and onnxruntime) so the command line can list the
formats in `--help` without loading either. "pt2" is torch.export's ExportedProgram, which PyTorch recommends over
TorchScript (deprecated); "int8" is the INT8 ONNX model (core.evaluate.quantize).
"""
from __future__ import annotations

FORMATS = ("onnx", "pt2", "torchscript", "int8", "card")
SUFFIXES = {"onnx": ".onnx", "pt2": ".pt2", "torchscript": ".pt", "int8": ".int8.onnx", "card": ".md"}
