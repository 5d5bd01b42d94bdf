"""Export of the phantom-trained run: ONNX equals PyTorch, the torch.export program reloads and equals it at any
batch size, TorchScript loads, INT8 is smaller, card is honest."""
from __future__ import annotations

import io
import json

import numpy as np
import onnxruntime as ort
import pytest
import torch

from core.cli import main
from core.errors import UserError
from core.evaluate.export import example_input, export, verified_pt2_bytes
from core.evaluate.predict import load_predictor
from core.jobs.store import RunStore
from tests.fixtures import png_bytes


def _export(run_id: str, fmt: str):
    store = RunStore()
    record = store.get(run_id)
    predictor = load_predictor(store.run_folder(run_id))
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


def test_pt2_reloads_and_matches_at_another_batch_size(trained):
    predictor, (data, facts) = _export(trained.run_id, "pt2")
    reloaded = torch.export.load(io.BytesIO(data)).module()
    for batch in (1, 5):   # exported with a batch of 2: the batch dimension stayed dynamic
        inputs = example_input(predictor, batch=batch, seed=3)
        with torch.no_grad():
            assert torch.allclose(reloaded(inputs), predictor.model(inputs), atol=1e-5)
    assert facts == {}


def test_pt2_refuses_a_model_torch_export_cannot_capture_in_one_sentence():
    class DataDependent(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x * 2 if x.sum() > 0 else x

    with pytest.raises(UserError, match=r"^This toy model cannot be exported with torch.export \(\w+\); "):
        verified_pt2_bytes(DataDependent(), lambda batch, seed: torch.rand(batch, 3), "toy")


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


def test_cli_predict_exits_2_when_any_input_is_unreadable_but_prints_the_good_ones(trained, tmp_path, capsys):
    good = tmp_path / "good.png"
    good.write_bytes(png_bytes(np.full((64, 64), 90, np.uint8)))
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not an image")
    missing = tmp_path / "missing.dcm"
    assert main(["predict", trained.run_id, str(good), str(junk), str(missing), str(tmp_path)]) == 2
    captured = capsys.readouterr()
    assert captured.out.startswith("good.png: ") and captured.out.count("\n") == 1
    lines = captured.err.splitlines()
    assert len(lines) == 3 and "junk.png" in lines[0]
    assert lines[1] == f"error: {missing}: does not exist" and lines[2] == f"error: {tmp_path}: is not a file"
    assert main(["predict", trained.run_id, str(good), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert [r["file"] for r in result] == ["good.png"] and list(result[0])[:2] == ["ood", "ood_reasons"]


def test_cli_evaluate_json_carries_warnings_and_the_interval_method(trained, capsys, monkeypatch):
    from core.cli import evaluate_commands
    from core.evaluate.metrics import single_label_report

    labels = np.array([0, 1, 2, 3] * 5)
    probabilities = np.eye(4)[labels] * 0.7 + 0.075
    small = {"task": "classification", "n_test": 20, "classes": ["normal", "nodule", "cavity", "scar"],
             "metrics": single_label_report(labels, probabilities, ["normal", "nodule", "cavity", "scar"],
                                            n_bootstrap=50)}   # stored before reports had "warnings"
    monkeypatch.setattr(evaluate_commands, "load_report", lambda folder: json.loads(json.dumps(small)))
    assert main(["evaluate", trained.run_id, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert any("only 20 images" in w and "uncertain" in w for w in report["warnings"])
    assert any("'normal' (5 test images)" in w for w in report["warnings"])
    assert report["metrics"]["headline"]["accuracy"]["method"] == "wilson"
    assert report["metrics"]["headline"]["accuracy"]["ci_low"] == pytest.approx(20 / (20 + 1.959964**2), abs=1e-5)
    assert main(["evaluate", trained.run_id, "--json", "--ci", "clopper-pearson"]) == 0
    exact = json.loads(capsys.readouterr().out)["metrics"]["headline"]["accuracy"]
    assert exact["method"] == "clopper-pearson" and exact["ci_low"] == pytest.approx(0.025 ** (1 / 20), abs=1e-9)
    assert main(["evaluate", trained.run_id]) == 0
    captured = capsys.readouterr()
    assert "warning: The test split holds only 20 images" in captured.err
    assert "Wilson score" in captured.out and "percentile bootstrap" in captured.out


def test_cli_evaluate_of_the_phantom_run_has_a_warnings_list(trained, capsys):
    assert main(["evaluate", trained.run_id, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert isinstance(report["warnings"], list)
    assert not any("test split holds only" in w or "Fewer than" in w for w in report["warnings"])   # 458 images
