"""Export of the phantom-trained run: ONNX equals PyTorch, TorchScript loads, INT8 is smaller, card is honest."""
from __future__ import annotations

import io
import json

import numpy as np
import onnxruntime as ort
import torch

from core.cli import main
from core.evaluate.export import example_input, export
from core.evaluate.predict import load_predictor
from core.jobs.store import RunStore


def _export(run_id: str, fmt: str):
    store = RunStore()
    record = store.get(run_id)
    predictor = load_predictor(store, run_id)
    return predictor, export(predictor, record, store.config(record), store.run_dir(record), fmt)


def test_onnx_matches_pytorch(trained):
    predictor, (data, facts) = _export(trained.run_id, "onnx")
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    inputs = example_input(predictor, batch=3, seed=7)
    with torch.no_grad():
        expected = predictor.model(inputs).numpy()
    assert np.abs(session.run(None, {"image": inputs.numpy()})[0] - expected).max() < 1e-4
    assert facts["max_difference_vs_pytorch"] < 1e-4


def test_torchscript_loads_and_matches(trained):
    predictor, (data, _) = _export(trained.run_id, "torchscript")
    loaded = torch.jit.load(io.BytesIO(data))
    inputs = example_input(predictor, batch=2)
    with torch.no_grad():
        assert torch.allclose(loaded(inputs), predictor.model(inputs), atol=1e-5)


def test_int8_is_smaller_and_reports_its_accuracy_change(trained):
    _, (data, facts) = _export(trained.run_id, "int8")
    assert facts["int8_bytes"] == len(data) < facts["float_bytes"] / 2
    assert abs(facts["accuracy_change"]) < 0.05 and facts["int8_accuracy"] > 0.85


def test_model_card_names_data_metrics_and_limits(trained):
    _, (data, _) = _export(trained.run_id, "card")
    card = data.decode()
    for part in ("# Model card", "## Data", "## Preprocessing", "## Test metrics", "accuracy", "## Intended use and limits",
                 "not a medical device", "## INT8 model"):
        assert part in card


def test_cli_evaluate_predict_export(trained, tmp_path, capsys):
    assert main(["evaluate", trained.run_id, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["metrics"]["headline"]["accuracy"]["value"] >= 0.95
    out = tmp_path / "model.onnx"
    assert main(["export", trained.run_id, "--format", "onnx", "--out", str(out), "--json"]) == 0
    assert out.stat().st_size == json.loads(capsys.readouterr().out)["bytes"]
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not an image")
    assert main(["predict", trained.run_id, str(junk), "--json"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "junk.png" in err
