from __future__ import annotations

import pytest

from core.data.labels import labels_from_csv, labels_from_folders
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
