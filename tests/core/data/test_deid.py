"""De-identification (PS3.15 Annex E basic profile): what goes, what stays, and keyed, consistent UIDs."""
from __future__ import annotations

import io
import re

import numpy as np
import pydicom
import pytest
from dicomanonymizer import simpledicomanonymizer
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian

from core.data.deid import Deidentifier, deidentified_tag_rows

STUDY, SERIES, FRAME_OF_REF = "1.2.3.4.5.100", "1.2.3.4.5.100.1", "1.2.3.4.5.100.9"
IDENTIFYING = [
    "Doe^Jane", "PID-99871", "19700412", "Saint Example Hospital", "House^Gregory", "20240105",
    "ACC-5551234", "SN-4242-XYZ", "Chest CT for Jane", "Axial lung Jane", "Jane looked pale",
    "OLD-PID-1", "PRIVATE-SECRET", "Nested^Name", "Requesting^Person", "Station-Secret",
]


def _dataset(sop_uid: str = "1.2.3.4.5.100.1.1", referenced: str = "1.2.3.4.5.100.1.2") -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = sop_uid
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.SourceApplicationEntityTitle = "Station-Secret"
    ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, sop_uid
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = STUDY, SERIES, FRAME_OF_REF
    ds.PatientName, ds.PatientID, ds.PatientBirthDate = "Doe^Jane", "PID-99871", "19700412"
    ds.InstitutionName, ds.ReferringPhysicianName = "Saint Example Hospital", "House^Gregory"
    ds.StudyDate, ds.AccessionNumber, ds.DeviceSerialNumber = "20240105", "ACC-5551234", "SN-4242-XYZ"
    ds.StudyDescription, ds.SeriesDescription = "Chest CT for Jane", "Axial lung Jane"
    ds.ImageComments, ds.OtherPatientIDs = "Jane looked pale", "OLD-PID-1"
    ds.Modality, ds.PixelSpacing, ds.SliceThickness = "CT", [0.5, 0.75], "1.25"
    ds.WindowCenter, ds.WindowWidth = [40, -600], [400, 1500]
    ds.RescaleSlope, ds.RescaleIntercept, ds.RescaleType = 1, -1024, "HU"
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.ImagePositionPatient = [-100.5, -120.25, 33.0]
    ds.BurnedInAnnotation = "YES"
    block = ds.private_block(0x0011, "ACME HOSPITAL", create=True)
    block.add_new(0x01, "LO", "PRIVATE-SECRET")
    region = Dataset()  # a sequence the profile keeps, with a name nested in it
    region.CodeValue, region.CodingSchemeDesignator, region.CodeMeaning = "T-D3000", "SRT", "Chest"
    region.ReferringPhysicianName = "Nested^Name"
    ds.AnatomicRegionSequence = Sequence([region])
    request = Dataset()
    request.RequestingPhysician = "Requesting^Person"
    ds.RequestAttributesSequence = Sequence([request])
    reference = Dataset()
    reference.ReferencedSOPClassUID, reference.ReferencedSOPInstanceUID = CTImageStorage, referenced
    ds.ReferencedImageSequence = Sequence([reference])
    voi = Dataset()
    voi.LUTDescriptor, voi.LUTExplanation = [4, 0, 8], "Soft"
    voi.add_new(0x00283006, "US", [0, 85, 170, 255])
    ds.VOILUTSequence = Sequence([voi])
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.Rows, ds.Columns = 1, "MONOCHROME2", 2, 2
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelData = np.array([[1, 2], [3, 4]], np.uint16).tobytes()
    return ds


def _saved(ds: Dataset) -> bytes:
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, ds, enforce_file_format=True)
    return buffer.getvalue()


def test_identifying_attributes_go_and_the_written_file_holds_none_of_them(capsys) -> None:
    ds = _dataset()
    original_uids = [ds.SOPInstanceUID, STUDY, SERIES, FRAME_OF_REF, "1.2.3.4.5.100.1.2"]
    key = Deidentifier(b"workspace-secret")(ds)
    assert capsys.readouterr().out == ""  # the library's prints are swallowed
    assert key == ds.PatientID and re.fullmatch(r"ANON-[0-9a-f]{12}", key)
    assert ds.PatientName == ""
    for keyword in ("StudyDescription", "SeriesDescription", "ImageComments", "OtherPatientIDs",
                    "RequestAttributesSequence"):
        assert keyword not in ds
    assert ds.AnatomicRegionSequence[0].ReferringPhysicianName == ""  # nested names are cleaned too
    assert ds.AnatomicRegionSequence[0].CodeMeaning == "Chest"
    assert ds.PatientIdentityRemoved == "YES" and ds.DeidentificationMethod
    code = ds.DeidentificationMethodCodeSequence[0]
    assert (code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning) == (
        "113100", "DCM", "Basic Application Confidentiality Profile")
    assert not any(elem.tag.is_private for elem in ds.iterall())
    raw = _saved(ds)
    reread = pydicom.dcmread(io.BytesIO(raw))
    assert reread.PatientID == key and reread.Modality == "CT"
    for text in IDENTIFYING + original_uids:
        assert text.encode() not in raw, text


