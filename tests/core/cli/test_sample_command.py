"""`python -m core sample`: end to end on a generative run folder (a tiny fake sampler registered for the task),
its outputs (ZIP, PNG folder, DICOM folder, a synthetic dataset), its JSON, and one-line errors with exit 2."""
from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch

from core.cli import main
from core.data.catalog import open_dataset
from core.data.synthetic_marker import is_synthetic_dicom, is_synthetic_png
from core.train.checkpoint import save_weights
from core.train.run_folder import BEST_WEIGHTS, REBUILD_SPEC, run_folder, write_json
from tests.core.synthesis.fake_sampler import fake_generative_run, fake_samplers  # noqa: F401

CLASSES = ["normal", "lesion"]
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def gan(fake_samplers) -> str:
    return fake_generative_run("default", "tiny-data", CLASSES)


def test_zip_with_n_per_class_and_json(gan, tmp_path, capsys):
    out = tmp_path / "samples.zip"
    code = main(["sample", gan, "--n", "3", "--seed", "5", "--out", str(out), "--json"])
    result = json.loads(capsys.readouterr().out)
    assert code == 0
    assert result["run"] == gan and result["n"] == 3 and result["images"] == 6 and result["files"] == 6
    assert result["classes"] == CLASSES and result["per_class"] == {"normal": 3, "lesion": 3}
    assert result["out"] == str(out) and result["dataset"] is None and result["synthetic"] is True
    with zipfile.ZipFile(out) as archive:
        pngs = [n for n in archive.namelist() if n.endswith(".png")]
        assert sorted({n.split("/")[0] for n in pngs}) == ["lesion", "normal"]
        assert all(is_synthetic_png(archive.read(n)) for n in pngs)
        assert json.loads(archive.read("manifest.json"))["seed"] == 5


def test_one_class_into_a_folder_and_as_a_dataset(gan, tmp_path, capsys):
    code = main(["sample", gan, "--n", "4", "--class", "lesion", "--out", str(tmp_path / "pngs"),
                 "--as-dataset", "extra lesions", "--json"])
    result = json.loads(capsys.readouterr().out)
    assert code == 0 and result["per_class"] == {"lesion": 4}
    assert sorted(p.name for p in (tmp_path / "pngs" / "lesion").iterdir()) == [
        f"lesion-000{i}.png" for i in range(1, 5)]
    dataset = open_dataset("default", result["dataset"]["id"])
    assert dataset.info.name == "extra lesions" and dataset.info.source == "synthetic"
    assert dataset.synthetic.all() and dataset.info.split_counts == {"train": 4, "val": 0, "test": 0}


def test_dataset_only_and_dicom_folder(gan, tmp_path, capsys):
    assert main(["sample", gan, "--n", "1", "--as-dataset", "just data"]) == 0
    assert "all in train" in capsys.readouterr().out
    assert main(["sample", gan, "--n", "1", "--out", str(tmp_path / "scans.dcm")]) == 0
    files = sorted((tmp_path / "scans.dcm").rglob("*.dcm"))
    assert len(files) == 2 and all(is_synthetic_dicom(f.read_bytes()) for f in files)


def test_same_seed_same_zip_images(gan, tmp_path):
    for name in ("a.zip", "b.zip"):
        assert main(["sample", gan, "--n", "2", "--seed", "9", "--out", str(tmp_path / name)]) == 0
    with zipfile.ZipFile(tmp_path / "a.zip") as a, zipfile.ZipFile(tmp_path / "b.zip") as b:
        assert a.read("normal/normal-0001.png") == b.read("normal/normal-0001.png")


@pytest.mark.parametrize("argv, message", [
    (["--n", "2", "--class", "tumour", "--out", "OUT"], "has no class 'tumour'; its classes are normal, lesion."),
    (["--n", "0", "--out", "OUT"], "--n must be at least 1, not 0."),
    (["--n", "2"], "Say where the images go"),
    (["--n", "2", "--temperature", "9", "--out", "OUT"], "truncation must be above 0 and at most 3"),
    (["--n", "2", "--out", "NOWHERE/x.zip"], "does not exist"),
])
def test_user_errors_are_one_line_and_exit_2(gan, tmp_path, capsys, argv, message):
    argv = [a.replace("OUT", str(tmp_path / "o.zip")).replace("NOWHERE", str(tmp_path / "missing")) for a in argv]
    assert main(["sample", gan, *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and err.startswith("error: ")


def test_class_on_an_unconditional_model(fake_samplers, tmp_path, capsys):
    run_id = fake_generative_run("default", "tiny-data", CLASSES, conditional=False)
    assert main(["sample", run_id, "--n", "2", "--class", "normal", "--out", str(tmp_path / "o.zip")]) == 2
    assert "not trained class-conditional" in capsys.readouterr().err
    assert main(["sample", run_id, "--n", "2", "--out", str(tmp_path / "o.zip"), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["images"] == 2 and result["classes"] is None


def test_unknown_run_and_a_classifier_run(tmp_path, capsys):
    assert main(["sample", "run-nope", "--n", "1", "--out", str(tmp_path / "o.zip")]) == 2
    assert "There is no run 'run-nope'" in capsys.readouterr().err
    folder = run_folder("default", "run-cls")
    folder.mkdir(parents=True)
    write_json(folder / REBUILD_SPEC, {"task": "classification"})
    save_weights(folder / BEST_WEIGHTS, {"w": torch.zeros(1)})
    assert main(["sample", "run-cls", "--n", "1", "--out", str(tmp_path / "o.zip")]) == 2
    assert "is not a generative model, so it cannot make images" in capsys.readouterr().err


def test_help_and_an_unknown_run_start_without_torch():
    probe = ("import sys; from core.cli import main; code = main(sys.argv[1:]); "
             "print(code, 'torch' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", probe, "sample", "run-nope", "--n", "1", "--out", "x.zip"],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.stdout.split() == ["2", "False"], result.stderr


def test_a_real_tiny_gan_run_end_to_end(tmp_path, capsys):
    from core.jobs.control import create_run
    from core.jobs.execute import execute
    from core.jobs.store import RunStore
    from tests.fixtures import tiny_dataset

    store = RunStore()
    record = create_run(store, "default", {"task": "gan", "dataset": tiny_dataset(per_class=(24, 24)), "epochs": 1,
                                           "max_steps_per_epoch": 2, "batch_size": 16, "image_size": 32,
                                           "val_samples": 16, "width": 8, "latent_dim": 16}, status="running")
    assert execute(store, record.id).status == "completed"
    assert main(["sample", record.id, "--n", "2", "--class", "class1", "--out", str(tmp_path / "g.zip"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["per_class"] == {"class1": 2}
    with zipfile.ZipFile(tmp_path / "g.zip") as archive:
        data = archive.read("class1/class1-0002.png")
    from PIL import Image

    assert is_synthetic_png(data) and Image.open(io.BytesIO(data)).size == (32, 32)
