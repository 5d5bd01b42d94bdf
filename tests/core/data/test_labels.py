from __future__ import annotations

import pytest

from core.data.labels import csv_columns, labels_from_csv, labels_from_folders
from core.data.sources import SourceFile
from core.errors import UserError


def sources(*paths: str) -> list[SourceFile]:
    return [SourceFile(p, lambda: b"") for p in paths]


def test_folders_become_classes_below_the_common_root():
    labels, kept, skipped = labels_from_folders(sources("root/cat/a.png", "root/dog/b.png", "root/dog/c.png"))
    assert labels.kind == "single" and labels.classes == ["cat", "dog"]
    assert labels.by_path["root/dog/c.png"] == ["dog"]
    assert len(kept) == 3 and skipped == []


def test_files_outside_class_folders_are_skipped():
    labels, kept, skipped = labels_from_folders(sources("cat/a.png", "loose.png"))
    assert [s.path for s in kept] == ["cat/a.png"]
    assert skipped[0].file == "loose.png" and "class folder" in skipped[0].reason


def test_no_folders_means_unlabelled():
    labels, kept, skipped = labels_from_folders(sources("a.png", "b.png"))
    assert labels.kind == "none" and len(kept) == 2


def test_csv_single_label_with_missing_and_unlisted_files():
    csv = b"filename,label\na.png,normal\nb.png,nodule\nghost.png,normal\n"
    labels, kept, skipped = labels_from_csv(csv, "labels.csv", sources("a.png", "b.png", "c.png"))
    assert labels.kind == "single" and labels.classes == ["nodule", "normal"]
    assert [s.path for s in kept] == ["a.png", "b.png"]
    reasons = {s.file: s.reason for s in skipped}
    assert "not listed in labels.csv" in reasons["c.png"]
    assert "not among the uploaded files" in reasons["ghost.png"]


def test_csv_multi_label_in_one_column_and_matching_without_extension():
    csv = b"image,labels\nx1,effusion|mass\nx2,\nx3,mass\n"
    labels, kept, _ = labels_from_csv(csv, "l.csv", sources("imgs/x1.png", "imgs/x2.png", "imgs/x3.png"))
    assert labels.kind == "multi" and labels.classes == ["effusion", "mass"]
    assert labels.by_path["imgs/x1.png"] == ["effusion", "mass"]
    assert labels.by_path["imgs/x2.png"] == []  # "no finding" is a valid multi-label row


def test_csv_one_hot_columns_are_multi_label():
    csv = b"filename,effusion,mass,patient\na.png,1,0,p1\nb.png,1,1,p2\n"
    labels, _, _ = labels_from_csv(csv, "l.csv", sources("a.png", "b.png"))
    assert labels.kind == "multi" and labels.classes == ["effusion", "mass"]
    assert labels.by_path["b.png"] == ["effusion", "mass"]
    assert labels.patients == {"a.png": "p1", "b.png": "p2"}


def test_unknown_label_column_is_one_sentence():
    csv = b"filename,colour,size\na.png,red,big\n"
    with pytest.raises(UserError, match="cannot tell which"):
        labels_from_csv(csv, "l.csv", sources("a.png"))
    with pytest.raises(UserError, match="has no column 'diagnosis'"):
        labels_from_csv(b"filename,label\na.png,x\n", "l.csv", sources("a.png"), label_column="diagnosis")


def test_csv_without_filename_column():
    with pytest.raises(UserError, match="no filename column"):
        labels_from_csv(b"id,label\n1,x\n", "l.csv", sources("a.png"))


# The header of the NIH ChestX-ray14 table (Data_Entry_2017.csv), with rows in its style.
CHESTXRAY14 = (b"Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,View Position\n"
               b"00000001_000.png,Cardiomegaly,0,1,58,M,PA\n"
               b"00000001_001.png,Cardiomegaly|Emphysema,1,1,58,M,PA\n"
               b"00000002_000.png,No Finding,0,2,81,M,PA\n")