def test_what_models_and_viewers_need_is_kept() -> None:
    ds = _dataset()
    Deidentifier(b"s")(ds)
    assert ds.Modality == "CT" and ds.PixelSpacing == [0.5, 0.75] and ds.SliceThickness == 1.25
    assert ds.WindowCenter == [40, -600] and ds.WindowWidth == [400, 1500]
    assert (ds.RescaleSlope, ds.RescaleIntercept, ds.RescaleType) == (1, -1024, "HU")
    assert ds.ImageOrientationPatient == [1, 0, 0, 0, 1, 0]
    assert ds.ImagePositionPatient == [-100.5, -120.25, 33.0]
    assert ds.VOILUTSequence[0].LUTData == [0, 85, 170, 255] and ds.VOILUTSequence[0].LUTDescriptor == [4, 0, 8]
    assert (ds.PhotometricInterpretation, ds.Rows, ds.Columns, ds.BitsStored) == ("MONOCHROME2", 2, 2, 12)
    assert ds.ReferencedImageSequence[0].ReferencedSOPClassUID == CTImageStorage
    assert ds.PixelData == np.array([[1, 2], [3, 4]], np.uint16).tobytes()


def test_uids_are_keyed_and_consistent_across_files_of_a_study() -> None:
    first, second = _dataset("1.2.3.4.5.100.1.1", "1.2.3.4.5.100.1.2"), _dataset("1.2.3.4.5.100.1.2", "1.2.3.4.5.100.1.1")
    deid = Deidentifier(b"secret-A")
    key_a, key_b = deid(first), Deidentifier(b"secret-A")(second)  # a second import, same workspace key
    assert key_a == key_b
    assert first.StudyInstanceUID != STUDY and first.SeriesInstanceUID != SERIES
    assert first.StudyInstanceUID == second.StudyInstanceUID
    assert first.SeriesInstanceUID == second.SeriesInstanceUID
    assert first.FrameOfReferenceUID == second.FrameOfReferenceUID
    assert first.SOPInstanceUID != second.SOPInstanceUID
    assert first.file_meta.MediaStorageSOPInstanceUID == first.SOPInstanceUID
    assert first.ReferencedImageSequence[0].ReferencedSOPInstanceUID == second.SOPInstanceUID  # references follow
    assert pydicom.uid.UID(first.StudyInstanceUID).is_valid
    other = _dataset()
    other_key = Deidentifier(b"secret-B")(other)
    assert other.StudyInstanceUID != first.StudyInstanceUID and other_key != key_a


def test_library_uid_cache_is_never_used() -> None:
    before = dict(simpledicomanonymizer.dictionary)
    Deidentifier(b"s")(_dataset())
    assert simpledicomanonymizer.dictionary == before  # random, process-wide UIDs would break consistency


def test_burned_in_annotation_is_reported_and_missing_patient_id_gives_none() -> None:
    ds = _dataset()
    notes: list[str] = []
    Deidentifier(b"s")(ds, notes)
    assert len(notes) == 1 and "BurnedInAnnotation" in notes[0] and "\n" not in notes[0]
    plain = _dataset()
    del plain.PatientID
    plain.BurnedInAnnotation = "NO"
    notes = []
    assert Deidentifier(b"s")(plain, notes) is None and notes == []


def test_pseudonym_is_an_hmac_of_the_stripped_id() -> None:
    deid = Deidentifier(b"k")
    assert deid.pseudonym("PID-1 ") == deid.pseudonym("PID-1") != Deidentifier(b"other").pseudonym("PID-1")
    with pytest.raises(ValueError):
        Deidentifier(b"")


def test_tag_rows_are_short_strings_without_pixel_data() -> None:
    ds = _dataset()
    Deidentifier(b"s")(ds)
    rows = deidentified_tag_rows(ds, limit=30)
    by_keyword = {row["keyword"]: row for row in rows}
    assert by_keyword["Modality"] == {"tag": "(0008,0060)", "keyword": "Modality", "vr": "CS", "value": "CT"}
    assert by_keyword["PixelSpacing"]["value"] == "0.5\\0.75"
    assert by_keyword["VOILUTSequence"]["value"] == "<sequence of 1 item(s)>"
    assert "PixelData" not in by_keyword and "TransferSyntaxUID" in by_keyword
    assert all(len(row["value"]) <= 30 for row in rows)
    assert by_keyword["StudyInstanceUID"]["value"].endswith("…")
    assert all(set(row) == {"tag", "keyword", "vr", "value"} for row in rows)
