"""AppTest tests of the Synthesize page: no generative run yet, then a tiny VAE trained on one class through the
real task (its tabs, sampling, the ZIP, a synthetic dataset, anomaly views) and a wrong upload."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from tests.fixtures import png_bytes, tiny_dataset
from tests.pages.apptest import open_page, rerun, texts

PAGE = "pages/synthesize.py"


pytestmark = pytest.mark.usefixtures("no_runs_left_behind")


@pytest.fixture(scope="module")
def vae_run(tmp_path_factory: pytest.TempPathFactory, shared_builtin_dir):
    """A VAE trained for two epochs on class0 of a tiny 16 px dataset (a few seconds), shared by this module."""
    from core.jobs.control import create_run
    from core.jobs.execute import execute
    from core.jobs.store import RunStore

    home = tmp_path_factory.mktemp("vae-run")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MEDLAB_HOME", str(home))
        patch.setenv("MEDLAB_BUILTIN_DIR", str(shared_builtin_dir))
        dataset = tiny_dataset(per_class=(16, 16), size=16)
        store = RunStore()
        record = create_run(store, "default", {"task": "vae", "dataset": dataset, "epochs": 2, "batch_size": 8,
                                               "val_samples": 16, "train_class": "class0", "name": "tiny vae"},
                            status="running")
        final = execute(store, record.id)
    assert final.status == "completed", final.message
    return SimpleNamespace(home=home, run_id=record.id, dataset=dataset)


@pytest.fixture
def vae(vae_run, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("MEDLAB_HOME", str(vae_run.home))
    return vae_run


def image_count(at, index: int = -1) -> int:
    return len(at.get("image")[index].proto.imgs)


def test_without_a_generative_run_it_says_how_to_get_one():
    at = open_page(PAGE)
    assert "no trained generative model" in at.info[0].value
    at.button(key="synth-train").click().run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Train" and at.radio(key="train-page-task").value == "gan"


def test_a_finished_vae_shows_its_tabs_and_quality(vae):
    at = open_page(PAGE)
    assert at.selectbox(key="synth-run").value == vae.run_id
    assert "tiny vae · VAE on" in at.selectbox(key="synth-run").format_func(vae.run_id)
    at = rerun(at, **{"synth-tab": "Quality"})
    table = at.table[0].value
    assert {"FD on MedLab features", "KID", "Precision", "Recall", "Density", "Coverage", "Two-sample accuracy",
            "Memorisation ratio"} <= set(table.index)
    assert table.loc["Two-sample accuracy", "better"] == "0.5"
    assert any("real test images" in w.value for w in at.warning)  # a tiny test split is called noisy


def test_sampling_shows_n_images_and_offers_the_zip_and_a_synthetic_dataset(vae):
    from core.data.catalog import list_datasets

    at = open_page(PAGE)
    assert at.slider(key="synth-temperature").label == "Temperature"
    at.number_input(key="synth-n").set_value(6)
    at.button(key="synth-generate").click().run()
    assert not at.exception, at.exception
    assert image_count(at) == 6
    assert "Download ZIP of PNGs" in {b.label for b in at.get("download_button")}
    at.number_input(key="synth-seed").set_value(3).run()
    assert "Settings changed" in texts(at)  # the old images are not passed off as the new seed's
    at.button(key="synth-generate").click().run()
    at.text_input(key="synth-dataset-name").set_value("made up")
    at.button(key="synth-add").click().run()
    assert not at.exception, at.exception
    assert "was created from these images, marked synthetic" in texts(at)
    made = [info for info in list_datasets("default") if info.name == "made up"]
    assert made and made[0].num_images == 6 and made[0].split_counts.get("train") == 6
    assert not made[0].split_counts.get("val") and not made[0].split_counts.get("test")


def test_interpolation_strip_has_the_steps_asked(vae):
    at = open_page(PAGE)
    at.slider(key="synth-steps").set_value(5)
    at.button(key="synth-interpolate").click().run()
    assert not at.exception, at.exception
    assert image_count(at) == 5


def test_autoencoder_tab_shows_reconstructions_latent_map_roc_and_anomaly_maps(vae):
    at = open_page(PAGE, **{"synth-tab": "Autoencoder"})
    shown = texts(at)
    assert "Reconstructions" in shown and "anomaly" in shown.lower()
    titles = " ".join(str(c.proto.spec) for c in at.get("plotly_chart"))
    assert "Latent space" in titles and "ROC" in titles
    at.get("file_uploader")[0].set_value(("mine.png", png_bytes(np.full((16, 16), 200, np.uint8)),
                                          "image/png")).run()
    assert not at.exception, at.exception
    captions = [image.caption for element in at.get("image") for image in element.proto.imgs]
    assert "mine.png as the model sees it" in captions and "anomaly heat map" in captions


def test_an_upload_that_is_not_an_image_is_one_sentence(vae):
    at = open_page(PAGE, **{"synth-tab": "Autoencoder"})
    at.get("file_uploader")[0].set_value(("notes.png", b"this is not a picture", "image/png")).run()
    assert not at.exception, at.exception
    assert at.error and "notes.png" in at.error[0].value and "Traceback" not in at.error[0].value


def test_the_train_page_replays_the_sample_grids_of_a_generative_run(vae):
    at = open_page("pages/train.py", run_id=vae.run_id)
    slider = at.select_slider(key=f"grid-epoch-{vae.run_id}")
    assert slider.options == ["0", "1", "2"] and slider.value == 2  # epoch 0 is the untrained model
    captions = [image.caption for element in at.get("image") for image in element.proto.imgs]
    assert "Epoch 2 of 2" in captions
    slider.set_value(0).run()
    captions = [image.caption for element in at.get("image") for image in element.proto.imgs]
    assert "Epoch 0 (before training) of 2" in captions
    assert "Trained on class 'class0' only." in texts(at)
    titles = " ".join(str(c.proto.spec) for c in at.get("plotly_chart"))
    assert "Loss terms" in titles and "KL divergence" in titles  # the VAE's reconstruction and KL, per step


def test_put_to_use_queues_the_experiments_and_tabulates_them(vae):
    at = open_page(PAGE, **{"synth-tab": "Put to use"})
    assert at.selectbox(key="use-class").options == ["the rarest class", "class0"]
    at.button(key="use-queue").click().run()
    assert not at.exception, at.exception
    assert "Queued 2 runs" in texts(at)
    table = at.dataframe[0].value
    assert list(table["experiment"]) == ["Real only (baseline)", "Real + synthetic (class0)"]
    assert table["synthetic training images"].iloc[1] > 0
