"""Float ONNX and INT8 ONNX side by side, as an INT8 export reports them: file size, milliseconds per image at
batch 1 and batch 32 (same process, same machine, timed alternately), test accuracy with its 95% interval, and
how often the two models decide the same.

Timing: each model gets a warm-up, then the two run in turn, a block of runs each lasting about BLOCK_S seconds
(float block, INT8 block, float block, ...), so that a machine busy with something else slows both alike. The runs
that start in a block's first SETTLE_S seconds are not counted: onnxruntime's worker threads spin for a while
after each run, and the other model's threads, still spinning, would take the cores (measured: timed in strict
alternation, float and INT8 of the recommended CNN came out equal at batch 1 on 2 cores, timed apart INT8 was
1.3 times faster). The figure is the median counted run divided by the batch size. onnxruntime runs with its default
session options (all graph optimisations, one thread per physical core): what a user who loads the file gets.
Accuracy intervals are the project's binomial intervals (core.evaluate.intervals, Wilson score by default).
"""
from __future__ import annotations

import math
import os
import statistics
import time
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import onnxruntime as ort

from core.evaluate.cpu_int8 import dot_product_instructions, int8_hardware_text
from core.evaluate.intervals import DEFAULT_CI_METHOD, METHOD_TEXT, proportion_ci

TIMING_BATCHES = (1, 32)
TIMING_BUDGET_S = 1.0          # per batch size, both models together, after the warm-up
BLOCK_S, SETTLE_S = 0.05, 0.01  # a block of runs of one model; its runs starting in the first SETTLE_S are not counted
MIN_BLOCK_RUNS = 3
MIN_ROUNDS, MAX_ROUNDS = 3, 20


def session(data: bytes, threads: int = 0) -> ort.InferenceSession:
    """An onnxruntime CPU session with default options (`threads` 0: one per physical core), except that it logs
    errors only (no warnings on stderr)."""
    options = ort.SessionOptions()
    options.log_severity_level, options.intra_op_num_threads = 3, threads
    return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])


def batch_of(images: np.ndarray, size: int) -> np.ndarray:
    """`size` images (B, C, H, W) from `images`, repeated when there are fewer."""
    if not len(images):
        raise ValueError("no images to time with")
    return np.ascontiguousarray(np.resize(images, (size, *images.shape[1:])), dtype=np.float32)


def ms_per_image(sessions: Sequence[ort.InferenceSession], images: np.ndarray, batch: int,
                 input_name: str = "image", budget_s: float = TIMING_BUDGET_S, max_rounds: int = MAX_ROUNDS
                 ) -> tuple[list[float], int]:
    """(milliseconds per image of each session, fewest counted runs of one) at batch size `batch`: a warm-up
    round, then rounds in which each session runs a block (about BLOCK_S seconds, at least MIN_BLOCK_RUNS runs;
    the first run and those starting in the first SETTLE_S seconds not counted); the median counted run divided
    by `batch`. The rounds fill about `budget_s` seconds, within MIN_ROUNDS and `max_rounds`."""
    inputs = {input_name: batch_of(images, batch)}
    times: list[list[float]] = [[] for _ in sessions]

    def one_round() -> None:
        for model, kept in zip(sessions, times):
            block_start = time.perf_counter()
            runs = 0
            while runs < MIN_BLOCK_RUNS or time.perf_counter() - block_start < BLOCK_S:
                start = time.perf_counter()
                model.run(None, inputs)
                if runs and start - block_start >= SETTLE_S:
                    kept.append(time.perf_counter() - start)
                runs += 1

    start = time.perf_counter()
    one_round()   # warm-up (first runs allocate); it sizes the rounds and is not counted
    rounds = max(MIN_ROUNDS, min(max_rounds, int(budget_s / max(time.perf_counter() - start, 1e-6))))
    for kept in times:
        kept.clear()
    for _ in range(rounds):
        one_round()
    return [1000 * statistics.median(kept) / batch for kept in times], min(len(kept) for kept in times)


def decisions(logits: np.ndarray, multilabel: bool, thresholds: Sequence[float] | None) -> np.ndarray:
    """Single-label: the argmax class (N,). Multi-label: each label's sigmoid at or above its threshold (N, L),
    as the predictor decides (0.5 where the run has no thresholds)."""
    if not multilabel:
        return logits.argmax(1)
    limits = np.asarray(thresholds if thresholds is not None else [0.5] * logits.shape[1], dtype=np.float64)
    return 1 / (1 + np.exp(-logits.astype(np.float64))) >= limits


def _interval(correct: int, n: int) -> list[float] | None:
    return list(proportion_ci(correct, n, DEFAULT_CI_METHOD)) if n else None


