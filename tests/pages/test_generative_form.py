"""AppTest tests of the Train page's generative form: each task's recipe, and a GAN run started from it."""
from __future__ import annotations

import pytest

from core.jobs.store import RunStore
from core.tasks import recipe
from tests.fixtures import blob_png, tiny_dataset
from tests.pages.apptest import open_page, texts

PAGE = "pages/train.py"


pytestmark = pytest.mark.usefixtures("no_runs_left_behind")


def test_gan_form_starts_a_run_with_the_recipe():
    dataset = tiny_dataset(per_class=(16, 16), size=30)  # a size a GAN cannot make: the nearest it can is taken
    at = open_page(PAGE, dataset_id=dataset)
    at.radio(key="train-page-task").set_value("gan").run()
    assert "30 px (the dataset's)" not in at.selectbox(key="gan-image_size").options
    expected = recipe("gan", dataset)
    assert at.checkbox(key="gan-conditional").value is True
    assert at.number_input(key="gan-lr_d").value == expected.lr_d
    assert at.selectbox(key="gan-loss").options == ["hinge", "non_saturating"]
    assert at.selectbox(key="gan-image_size").value == 32  # the nearest it can, the larger on a tie
    assert "Every epoch saves a grid of samples" in texts(at)
    at.number_input(key="gan-epochs").set_value(1)
    at.checkbox(key="gan-conditional").set_value(False)
    at.button(key="gan-start").click().run()
    assert not at.exception, at.exception
    record = RunStore().get(at.session_state["run_id"])
    config = RunStore().config(record)
    assert (record.task, record.model, record.epochs) == ("gan", "dcgan", 1)
    assert config["conditional"] is False and config["lr_d"] == expected.lr_d and config["image_size"] == 32
    assert config["diffaugment"] == expected.diffaugment and config["spectral_norm"] is True


def test_vae_and_autoencoder_share_an_entry_with_their_own_recipes():
    at = open_page(PAGE)
    at.radio(key="train-page-task").set_value("vae").run()
    assert at.number_input(key="vae-beta").value == recipe("vae").beta and not at.number_input(key="vae-beta").disabled
    assert at.selectbox(key="vae-train_class").options[0] == "every class"
    at.radio(key="generative-vae-kind").set_value("autoencoder").run()
    assert at.number_input(key="autoencoder-beta").disabled  # a plain autoencoder has no KL term
    at.button(key="autoencoder-start").click().run()
    assert not at.exception, at.exception
    assert RunStore().get(at.session_state["run_id"]).task == "autoencoder"


def test_a_gan_on_an_unlabelled_dataset_says_why_not():
    from core.data.importer import import_uploads
    from core.data.preprocess import Preprocessing

    loose = import_uploads("default", [(f"{i}.png", blob_png(seed=i)) for i in range(4)], "loose",
                           Preprocessing(size=16))
    at = open_page(PAGE, dataset_id=loose.dataset_id)
    at.radio(key="train-page-task").set_value("gan").run()
    assert "has no class labels" in at.warning[0].value
    assert not [b for b in at.button if b.key == "gan-start"]


def test_gan_step_metrics_are_charted_beside_the_loss():
    from pages.ui.charts import loss_figure, terms_figure

    events = [{"kind": "step", "epoch": 1, "step": s, "loss": 1.0, "lr": 2e-4, "d_loss": 1.5, "d_real": 0.6,
               "d_fake": 0.4} for s in range(1, 5)]
    names = [trace.name for trace in loss_figure(events, 4).data]
    assert "generator loss (per step)" in names and "discriminator loss (per step)" in names
    terms = terms_figure(events, 4)
    assert [t.name for t in terms.data] == ["D(x): real images judged real", "D(G(z)): generated images judged real"]
    assert terms.layout.title.text == "Discriminator outputs" and tuple(terms.layout.yaxis.range) == (-0.02, 1.02)
    assert terms_figure([{**e, "d_loss": None} for e in events if False], 4) is None  # a classifier has none


@pytest.mark.parametrize("family, task", [("gan", "gan"), ("vae", "vae"), ("diffusion", "diffusion")])
def test_each_generative_task_shows_its_recipe_with_help(family, task):
    at = open_page(PAGE)
    at.radio(key="train-page-task").set_value(family).run()
    assert not at.exception, at.exception
    expected = recipe(task, "phantom-64")
    assert at.number_input(key=f"{task}-epochs").value == expected.epochs
    assert at.selectbox(key=f"{task}-monitor").options == ["val_fd", "val_loss"]
    assert at.button(key=f"{task}-start")
    helped = [w for kind in ("number_input", "checkbox", "selectbox") for w in at.get(kind)
              if w.key and w.key.startswith(f"{task}-") and w.help]
    assert len(helped) >= 2  # each task's own settings say what they do


def test_a_vae_or_diffusion_model_trains_on_an_unlabelled_dataset_by_its_validation_loss():
    from core.data.importer import import_uploads
    from core.data.preprocess import Preprocessing

    loose = import_uploads("default", [(f"{i}.png", blob_png(seed=i)) for i in range(6)], "loose",
                           Preprocessing(size=16))
    at = open_page(PAGE, dataset_id=loose.dataset_id)
    at.radio(key="train-page-task").set_value("diffusion").run()
    assert not at.exception, at.exception
    assert at.checkbox(key="diffusion-conditional").value is False and at.checkbox(key="diffusion-conditional").disabled
    assert at.selectbox(key="diffusion-monitor").options == ["val_loss"]
    at.radio(key="train-page-task").set_value("vae").run()
    assert not at.exception, at.exception
    assert at.selectbox(key="vae-monitor").options == ["val_loss"]
