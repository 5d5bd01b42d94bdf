from __future__ import annotations

import urllib.error
import urllib.request

import numpy as np
import pytest

from core.data.catalog import open_dataset
from core.data.importer import import_medmnist, import_paths
from core.data.medmnist import medmnist_cache_path, medmnist_filename
from core.errors import UserError
from tests.fixtures import write_medmnist_npz


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    def refuse(*args, **kwargs):
        raise urllib.error.URLError("no network in tests")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)


def test_file_names_follow_medmnist():
    assert medmnist_filename("pneumoniamnist", 28) == "pneumoniamnist.npz"
    assert medmnist_filename("chestmnist", 224) == "chestmnist_224.npz"
    with pytest.raises(UserError, match="Unknown MedMNIST subset"):
        medmnist_filename("catmnist", 28)
    with pytest.raises(UserError, match="not 100"):
        medmnist_filename("bloodmnist", 100)


def test_offline_without_cache_names_the_file_to_place():
    with pytest.raises(UserError) as caught:
        import_medmnist("ws", "pneumoniamnist", 64)
    message = str(caught.value)
    assert "pneumoniamnist_64.npz" in message and str(medmnist_cache_path("pneumoniamnist", 64).parent) in message
    assert not list(medmnist_cache_path("pneumoniamnist", 64).parent.glob("*.part"))


def test_cached_file_imports_with_official_split_and_label_names():
    write_medmnist_npz(medmnist_cache_path("pneumoniamnist", 28), n=6)
    summary = import_medmnist("ws", "pneumoniamnist", 28)
    assert summary.classes == ["normal", "pneumonia"] and summary.images == 18
    assert summary.counts == {"train": 6, "val": 6, "test": 6}
    dataset = open_dataset("ws", summary.dataset_id)
    assert dataset.images.shape == (18, 28, 28, 1) and dataset.info.source == "medmnist"


def test_chest_is_multilabel_and_rgb_subsets_keep_channels():
    write_medmnist_npz(medmnist_cache_path("chestmnist", 64), n=4, size=64, multilabel=14)
    chest = import_medmnist("ws", "chestmnist", 64)
    assert chest.task == "multilabel" and len(chest.classes) == 14
    assert open_dataset("ws", chest.dataset_id).labels.shape == (12, 14)
    write_medmnist_npz(medmnist_cache_path("dermamnist", 28), n=4, channels=3)
    derma = import_medmnist("ws", "dermamnist", 28)
    assert open_dataset("ws", derma.dataset_id).images.shape == (12, 28, 28, 3)


def test_npz_given_on_the_command_line_path(tmp_path):
    path = write_medmnist_npz(tmp_path / "bloodmnist.npz", n=4)
    summary = import_paths("ws", [path])
    assert summary.classes[0] == "basophil"  # recognised from the file name
    assert np.isin(open_dataset("ws", summary.dataset_id).labels, [0, 1]).all()
