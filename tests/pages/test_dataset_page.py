"""AppTest tests of the Dataset page: built-in data, import, gallery, viewer, augmentation."""
from __future__ import annotations

import urllib.error
import urllib.request

from pydicom.data import get_testdata_file

from core.data.augment import load_augmentation
from core.data.catalog import list_datasets
from tests.fixtures import blob_png, class_folder_zip, identified_ct
from tests.pages.apptest import open_page, rerun, texts

PAGE = "pages/dataset.py"


def test_opens_on_the_builtin_phantom_with_overview():
    at = open_page(PAGE)
    assert at.title[0].value == "Dataset"
    assert "Chest phantom 64 px" in at.selectbox(key="dataset-picker").format_func(at.selectbox(key="dataset-picker").value)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Task"] == "classification" and int(metrics["Images"].replace(",", "")) > 1000
    assert len(at.get("plotly_chart")) == 2  # class balance, intensity; one size is a sentence, not a solid block
    assert any(text.startswith("All ") and "64×64 px before import (kept at that size)" in text
               for text in (m.value for m in at.markdown))
    assert not at.warning  # the phantom is balanced


def test_import_zip_shows_summary_and_selects_it():
    at = open_page(PAGE, **{"dataset-tab": "Import"})
    at.radio(key="import-source").set_value("Upload files").run()
    at.get("file_uploader")[0].set_value(("study.zip", class_folder_zip(per_class=4), "application/zip")).run()
    at.text_input(key="dataset-name").set_value("my study")
    at.button(key="import-button").click().run()
    assert not at.exception, at.exception
    assert "Imported 8 images from 8 files as **my study**" in texts(at)
    stored = [info for info in list_datasets("default") if info.name == "my study"]
    assert stored and at.selectbox(key="dataset-picker").value == stored[0].id


def _upload(at, *files: tuple[str, bytes]):
    at.get("file_uploader")[0].set_value([(name, data, "application/octet-stream") for name, data in files]).run()
    assert not at.exception, at.exception
    return at


def test_import_name_follows_the_chosen_file_until_the_user_types_one():
    at = open_page(PAGE, **{"dataset-tab": "Import"})
    at.radio(key="import-source").set_value("Upload files").run()
    archive = class_folder_zip(per_class=3)
    assert _upload(at, ("twoclass.zip", archive)).text_input(key="dataset-name").value == "twoclass"
    assert _upload(at, ("chest.zip", archive)).text_input(key="dataset-name").value == "chest"  # follows the file
    at.text_input(key="dataset-name").set_value("my study").run()
    assert _upload(at, ("third.zip", archive)).text_input(key="dataset-name").value == "my study"  # typed: kept
    files = [(f"IM{i:04d}.png", blob_png(size=16, seed=i)) for i in range(1, 4)]
    at.text_input(key="dataset-name").set_value("").run()
    assert _upload(at, *files).text_input(key="dataset-name").value == "IM"  # a series: what the names share


def test_two_imports_of_one_file_get_two_names_and_the_uploader_clears():
    at = open_page(PAGE, **{"dataset-tab": "Import"})
    at.radio(key="import-source").set_value("Upload files").run()
    archive = class_folder_zip(per_class=3)
    for expected in ("twoclass", "twoclass (2)"):
        _upload(at, ("twoclass.zip", archive))
        at.button(key="import-button").click().run()
        assert not at.exception, at.exception
        assert f"Imported 6 images from 6 files as **{expected}**" in texts(at)
        assert at.get("file_uploader")[0].value in (None, [])  # cleared for the next import
        assert at.text_input(key="dataset-name").value == "" and at.button(key="import-button").disabled
    names = [info.name for info in list_datasets("default") if not info.builtin]
    assert sorted(names) == ["twoclass", "twoclass (2)"]
    label = at.selectbox(key="dataset-picker").format_func(at.selectbox(key="dataset-picker").value)
    assert label.startswith("twoclass (2) (upload)")


def test_counts_read_naturally_for_one_image():
    at = open_page(PAGE, **{"dataset-tab": "Import"})
    at.radio(key="import-source").set_value("Upload files").run()
    _upload(at, ("xray.png", blob_png(size=32)))
    at.button(key="import-button").click().run()
    assert "Imported 1 image from 1 file as **xray**" in texts(at)
    rerun(at, **{"dataset-tab": "Overview"})
    assert "The image was 32×32 px before import (stored at 128×128 px)." in texts(at)
    rerun(at, **{"dataset-tab": "Gallery"})
    assert "1 image matches." in texts(at)


def test_import_of_bad_files_is_one_sentence_not_a_traceback():
    at = open_page(PAGE, **{"dataset-tab": "Import"})
    at.radio(key="import-source").set_value("Upload files").run()
    at.get("file_uploader")[0].set_value([("junk.dcm", b"\x00" * 400, "application/dicom")]).run()
    at.button(key="import-button").click().run()
    assert not at.exception
    assert "None of the files could be imported" in at.error[0].value and "junk.dcm" in at.error[0].value
    assert list_datasets("default")[-1].builtin  # nothing stored