def compare(float_model: bytes, int8_model: bytes, test_batches: Iterable[tuple[np.ndarray, np.ndarray]],
            timing_images: np.ndarray, *, multilabel: bool = False, thresholds: Sequence[float] | None = None,
            input_name: str = "image") -> dict[str, Any]:
    """The side-by-side facts of a float and an INT8 ONNX classifier.

    Args:
        float_model, int8_model: the two ONNX files' bytes.
        test_batches: (images float32 (B, C, H, W) in [0, 1], labels) of the test split; labels (B,) class
            indices, or (B, L) 0/1 for a multi-label model (scored by subset accuracy: every label right).
        timing_images: images (N, C, H, W) to time with (repeated up to the largest batch when fewer).
        multilabel, thresholds: how the predictor decides (see `decisions`).

    Returns:
        a dict with float_/int8_ bytes, accuracy (None without test images), accuracy_ci ([low, high]),
        ms_batch1, ms_batch32, ms_per_image (= batch 32); accuracy_change, agreement (share of test images on
        which the two decide the same), n_test, accuracy_measure, ci_method, speedup_batch1/32, timing (a sentence
        on how the times were taken), int8_hardware (a sentence on what this CPU brings to INT8 speed) and
        int8_instructions (its 8-bit dot-product instruction sets: [] for none, None when unknown), both from
        core.evaluate.cpu_int8.
    """
    models = [session(float_model), session(int8_model)]
    correct, agree, n = [0, 0], 0, 0
    for images, labels in test_batches:
        feed = {input_name: np.ascontiguousarray(images, dtype=np.float32)}
        chosen = [decisions(model.run(None, feed)[0], multilabel, thresholds) for model in models]
        truth = np.asarray(labels) >= 0.5 if multilabel else np.asarray(labels)
        for index, decided in enumerate(chosen):
            right = (decided == truth).all(1) if multilabel else decided == truth
            correct[index] += int(right.sum())
        same = (chosen[0] == chosen[1]).all(1) if multilabel else chosen[0] == chosen[1]
        agree += int(same.sum())
        n += len(images)
    facts: dict[str, Any] = {"float_bytes": len(float_model), "int8_bytes": len(int8_model), "n_test": n,
                             "accuracy_measure": "subset accuracy" if multilabel else "accuracy",
                             "ci_method": DEFAULT_CI_METHOD}
    for name, count in zip(("float", "int8"), correct):
        facts[f"{name}_accuracy"] = count / n if n else None
        facts[f"{name}_accuracy_ci"] = _interval(count, n)
    facts["accuracy_change"] = facts["int8_accuracy"] - facts["float_accuracy"] if n else None
    facts["agreement"] = agree / n if n else None
    repeats = []
    for batch in TIMING_BATCHES:
        (float_ms, int8_ms), count = ms_per_image(models, timing_images, batch, input_name)
        facts[f"float_ms_batch{batch}"], facts[f"int8_ms_batch{batch}"] = float_ms, int8_ms
        facts[f"speedup_batch{batch}"] = float_ms / int8_ms if int8_ms > 0 else math.nan
        repeats.append(count)
    facts["float_ms_per_image"], facts["int8_ms_per_image"] = facts["float_ms_batch32"], facts["int8_ms_batch32"]
    facts["timing"] = (f"median of {min(repeats)}-{max(repeats)} runs each, taken in alternating blocks after "
                       f"warm-up, onnxruntime "
                       f"{ort.__version__} on {os.cpu_count()} CPU cores with default session options, this "
                       "machine, this export")
    facts["int8_hardware"], facts["int8_instructions"] = int8_hardware_text(), dot_product_instructions()
    return facts


def _mb(count: int) -> str:
    return f"{count / 1e6:.2f} MB" if count >= 100_000 else f"{count / 1e3:.0f} kB"


def _accuracy(facts: dict[str, Any], name: str) -> str:
    value, interval = facts.get(f"{name}_accuracy"), facts.get(f"{name}_accuracy_ci")
    if value is None:
        return "no test images"
    return f"{value:.3f} ({interval[0]:.3f}–{interval[1]:.3f})" if interval else f"{value:.3f}"


def comparison_rows(facts: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(measure, float ONNX, INT8 ONNX) rows of the side-by-side table, as text: for the Export tab, the command
    line and the model card."""
    rows = [("file size", _mb(facts["float_bytes"]),
             f"{_mb(facts['int8_bytes'])} ({facts['float_bytes'] / max(facts['int8_bytes'], 1):.1f}× smaller)")]
    for batch in TIMING_BATCHES:
        float_ms, int8_ms = facts.get(f"float_ms_batch{batch}"), facts.get(f"int8_ms_batch{batch}")
        if float_ms is not None and int8_ms is not None:
            ratio = float_ms / int8_ms if int8_ms else math.nan
            relative = f"{ratio:.2f}× faster" if ratio >= 1 else f"{1 / ratio:.2f}× slower"
            rows.append((f"ms per image, batch {batch}", f"{float_ms:.3f}", f"{int8_ms:.3f} ({relative})"))
    measure = facts.get("accuracy_measure", "accuracy")
    method = METHOD_TEXT.get(facts.get("ci_method", DEFAULT_CI_METHOD), "")
    rows.append((f"test {measure} (95% CI, {method})", _accuracy(facts, "float"), _accuracy(facts, "int8")))
    agreement = facts.get("agreement")
    rows.append(("same decision as float", "—", "no test images" if agreement is None else
                 f"{agreement:.1%} of {facts['n_test']} test images"))
    return rows