def test_chestxray14_columns_are_recognised():
    found = csv_columns(CHESTXRAY14, "Data_Entry_2017.csv")
    assert (found.file, found.label, found.patient) == ("Image Index", "Finding Labels", "Patient ID")
    labels, kept, skipped = labels_from_csv(
        CHESTXRAY14, "Data_Entry_2017.csv", sources("00000001_000.png", "00000001_001.png", "00000002_000.png"))
    assert labels.kind == "multi" and labels.classes == ["Cardiomegaly", "Emphysema", "No Finding"]
    assert labels.by_path["00000001_001.png"] == ["Cardiomegaly", "Emphysema"]
    assert labels.patients == {"00000001_000.png": "1", "00000001_001.png": "1", "00000002_000.png": "2"}
    assert (labels.file_column, labels.label_column, labels.patient_column) == ("Image Index", "Finding Labels",
                                                                               "Patient ID")
    assert len(kept) == 3 and skipped == []


PATIENT_SPELLINGS = ["Patient ID", "PatientID", "patient_id", "patient", "subject", "subject_id", "case_id", "case",
                     "PATIENT-ID", " Subject ID ", "Case_ID"]
FILE_SPELLINGS = ["Image Index", "filename", "file", "path", "image", "image_id", "FileName", "image_path"]
LABEL_SPELLINGS = ["label", "Finding Labels", "labels", "class", "diagnosis", "target", "Finding_Labels"]
CASES = ([("filename", "label", p) for p in PATIENT_SPELLINGS] + [(f, "label", "Patient ID") for f in FILE_SPELLINGS]
         + [("Image Index", lab, "patient_id") for lab in LABEL_SPELLINGS])


@pytest.mark.parametrize("file,label,patient", CASES)
def test_usual_spellings_of_file_label_and_patient_columns(file, label, patient):
    csv = f"{file},{label},{patient},age\na.png,x,P1,50\nb.png,y,P1,50\nc.png,x,P2,60\n".encode()
    found = csv_columns(csv, "l.csv")
    assert (found.file, found.label, found.patient) == (file.strip(), label, patient.strip())
    labels, _, _ = labels_from_csv(csv, "l.csv", sources("a.png", "b.png", "c.png"))
    assert labels.kind == "single" and labels.classes == ["x", "y"]
    assert labels.patients == {"a.png": "P1", "b.png": "P1", "c.png": "P2"}


def test_named_columns_win_and_match_loosely():
    csv = b"scan,finding,person,label\ns1,mass,A,ignored\ns2,normal,B,ignored\n"
    labels, kept, _ = labels_from_csv(csv, "l.csv", sources("s1.png", "s2.png"), "Finding",
                                      file_column="SCAN", patient_column="person")
    assert labels.classes == ["mass", "normal"] and len(kept) == 2
    assert labels.patients == {"s1.png": "A", "s2.png": "B"}
    assert (labels.file_column, labels.label_column, labels.patient_column) == ("scan", "finding", "person")


@pytest.mark.parametrize("argument,role", [("file_column", "filename"), ("label_column", "label"),
                                           ("patient_column", "patient")])
def test_a_named_column_that_does_not_exist_is_one_sentence_naming_the_columns(argument, role):
    with pytest.raises(UserError) as caught:
        labels_from_csv(CHESTXRAY14, "d.csv", sources("00000002_000.png"), **{argument: "MRN"})
    message = caught.value.message
    assert message == (f"d.csv has no column 'MRN' to use as the {role} column; its columns are: Image Index, "
                       "Finding Labels, Follow-up #, Patient ID, Patient Age, Patient Gender, View Position.")


def test_empty_patient_name_means_no_patient_column_and_empty_cells_name_no_patient():
    labels, _, _ = labels_from_csv(CHESTXRAY14, "d.csv", sources("00000002_000.png"), patient_column="")
    assert labels.patients == {} and labels.patient_column is None
    csv = b"filename,label,subject\na.png,x,S1\nb.png,y,\n"
    labels, kept, _ = labels_from_csv(csv, "l.csv", sources("a.png", "b.png"))
    assert len(kept) == 2 and labels.patients == {"a.png": "S1"}


def test_one_column_cannot_be_two_roles():
    with pytest.raises(UserError, match="cannot be both the filename and the patient column"):
        labels_from_csv(CHESTXRAY14, "d.csv", sources("a.png"), patient_column="image index")
    with pytest.raises(UserError, match="cannot be both the patient and the label column"):
        labels_from_csv(CHESTXRAY14, "d.csv", sources("a.png"), "Patient ID")
