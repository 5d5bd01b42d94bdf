"""Export of a trained sequence run: ONNX of (N, T, C, S, S) clips equals PyTorch after reloading, the
torch.export program too at another batch size, TorchScript loads, the weights rebuild the network, the card
states the frame policy, INT8 is refused in one sentence."""
from __future__ import annotations

import io
import json

import numpy as np
import onnxruntime as ort
import pytest
import torch
from safetensors.torch import load as load_safetensors

from core.cli import main
from core.errors import UserError
from core.evaluate.export_sequence import example_clip, export_sequence
from core.evaluate.predict_sequence import load_sequence_predictor
from core.jobs.store import RunStore
from core.models.sequence_nets import build_sequence_model
from tests.sequence_run import FRAMES, SIZE, sequence_run, sequence_run_home  # noqa: F401


def _export(run_id: str, fmt: str):
    store = RunStore()
    record = store.get(run_id)
    predictor = load_sequence_predictor(store.run_folder(run_id))
    return predictor, export_sequence(predictor, record, store.config(record), store.run_dir(record), fmt)


def test_onnx_takes_clips_and_matches_pytorch_after_reloading(sequence_run):
    predictor, (data, facts) = _export(sequence_run.run_id, "onnx")
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    [clip_input] = session.get_inputs()
    assert clip_input.name == "clip" and clip_input.shape[1:] == [FRAMES, 1, SIZE, SIZE]
    inputs = example_clip(predictor, batch=3, seed=7)
    with torch.no_grad():
        expected = predictor.model(inputs).numpy()
    assert np.abs(session.run(None, {"clip": inputs.numpy()})[0] - expected).max() < 1e-4
    assert facts["max_difference_vs_pytorch"] < 1e-4


def test_torchscript_loads_and_matches(sequence_run):
    predictor, (data, _) = _export(sequence_run.run_id, "torchscript")
    inputs = example_clip(predictor, batch=2)
    with torch.no_grad():
        assert torch.allclose(torch.jit.load(io.BytesIO(data))(inputs), predictor.model(inputs), atol=1e-5)


def test_pt2_reloads_and_matches_at_another_batch_size(sequence_run):
    predictor, (data, _) = _export(sequence_run.run_id, "pt2")
    reloaded = torch.export.load(io.BytesIO(data)).module()
    inputs = example_clip(predictor, batch=3, seed=5)   # exported with a batch of 2
    with torch.no_grad():
        assert torch.allclose(reloaded(inputs), predictor.model(inputs), atol=1e-5)


def test_weights_and_spec_rebuild_the_network(sequence_run):
    predictor, (data, facts) = _export(sequence_run.run_id, "weights")
    spec = facts["spec"]
    model = build_sequence_model(spec["architecture"], spec["in_channels"], len(spec["classes"]),
                                 hidden_size=spec["hidden_size"], pooling=spec["temporal_pooling"]).eval()
    model.load_state_dict(load_safetensors(data))
    inputs = example_clip(predictor, batch=2)
    with torch.no_grad():
        assert torch.allclose(model(inputs), predictor.model(inputs), atol=1e-6)
    assert spec["preprocessing"]["frame_policy"]["frames"] == FRAMES


def test_model_card_states_the_clip_shape_frame_policy_and_limits(sequence_run):
    _, (data, _) = _export(sequence_run.run_id, "card")
    card = data.decode()
    for part in ("# Model card", "sequence classification", "cnn_lstm (small_cnn frame encoder", "## Preprocessing",
                 "- Frames: 6 per clip, spread evenly", f"(N, {FRAMES}, 1, {SIZE}, {SIZE})", "## Test metrics",
                 "accuracy", "not a medical device", "frame rate"):
        assert part in card, part


def test_int8_is_refused_in_one_sentence(sequence_run):
    with pytest.raises(UserError, match=r"^INT8 export is available for image classifiers only; .*\.$"):
        _export(sequence_run.run_id, "int8")


def test_cli_exports_a_sequence_run(sequence_run, tmp_path, capsys):
    out = tmp_path / "clip-model.onnx"
    assert main(["export", sequence_run.run_id, "--format", "onnx", "--out", str(out), "--json"]) == 0
    assert out.stat().st_size == json.loads(capsys.readouterr().out)["bytes"]
    assert main(["export", sequence_run.run_id, "--format", "int8", "--out", str(tmp_path / "x.onnx")]) == 2
    assert capsys.readouterr().err.count("\n") == 1 and not (tmp_path / "x.onnx").exists()
