"""AppTest of the Evaluate page with a sequence run: the report with clip thumbnails, Explain (frame strip, frame
importance with attention, Grad-CAM on the key frame), Predict (an uploaded ZIP of frames and an MP4, a file that is
no sequence) and Export (ONNX checked, model card, weights)."""
from __future__ import annotations

import json

import numpy as np

from tests.pages.apptest import open_page, rerun, texts
from tests.sequence_run import (FRAMES, disc_clip, frames_zip, mp4_bytes, sequence_run,  # noqa: F401
                                sequence_run_home)

PAGE = "pages/evaluate.py"


def figures(at) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def importance_figures(at) -> list[dict]:
    return [f for f in figures(at) if f["layout"]["title"]["text"].startswith("Frame importance")]


def test_the_sequence_run_is_offered_and_its_report_shows_clips(sequence_run):
    at = open_page(PAGE)
    assert at.selectbox(key="eval-run").value == sequence_run.run_id
    assert "Held-out test split:" in texts(at) and " clips**" in texts(at)
    titles = " ".join(f["layout"]["title"]["text"] for f in figures(at))
    for title in ("Confusion matrix", "ROC", "Precision-recall", "Reliability diagram"):
        assert title in titles
    captions = [c.value for c in at.caption]
    assert any(c.startswith("True beating, predicted beating:") and "test clips" in c for c in captions)
    assert any("four evenly spaced frames" in c for c in captions)
    thumbnails = [image for image in at.get("image")]
    assert thumbnails   # the clips of the chosen confusion cell, each a 2 x 2 grid of frames


def test_explain_shows_the_frames_their_importance_and_gradcam_on_the_key_frame(sequence_run):
    at = open_page(PAGE, **{"eval-tab": "Explain"})
    assert not at.exception
    [chart] = importance_figures(at)
    bars, attention = chart["data"]
    assert bars["type"] == "bar" and len(bars["y"]) == FRAMES
    assert attention["name"] == "attention weight" and abs(sum(attention["y"]) - 1) < 1e-4   # cnn_lstm attention
    key_frame = int(np.argmax(bars["y"])) + 1
    captions = " ".join(" ".join(image.captions) for image in at.get("image"))
    assert "all frames" in captions and f"Grad-CAM on frame {key_frame} for" in captions
    assert "coarse: the model's last feature map is 1×1 for 16 px frames" in captions   # small CNN, 16 px
    assert "true: **" in texts(at) and "predicted: **" in texts(at)
    # another test clip, and the score of the other class
    at.slider(key=f"explain-{sequence_run.run_id}-clip").set_value(2).run()
    assert not at.exception and len(importance_figures(at)) == 1
    target = next(s for s in at.selectbox if s.label == "Explain the score of")
    other = next(c for c in target.options if c != target.value)
    target.set_value(other).run()
    assert not at.exception and f"for '{other}'" in importance_figures(at)[0]["layout"]["title"]["text"]


def test_predict_takes_a_zip_of_frames_and_a_video_and_says_what_is_not_a_sequence(sequence_run):
    at = open_page(PAGE, **{"eval-tab": "Predict"})
    beating, still = disc_clip(12, 32, True, 5), disc_clip(20, 32, False, 6)
    at.get("file_uploader")[0].set_value([("beating.zip", frames_zip(beating), "application/zip"),
                                          ("still.mp4", mp4_bytes(still), "video/mp4"),
                                          ("notes.txt", b"not a sequence", "text/plain")]).run()
    assert not at.exception, at.exception
    assert any(e.value.startswith("notes.txt: ") for e in at.error)
    table = at.dataframe[0].value
    assert list(table.columns[:7]) == ["out_of_distribution", "ood_reason", "file", "frames_in_file", "key_frame",
                                       "key_source_frame", "prediction"]
    assert list(table["file"]) == ["beating.zip", "still.mp4"] and list(table["frames_in_file"]) == [12, 20]
    assert len(importance_figures(at)) == 2 and at.get("download_button")
    captions = " ".join(" ".join(image.captions) for image in at.get("image"))
    assert "Grad-CAM on frame" in captions and "Key frame" in captions


def test_predict_flags_an_unrelated_colour_video(sequence_run):
    at = open_page(PAGE, **{"eval-tab": "Predict"})
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 255, (10, 32, 32), dtype=np.uint8)
    at.get("file_uploader")[0].set_value([("noise.mp4", mp4_bytes(noise), "video/mp4")]).run()
    assert not at.exception
    assert at.dataframe[0].value.loc[0, "out_of_distribution"]
    assert any("Out of distribution" in e.value for e in at.error)
    assert "NOT RELIABLE" in json.dumps(importance_figures(at)[0])


def test_export_checks_onnx_and_offers_weights_and_a_card(sequence_run):
    at = open_page(PAGE, **{"eval-tab": "Export"})
    run_id = sequence_run.run_id
    assert "INT8 quantisation is not available for sequence models yet" in texts(at)
    at.radio(key=f"export-format-{run_id}").set_value("onnx")
    at.button(key=f"export-{run_id}").click().run()
    assert not at.exception and "onnxruntime matches PyTorch" in at.success[0].value
    at.radio(key=f"export-format-{run_id}").set_value("card")
    at.button(key=f"export-{run_id}").click().run()
    preview = next(m.value for m in at.markdown if "Model card" in m.value)
    assert "sequence classification" in preview and f"(N, {FRAMES}, 1, 16, 16)" in preview
    at.radio(key=f"export-format-{run_id}").set_value("weights")
    at.button(key=f"export-{run_id}").click().run()
    assert len(at.get("download_button")) == 2   # the weights and model.json
    at = rerun(at, **{"eval-tab": "Compare"})
    assert not at.exception
