"""Where imported files come from: folders, ZIP archives (unpacked safely, in memory) and browser uploads.

Every source becomes a list of `SourceFile` (a relative path plus a way to read its bytes) and a list of
`Skipped` files with the reason, so the import summary can say what happened to each file.
"""
from __future__ import annotations

import io
import os
import posixpath
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from core.errors import UserError

# Limits against ZIP bombs. A real medical archive rarely compresses better than ~20:1 (DICOM with black
# borders); zeros compress ~1000:1.
MAX_UNPACKED_BYTES = int(os.environ.get("MEDLAB_MAX_UNPACKED_MB", "4096")) * 1024 * 1024
MAX_MEMBERS = 200_000
MAX_RATIO = 200
RATIO_CHECK_ABOVE = 1024 * 1024  # small members may compress well without harm
METADATA_NAMES = {".ds_store", "thumbs.db", "desktop.ini"}


@dataclass
class SourceFile:
    """One file to import: its path relative to the upload root (posix, may hold class folders)."""

    path: str
    read: Callable[[], bytes]

    @property
    def name(self) -> str:
        return posixpath.basename(self.path)


@dataclass
class Skipped:
    file: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"file": self.file, "reason": self.reason}


def is_zip(name: str, head: bytes) -> bool:
    return name.lower().endswith(".zip") or head[:4] == b"PK\x03\x04"


def zip_sources(data: bytes, archive_name: str) -> tuple[list[SourceFile], list[Skipped]]:
    """The files inside a ZIP, checked before anything is unpacked.

    Raises UserError for an archive that is not a ZIP, is empty, or looks like a ZIP bomb (the whole archive is
    refused: nothing from a hostile archive is imported). Unsafe member paths ("../", absolute) and nested archives
    are skipped with a reason.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = [m for m in archive.infolist() if not m.is_dir()]
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        raise UserError(f"{archive_name} is not a readable ZIP archive ({error}).") from None
    if not members:
        raise UserError(f"{archive_name} is empty: it holds no files.")
    if len(members) > MAX_MEMBERS:
        raise UserError(f"{archive_name} holds {len(members):,} files, more than the {MAX_MEMBERS:,} MedLab accepts.")
    declared = sum(m.file_size for m in members)
    if declared > MAX_UNPACKED_BYTES:
        raise UserError(
            f"{archive_name} would unpack to {declared / 2**30:.1f} GB, over the "
            f"{MAX_UNPACKED_BYTES / 2**30:.1f} GB limit; it looks like a ZIP bomb and was not unpacked."
        )
    for member in members:
        if member.file_size > RATIO_CHECK_ABOVE and member.file_size > MAX_RATIO * max(member.compress_size, 1):
            ratio = member.file_size / max(member.compress_size, 1)
            raise UserError(
                f"{archive_name} looks like a ZIP bomb: {member.filename} expands {ratio:,.0f} times; "
                "nothing was unpacked."
            )

    sources: list[SourceFile] = []
    skipped: list[Skipped] = []
    for member in members:
        path = member.filename.replace("\\", "/")
        reason = _unsafe_reason(path)
        if reason:
            skipped.append(Skipped(path, reason))
            continue
        if path.lower().endswith(".zip"):
            skipped.append(Skipped(path, "nested archives are not unpacked; upload it on its own"))
            continue
        sources.append(SourceFile(path, _member_reader(archive, member, archive_name)))
    return sources, skipped


def _unsafe_reason(path: str) -> str | None:
    parts = path.split("/")
    if path.startswith("/") or (len(parts[0]) == 2 and parts[0][1] == ":") or ".." in parts:
        return "unsafe path that points outside the archive; skipped"
    if parts[0] == "__MACOSX" or parts[-1].lower() in METADATA_NAMES or parts[-1].startswith("._"):
        return "operating-system metadata file, not an image"
    return None


def _member_reader(archive: zipfile.ZipFile, member: zipfile.ZipInfo, archive_name: str) -> Callable[[], bytes]:
    def read() -> bytes:
        # The header's size can lie; read at most one byte more than it claims and refuse if there is more.
        with archive.open(member) as handle:
            data = handle.read(member.file_size + 1)
        if len(data) > member.file_size:
            raise UserError(f"{member.filename} in {archive_name} is larger than its ZIP header says; refused.")
        return data

    return read


def folder_sources(folder: Path) -> list[SourceFile]:
    """Every regular file below `folder` (hidden files and folders left out), paths relative to it."""
    files = []
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder).as_posix()
        if path.is_file() and not any(part.startswith(".") for part in relative.split("/")):
            files.append(SourceFile(relative, path.read_bytes))
    return files


def expand_uploads(uploads: Iterable[tuple[str, bytes]]) -> tuple[list[SourceFile], list[Skipped]]:
    """Browser uploads (name, bytes) as sources: ZIPs are unpacked, other files kept with their relative path
    (a folder upload carries the folder structure in the name)."""
    sources: list[SourceFile] = []
    skipped: list[Skipped] = []
    for name, data in uploads:
        name = name.replace("\\", "/").lstrip("/")
        if is_zip(name, data[:4]):
            inner, inner_skipped = zip_sources(data, posixpath.basename(name))
            sources += inner
            skipped += inner_skipped
        else:
            reason = _unsafe_reason(name)
            if reason:
                skipped.append(Skipped(name, reason))
            else:
                sources.append(SourceFile(name, lambda data=data: data))
    return sources, skipped


def _head(path: Path) -> bytes:
    with path.open("rb") as handle:
        return handle.read(4)


def path_sources(paths: Iterable[Path]) -> tuple[list[SourceFile], list[Skipped]]:
    """Command-line inputs as sources: folders are walked, ZIPs unpacked, single files taken as they are."""
    sources: list[SourceFile] = []
    skipped: list[Skipped] = []
    for path in paths:
        if not path.exists():
            raise UserError(f"{path} does not exist.")
        if path.is_dir():
            sources += folder_sources(path)
        elif is_zip(path.name, _head(path)):
            inner, inner_skipped = zip_sources(path.read_bytes(), path.name)
            sources += inner
            skipped += inner_skipped
        else:
            sources.append(SourceFile(path.name, path.read_bytes))
    return sources, skipped
