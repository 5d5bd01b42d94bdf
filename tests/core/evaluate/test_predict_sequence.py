"""Predictions on new sequences: a hand-written run folder (model.json + safetensors) rebuilt, a clip of another
length resampled by the saved frame policy and prepared like the training frames, calibrated, explained, and
flagged when it is unlike the training clips."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from core.data.frame_policy import FramePolicy
from core.data.medical_image import MedicalImage, Window
from core.errors import UserError
from core.evaluate.ood import fit_reference
from core.evaluate.predict_sequence import (load_sequence_predictor, predict_clip, predict_clip_files,
                                            predict_stored_clip, prepare_clip, sequence_predictions_csv)
from core.models.sequence_nets import build_sequence_model
from core.train.checkpoint import save_weights
from core.train.run_folder import BEST_WEIGHTS, REBUILD_SPEC, REPORT_FILE, write_json
from tests.sequence_run import FRAMES, disc_clip, frames_zip, mp4_bytes, sequence_run, sequence_run_home  # noqa: F401

T, S, CLASSES, TEMPERATURE = 8, 16, ["steady", "beating"], 2.0


def beating_frames(count: int, side: int = 32, seed: int = 0, period: float = 8.0, amplitude: float = 4.0
                   ) -> np.ndarray:
    """(count, side, side) float32 0-255: a bright disc on a dark noisy background, its radius following a sine."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:side, :side] - (side - 1) / 2
    radius = side / 4 + amplitude * np.sin(2 * np.pi * np.arange(count) / period + rng.uniform(0, 2 * np.pi))
    discs = (np.hypot(yy, xx)[None] <= radius[:, None, None]) * 180.0
    return (discs + rng.uniform(0, 40, (count, side, side))).astype(np.float32)


def sequence_image(frames: np.ndarray, name: str = "clip", frame_time_ms: float | None = 40.0) -> MedicalImage:
    colour = frames.ndim == 4
    return MedicalImage(name=name, format="frames", frames=frames.astype(np.float32), is_color=colour, bits=8,
                        value_range=(0.0, 255.0), default_window=Window(127.5, 255.0, "full-range"),
                        photometric="RGB" if colour else "MONOCHROME2", frame_time_ms=frame_time_ms)


