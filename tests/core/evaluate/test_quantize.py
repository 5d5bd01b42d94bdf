"""INT8 quantisation: the static model of the phantom-trained CNN is calibrated, smaller and decides like float;
the side-by-side facts are complete and sane; nothing reaches stderr; the graph details change no output."""
from __future__ import annotations

import json
import logging

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from torch import nn

from core.cli import main
from core.errors import UserError
from core.evaluate.cpu_int8 import int8_hardware_text
from core.evaluate.export import export, verified_onnx_bytes
from core.evaluate.int8_compare import compare, comparison_rows, decisions
from core.evaluate.predict import load_predictor
from core.evaluate.quantize import (choose_method, float_prefix, pad_conv_channels, quantise, quiet_onnxruntime,
                                    static_int8)
from core.jobs.store import RunStore
from core.models import build_classifier

KEYS = ("float_bytes", "int8_bytes", "float_accuracy", "int8_accuracy", "accuracy_change", "float_ms_per_image",
        "int8_ms_per_image", "quantisation", "quantisation_reason", "calibration_images", "float_ms_batch1",
        "int8_ms_batch1", "float_ms_batch32", "int8_ms_batch32", "speedup_batch1", "speedup_batch32",
        "float_accuracy_ci", "int8_accuracy_ci", "ci_method", "accuracy_measure", "agreement", "n_test", "timing",
        "int8_hardware", "int8_instructions")


def onnx_of(model: nn.Module, shape: tuple[int, ...]) -> bytes:
    return verified_onnx_bytes(model.eval(), lambda batch, seed: torch.rand(
        batch, *shape, generator=torch.Generator().manual_seed(seed)), "image", "test")


def small_cnn_onnx(size: int = 16) -> bytes:
    torch.manual_seed(0)
    return onnx_of(build_classifier("small_cnn", 1, 3), (1, size, size))


def random_batches(count: int, size: int = 16, batch: int = 8, seed: int = 0):
    rng = np.random.default_rng(seed)
    return [rng.random((batch, 1, size, size), dtype=np.float32) for _ in range(count)]


def run(data: bytes, images: np.ndarray) -> np.ndarray:
    return ort.InferenceSession(data, providers=["CPUExecutionProvider"]).run(None, {"image": images})[0]


def test_static_int8_export_of_the_trained_cnn_decides_like_float_and_says_nothing_on_stderr(trained, capfd):
    capfd.readouterr()
    store = RunStore()
    record = store.get(trained.run_id)
    predictor = load_predictor(store.run_folder(trained.run_id))
    data, facts = export(predictor, record, store.config(record), store.run_dir(record), "int8")
    captured = capfd.readouterr()
    assert captured.err == "" and captured.out == ""
    assert set(KEYS) <= set(facts)
    assert facts["quantisation"] == "static" and "convolutional" in facts["quantisation_reason"]
    assert facts["calibration_images"] == 256   # the phantom's training split holds more: capped
    assert facts["int8_bytes"] == len(data) < facts["float_bytes"] / 2
    assert facts["n_test"] == 458 and facts["agreement"] >= 0.9
    assert abs(facts["accuracy_change"]) <= 0.02 and facts["int8_accuracy"] > 0.9
    for name in ("float", "int8"):
        low, high = facts[f"{name}_accuracy_ci"]
        assert 0 <= low <= facts[f"{name}_accuracy"] <= high <= 1
        assert facts[f"{name}_ms_batch1"] > 0 and facts[f"{name}_ms_batch32"] > 0
    assert facts["float_ms_per_image"] == facts["float_ms_batch32"]
    assert facts["speedup_batch1"] == pytest.approx(facts["float_ms_batch1"] / facts["int8_ms_batch1"])
    model = onnx.load_from_string(data)
    assert {"QuantizeLinear", "DequantizeLinear"} <= {node.op_type for node in model.graph.node}
    rows = comparison_rows(facts)
    assert [row[0] for row in rows] == ["file size", "ms per image, batch 1", "ms per image, batch 32",
                                        "test accuracy (95% CI, Wilson score)", "same decision as float"]
    assert rows[-1][2].endswith("of 458 test images")


def test_model_card_shows_the_side_by_side_table(trained):
    store = RunStore()
    record = store.get(trained.run_id)
    predictor = load_predictor(store.run_folder(trained.run_id))
    card = export(predictor, record, store.config(record), store.run_dir(record), "card")[0].decode()
    section = card.split("## INT8 model")[1].split("\n## ")[0]
    assert "| | Float ONNX | INT8 ONNX |" in section and "| ms per image, batch 32 |" in section
    assert "256 training images calibrated" in section and "Static quantisation" in section
    assert int8_hardware_text() in section   # what this CPU brings to INT8 speed, beside the times


