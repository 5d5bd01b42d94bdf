"""The export formats a trained run can be written in, and their file suffixes.

Kept apart from `core.evaluate.export` (which imports torch and onnxruntime) so the command line can list the
formats in `--help` without loading either.
"""
from __future__ import annotations

FORMATS = ("onnx", "torchscript", "int8", "card")
SUFFIXES = {"onnx": ".onnx", "torchscript": ".pt", "int8": ".int8.onnx", "card": ".md"}