def write_run(folder: Path, policy: FramePolicy, architecture: str = "cnn_lstm", task: str = "sequence",
              ood: bool = True) -> Path:
    """A run folder as a finished sequence run leaves it: model.json, best weights, report (temperature) and the
    out-of-distribution reference fitted on clips of beating discs (middle frames and pooled features)."""
    folder.mkdir(parents=True)
    torch.manual_seed(0)
    model = build_sequence_model(architecture, 1, len(CLASSES), hidden_size=8)
    save_weights(folder / BEST_WEIGHTS, model.state_dict())
    write_json(folder / REBUILD_SPEC, {
        "task": task, "architecture": architecture, "encoder": "small_cnn", "hidden_size": 8, "bidirectional": False,
        "temporal_pooling": "attention", "in_channels": 1, "classes": CLASSES, "image_size": S, "frames": T,
        "frame_time_ms": 40.0 * 20 / T, "dataset": "ds-1", "dataset_name": "beating discs", "pretrained": False,
        "preprocessing": {"size": S, "channels": 1, "resize": "pad", "window": "default", "intensity": "window",
                          "frame_policy": policy.as_dict()}})
    if task != "sequence":
        return folder
    write_json(folder / REPORT_FILE, {"temperature": TEMPERATURE})
    if not ood:
        return folder
    predictor = load_sequence_predictor(folder)
    clips = torch.cat([prepare_clip(predictor, sequence_image(beating_frames(20, seed=s)))[1] for s in range(40)])
    with torch.no_grad():
        features = predictor.model.features(clips).numpy()
        confidence = torch.softmax(predictor.model(clips) / TEMPERATURE, 1).max(1).values.numpy()
    labels = np.arange(40) % 2
    reference = fit_reference(clips[:, T // 2].numpy(), features, labels, features, confidence, greyscale=True)
    reference.save(folder / "ood.json")
    return folder


@pytest.fixture
def run(tmp_path):
    return write_run(tmp_path / "run-uniform", FramePolicy("uniform", T))


def test_round_trip_resamples_a_longer_clip_by_the_saved_policy_and_prepares_it_like_training(run):
    predictor = load_sequence_predictor(run)
    assert (predictor.frames, predictor.image_size, predictor.temperature) == (T, S, TEMPERATURE)
    assert predictor.policy == FramePolicy("uniform", T) and predictor.ood is not None
    frames = beating_frames(20, seed=99)              # 20 frames of 32 px: resampled to 8, resized to 16
    prediction = predict_clip(predictor, sequence_image(frames))
    chosen = np.rint(np.linspace(0, 19, T)).astype(int)
    assert list(prediction.source_frames) == list(chosen) and prediction.source_frame_count == 20
    assert prediction.frames.shape == (T, S, S, 1) and 0 <= prediction.frames.min() <= prediction.frames.max() <= 1
    # independently: the chosen frames in the file's full 8-bit range, shrunk with anti-aliasing, through the model
    expected_input = F.interpolate(torch.from_numpy(frames[chosen] / 255.0).float()[:, None], size=(S, S),
                                   mode="bilinear", align_corners=False, antialias=True)[None]
    reloaded = build_sequence_model("cnn_lstm", 1, 2, hidden_size=8).eval()
    reloaded.load_state_dict(predictor.model.state_dict())
    with torch.no_grad():
        expected = torch.softmax(reloaded(expected_input) / TEMPERATURE, 1)[0].numpy()
    assert list(prediction.probabilities.values()) == pytest.approx(list(expected), abs=1e-5)
    assert prediction.label == CLASSES[int(np.argmax(expected))]
    assert prediction.importance.shape == (T,) and prediction.key_frame == int(np.argmax(prediction.importance))
    assert prediction.heat.shape == (S, S) and 0 <= prediction.heat.min() and prediction.heat.max() <= 1
    assert prediction.attention.shape == (T,) and prediction.attention.sum() == pytest.approx(1, abs=1e-5)
    assert not prediction.out_of_distribution, prediction.ood.reasons
    assert prediction.notes == []


def test_a_short_clip_under_a_stride_policy_is_looped_and_says_so(tmp_path):
    predictor = load_sequence_predictor(write_run(tmp_path / "run-stride", FramePolicy("stride", T, 2)))
    prediction = predict_clip(predictor, sequence_image(beating_frames(10, seed=5)))
    assert list(prediction.source_frames) == [0, 2, 4, 6, 8, 0, 2, 4]
    assert any("looped" in note and note[0].isupper() and note.endswith(".") for note in prediction.notes)


def test_frames_much_further_apart_than_in_training_are_noted(run):
    predictor = load_sequence_predictor(run)
    prediction = predict_clip(predictor, sequence_image(beating_frames(20, seed=3), frame_time_ms=400.0))
    assert any("ms apart" in note and "faster" in note for note in prediction.notes)


def test_unrelated_inputs_are_flagged_out_of_distribution(run):
    predictor = load_sequence_predictor(run)
    rng = np.random.default_rng(0)
    colour = predict_clip(predictor, sequence_image(rng.uniform(0, 255, (12, 32, 32, 3)), "noise.mp4"))
    black = predict_clip(predictor, sequence_image(np.zeros((12, 32, 32)), "black"))
    assert colour.out_of_distribution and any("colour" in r for r in colour.ood.reasons)
    assert black.out_of_distribution and any("brightness" in r for r in black.ood.reasons)
    in_distribution = [predict_clip(predictor, sequence_image(beating_frames(20, seed=s))).out_of_distribution
                       for s in range(100, 110)]
    assert sum(in_distribution) <= 2
    header, row = sequence_predictions_csv([colour]).splitlines()[:2]
    assert header.split(",")[:7] == ["out_of_distribution", "ood_reason", "file", "frames_in_file", "key_frame",
                                     "key_source_frame", "prediction"]
    assert row.startswith("True,") and "importance" in header


def test_a_stored_clip_goes_to_the_model_as_it_is(run):
    predictor = load_sequence_predictor(run)
    image = sequence_image(beating_frames(20, seed=7))
    from_file = predict_clip(predictor, image)
    stored = np.rint(from_file.frames * 255).astype(np.uint8)          # (T, S, S, 1), as the dataset keeps it
    from_store = predict_stored_clip(predictor, stored, "clip 7")
    assert list(from_store.source_frames) == list(range(T))
    assert list(from_store.probabilities.values()) == pytest.approx(list(from_file.probabilities.values()), abs=2e-3)
    with pytest.raises(UserError, match="model takes 8"):
        predict_stored_clip(predictor, stored[:5], "short")


@pytest.mark.parametrize("architecture", ["single_frame", "mc3_18"])
def test_other_architectures_round_trip(tmp_path, architecture):
    folder = write_run(tmp_path / architecture, FramePolicy("uniform", T), architecture, ood=False)
    prediction = predict_clip(load_sequence_predictor(folder), sequence_image(beating_frames(11)))
    assert prediction.heat.shape == (S, S) and prediction.attention is None
    assert sum(prediction.probabilities.values()) == pytest.approx(1, abs=1e-5)


def test_an_image_classifier_run_is_refused_in_one_sentence(tmp_path):
    folder = write_run(tmp_path / "run-image", FramePolicy("uniform", T), task="classification")
    with pytest.raises(UserError, match=r"is not a sequence model, so it cannot classify sequences\.$"):
        load_sequence_predictor(folder)


def test_unreadable_uploads_come_back_with_their_reason(run):
    predictor = load_sequence_predictor(run)
    predictions, errors = predict_clip_files(predictor, [("junk.mp4", b"not a video at all" * 10)])
    assert predictions == [] and errors[0][0] == "junk.mp4" and errors[0][1].endswith(".")


def test_a_real_run_predicts_clip_files_of_any_length(sequence_run):
    from core.jobs.store import RunStore

    predictor = load_sequence_predictor(RunStore().run_folder(sequence_run.run_id))
    assert predictor.frames == FRAMES and predictor.policy == FramePolicy("uniform", FRAMES)
    files = [("beating.zip", frames_zip(disc_clip(12, 32, True, 5))),
             ("still.mp4", mp4_bytes(disc_clip(20, 32, False, 6))), ("one.zip", frames_zip(disc_clip(1, 32, True, 7)))]
    predictions, errors = predict_clip_files(predictor, files)
    assert [p.file for p in predictions] == ["beating.zip", "still.mp4"]
    assert [p.source_frame_count for p in predictions] == [12, 20]
    assert errors[0][0] == "one.zip" and errors[0][1].endswith(".")


def test_cli_predicts_clips_with_the_key_frame_csv_and_cam(sequence_run, tmp_path, capsys):
    from core.cli import main

    clip = tmp_path / "beating.zip"
    clip.write_bytes(frames_zip(disc_clip(12, 32, True, 5)))
    video = tmp_path / "still.mp4"
    video.write_bytes(mp4_bytes(disc_clip(20, 32, False, 6)))
    table, cams = tmp_path / "out.csv", tmp_path / "cams"
    assert main(["predict", sequence_run.run_id, str(clip), str(video), "--csv", str(table), "--cam", str(cams)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("beating.zip: ") and "most important frame" in lines[0]
    assert "of 12 in the file" in lines[0]
    assert lines[1].startswith("still.mp4: ") and len(lines) == 2
    assert table.read_text().startswith("out_of_distribution,ood_reason,file,frames_in_file,key_frame")
    assert sorted(p.name for p in cams.iterdir()) == ["beating_cam.png", "still_cam.png"]
    assert main(["predict", sequence_run.run_id, str(clip), "--json"]) == 0
    [result] = json.loads(capsys.readouterr().out)
    assert len(result["importance"]) == FRAMES and 1 <= result["key_frame"] <= FRAMES and "ood" in result


def test_cli_bad_clip_input_exits_2_with_one_line(sequence_run, tmp_path, capsys):
    from core.cli import main

    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video" * 20)
    assert main(["predict", sequence_run.run_id, str(junk)]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1 and "junk.mp4" in captured.err
    assert main(["predict", sequence_run.run_id, str(junk), "--method", "gradcam++"]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    assert main(["predict", sequence_run.run_id, str(junk), "--csv", str(tmp_path / "missing" / "out.csv")]) == 2
    assert "does not exist" in capsys.readouterr().err