def test_cli_int8_export_prints_the_table_and_json_keeps_the_old_keys(trained, tmp_path, capsys):
    out = tmp_path / "model.int8.onnx"
    assert main(["export", trained.run_id, "--format", "int8", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "Float ONNX" in printed and "INT8 ONNX" in printed and "ms per image, batch 1" in printed
    assert printed.rstrip().endswith(int8_hardware_text())
    assert main(["export", trained.run_id, "--format", "int8", "--out", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert set(KEYS) <= set(summary) and summary["bytes"] == out.stat().st_size


def test_channel_padding_changes_no_output():
    data = small_cnn_onnx()
    model = onnx.load_from_string(data)
    padded = pad_conv_channels(onnx.load_from_string(data))
    first = next(node for node in padded.graph.node if node.op_type == "Conv")
    weight = next(init for init in padded.graph.initializer if init.name == first.input[1])
    assert list(weight.dims)[:2] == [16, 4] and any(node.op_type == "Pad" for node in padded.graph.node)
    images = random_batches(1)[0]
    assert np.abs(run(padded.SerializeToString(), images) - run(model.SerializeToString(), images)).max() < 1e-5


def test_the_input_normalisation_stays_float():
    model = onnx.load_from_string(small_cnn_onnx())
    kept = float_prefix(model)
    kinds = {node.name: node.op_type for node in model.graph.node}
    assert kept and "Conv" not in {kinds[name] for name in kept} and {"ReduceMean", "Div"} <= {kinds[n] for n in kept}


def test_static_for_convolutions_dynamic_for_linear_layers():
    assert choose_method(onnx.load_from_string(small_cnn_onnx()))[0] == "static"
    torch.manual_seed(0)
    mlp = onnx_of(nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 3)), (1, 8, 8))
    quantised = quantise(mlp, lambda: pytest.fail("dynamic quantisation needs no calibration"))
    assert quantised.method == "dynamic" and "no convolutions" in quantised.reason
    assert len(quantised.data) < len(mlp)
    images = random_batches(1, size=8)[0]
    assert np.abs(run(quantised.data, images) - run(mlp, images)).max() < 0.1


def test_static_quantisation_counts_its_calibration_images_and_refuses_none():
    data = small_cnn_onnx()
    int8, count = static_int8(data, random_batches(3))
    assert count == 24 and len(int8) < len(data)
    with pytest.raises(UserError, match="training split has none"):
        static_int8(data, [])
    with pytest.raises(UserError, match="Unknown quantisation method"):
        quantise(data, lambda: random_batches(1), method="fp8")


def test_quiet_onnxruntime_holds_root_logging_and_restores_it(capfd):
    root = logging.getLogger()
    handlers = root.handlers[:]
    with quiet_onnxruntime() as held:
        logging.warning("Please consider to run pre-processing before quantization. https://example.org")
    assert root.handlers == handlers and "pre-processing" in held[0].getMessage()
    assert capfd.readouterr().err == ""


def test_multi_label_comparison_scores_subset_accuracy_at_the_thresholds():
    torch.manual_seed(0)
    mlp = onnx_of(nn.Sequential(nn.Flatten(), nn.Linear(16, 3)), (1, 4, 4))
    int8 = quantise(mlp, lambda: []).data
    rng = np.random.default_rng(1)
    images = rng.random((20, 1, 4, 4), dtype=np.float32)
    thresholds = [0.5, 0.4, 0.6]
    labels = decisions(run(mlp, images), True, thresholds).astype(np.float32)   # float is right on every image
    facts = compare(mlp, int8, [(images[:10], labels[:10]), (images[10:], labels[10:])], images[:4],
                    multilabel=True, thresholds=thresholds)
    assert facts["accuracy_measure"] == "subset accuracy" and facts["float_accuracy"] == 1.0
    assert facts["n_test"] == 20 and facts["int8_accuracy"] == pytest.approx(facts["agreement"])
    assert facts["float_accuracy_ci"][1] == 1.0 and facts["float_accuracy_ci"][0] < 1.0


def test_decisions_follow_the_predictor():
    logits = np.array([[2.0, -1.0, 0.1], [-3.0, 0.5, 0.2]])
    assert decisions(logits, False, None).tolist() == [0, 1]
    assert decisions(logits, True, [0.5, 0.5, 0.6]).tolist() == [[True, False, False], [False, True, False]]

