"""`python -m core import PATH --sequences [--frames T] [--frame-policy uniform|cycle|stride] [--stride S]`."""
from __future__ import annotations

import json

import pytest

from core.cli import main
from tests.core.data.sequence_files import frame_pngs, moving_square, video_bytes


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def clips_folder(tmp_path):
    folder = tmp_path / "echo"
    for label, step in (("fast", 2), ("slow", 1)):
        for i in range(3):
            (folder / label).mkdir(parents=True, exist_ok=True)
            (folder / label / f"v{i}.avi").write_bytes(video_bytes(moving_square(9, step=step), "avi", "mjpeg"))
            for name, data in frame_pngs(5, prefix="img").items():
                (folder / label / f"f{i}").mkdir(exist_ok=True)
                (folder / label / f"f{i}" / name).write_bytes(data)
    return folder


def test_import_sequences_json(capsys, clips_folder):
    code, out, _ = run(capsys, "import", str(clips_folder), "--sequences", "--frames", "4", "--frame-policy",
                       "stride", "--stride", "2", "--size", "16", "--json")
    summary = json.loads(out)
    assert code == 0 and summary["images"] == 12 and summary["frames"] == 4
    assert summary["classes"] == ["fast", "slow"] and summary["frame_time_ms"] is not None
    code, out, _ = run(capsys, "datasets", "--json")
    listed = [entry for entry in json.loads(out) if entry["id"] == summary["dataset_id"]]
    assert listed[0]["frames"] == 4


def test_import_sequences_text_names_clips_and_the_policy(capsys, clips_folder):
    code, out, _ = run(capsys, "import", str(clips_folder), "--sequences", "--size", "16")
    assert code == 0 and out.startswith("Imported 12 clips of 16 frames")
    assert "Frames: 16 per clip, spread evenly" in out


@pytest.mark.parametrize(("flags", "message"), [
    (["--sequences", "--frames", "1"], "--frames must be a whole number from 2 to 256, not 1."),
    (["--sequences", "--frames", "many"], "--frames must be a whole number from 2 to 256, not 'many'."),
    (["--sequences", "--frame-policy", "random"], "--frame-policy must be one of uniform, cycle, stride"),
    (["--sequences", "--stride", "3"], "--stride applies only with --frame-policy stride."),
    (["--sequences", "--frame-policy", "stride", "--stride", "0"], "--stride must be a whole number from 1 to 64"),
    (["--frames", "8"], "--frames applies to sequences: add --sequences."),
    (["--sequences", "--for", "restoration"], "does not go with --for restoration"),
])
def test_bad_values_exit_2_with_one_line(capsys, tmp_path, flags, message):
    (tmp_path / "a.png").write_bytes(b"x")
    code, out, err = run(capsys, "import", str(tmp_path), *flags)
    assert code == 2 and out == "" and err.count("\n") == 1 and message in err


def test_inspect_a_video_reports_frames_and_frame_time(capsys, tmp_path):
    path = tmp_path / "echo.avi"
    path.write_bytes(video_bytes(moving_square(6), "avi", "mjpeg", fps=25))
    code, out, _ = run(capsys, "inspect", str(path), "--json")
    result = json.loads(out)
    assert code == 0 and result["format"] == "video" and result["frames"] == 6
    assert result["frame_time_ms"] == pytest.approx(40.0) and result["shape"] == [6, 32, 32]
