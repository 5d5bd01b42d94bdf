from __future__ import annotations

import io
import zipfile

import pytest

from core.data.sources import expand_uploads, zip_sources
from core.errors import UserError


def make_zip(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_members_keep_folders_and_read_back():
    sources, skipped = zip_sources(make_zip({"data/a/x.png": b"1", "data/b/y.png": b"22"}), "d.zip")
    assert [s.path for s in sources] == ["data/a/x.png", "data/b/y.png"]
    assert sources[1].read() == b"22"
    assert skipped == []


def test_parent_paths_are_skipped_with_reason():
    sources, skipped = zip_sources(make_zip({"../evil.png": b"x", "ok/a.png": b"y", "/abs.png": b"z"}), "d.zip")
    assert [s.path for s in sources] == ["ok/a.png"]
    assert {s.file for s in skipped} == {"../evil.png", "/abs.png"}
    assert all("outside the archive" in s.reason for s in skipped)


def test_empty_zip_is_one_sentence():
    with pytest.raises(UserError, match="empty.zip is empty"):
        zip_sources(make_zip({}), "empty.zip")


def test_zip_bomb_is_refused_before_unpacking():
    bomb = make_zip({"zeros.bin": bytes(20 * 1024 * 1024), "a.png": b"x"})
    assert len(bomb) < 100_000
    with pytest.raises(UserError, match="ZIP bomb") as caught:
        zip_sources(bomb, "bomb.zip")
    assert "\n" not in str(caught.value)


def test_not_a_zip():
    with pytest.raises(UserError, match="not a readable ZIP"):
        zip_sources(b"PK\x03\x04garbage", "bad.zip")


def test_os_metadata_and_nested_archives_are_listed_as_skipped():
    data = make_zip({"__MACOSX/._a.png": b"x", "a/.DS_Store": b"x", "inner.zip": b"x", "a/b.png": b"y"})
    sources, skipped = zip_sources(data, "d.zip")
    assert [s.path for s in sources] == ["a/b.png"]
    assert len(skipped) == 3


def test_uploads_expand_zips_and_keep_folder_paths():
    sources, skipped = expand_uploads([("x.zip", make_zip({"c/1.png": b"1"})), ("folder/c2/2.png", b"2")])
    assert [s.path for s in sources] == ["c/1.png", "folder/c2/2.png"]