def test_medmnist_offline_names_the_file(monkeypatch):
    def refuse(*args, **kwargs):
        raise urllib.error.URLError("offline")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    at = open_page(PAGE, **{"dataset-tab": "Import"})
    at.radio(key="import-source").set_value("MedMNIST").run()
    at.button(key="medmnist-button").click().run()
    assert not at.exception
    assert "pneumoniamnist.npz" in at.error[0].value


def test_gallery_filters_and_opens_viewer():
    at = open_page(PAGE, **{"dataset-tab": "Gallery"})
    assert len(at.get("image")) == 24
    at.multiselect(key="gallery-split-phantom-64").set_value(["test"]).run()
    captions = [getattr(img, "caption", "") for img in at.get("image")]
    assert captions
    at.button(key=[b.key for b in at.button if b.key and b.key.startswith("view-")][0]).click().run()
    assert not at.exception
    assert at.subheader and at.slider  # viewer with its controls
    assert any("scrollIntoView" in html.proto.body for html in at.get("html"))  # the page scrolls down to it
    at.select_slider(key=[s.key for s in at.select_slider if s.key and s.key.endswith("-zoom")][0]).set_value(2).run()
    assert not any("scrollIntoView" in html.proto.body for html in at.get("html"))  # but not on every change


def test_viewer_sample_ct_with_lung_preset():
    at = open_page(PAGE, **{"dataset-tab": "Viewer"})
    at.selectbox(key="sample").set_value("ct_small").run()
    at.selectbox(key="sample-ct_small-choice").set_value("Lung").run()
    assert not at.exception
    assert at.slider(key="sample-ct_small-level").value == -600 and at.slider(key="sample-ct_small-width").value == 1500
    assert any("DICOM tags, de-identified" in e.label for e in at.expander)


def test_viewer_of_a_single_dicom_file_is_deidentified():
    at = open_page(PAGE, **{"dataset-tab": "Viewer"})
    at.radio(key="viewer-source").set_value("My file").run()
    at.get("file_uploader")[0].set_value(("scan.dcm", identified_ct(), "application/dicom")).run()
    assert not at.exception
    table = at.dataframe[0].value
    assert "Doe^Jane" not in table.to_string() and "MRN-0042-SECRET" not in table.to_string()
    assert "CT" in table.to_string()


def test_augmentation_preview_and_save():
    at = open_page(PAGE, **{"dataset-tab": "Augmentation"})
    assert len(at.get("image")) == 8  # original + 7 previews
    at.slider(key="aug-phantom-64-rotate_degrees").set_value(12.0)
    at.button(key="aug-phantom-64-save").click().run()
    assert not at.exception
    assert load_augmentation("default", "phantom-64").rotate_degrees == 12.0
    assert "Saved" in at.success[0].value


def _selectbox(at, label: str):
    return next(box for box in at.selectbox if box.label == label)


def test_import_with_a_chestxray14_table_offers_its_columns_and_reports_patients():
    from tests.core.data.test_importer import chestxray14

    uploads, (csv_name, table) = chestxray14(header="Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age")
    at = open_page(PAGE, **{"dataset-tab": "Import"})
    at.radio(key="import-source").set_value("Upload files").run()
    at.get("file_uploader")[0].set_value([(name, data, "image/png") for name, data in uploads]).run()
    at.get("file_uploader")[1].set_value((csv_name, table, "text/csv")).run()
    assert not at.exception, at.exception
    header = ["Image Index", "Finding Labels", "Follow-up #", "Patient ID", "Patient Age"]
    assert _selectbox(at, "File column").options == header and _selectbox(at, "File column").value == "Image Index"
    assert _selectbox(at, "Label column").value == "Finding Labels"
    assert _selectbox(at, "Patient column").value == "Patient ID"
    assert _selectbox(at, "Patient column").options[1:] == header
    at.button(key="import-button").click().run()
    assert not at.exception, at.exception
    shown = texts(at)
    assert "Imported 42 images from 42 files" in shown
    assert "Patients grouped by CSV column 'Patient ID': no patient is in two splits. Patients per split: train" in shown


def test_import_without_a_patient_column_warns_on_the_page():
    from tests.core.data.test_importer import chestxray14

    uploads, (csv_name, table) = chestxray14(patients=4, header="filename,label,visit,person,age")
    at = open_page(PAGE, **{"dataset-tab": "Import"})
    at.radio(key="import-source").set_value("Upload files").run()
    at.get("file_uploader")[0].set_value([(name, data, "image/png") for name, data in uploads]).run()
    at.get("file_uploader")[1].set_value((csv_name, table, "text/csv")).run()
    assert _selectbox(at, "Patient column").value == ""  # "person" is not a known spelling
    assert any("No patient column is chosen" in w.value for w in at.warning)
    at.button(key="import-button").click().run()
    assert not at.exception, at.exception
    assert any(w.value.startswith("No patient column was found in Data_Entry_2017.csv, so images of one patient "
                                  "may sit in different splits") for w in at.warning)
