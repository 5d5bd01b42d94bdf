"""`make chromium` (run by `make test`) installs Debian's chromium when it is missing, as root or through sudo.

A dry run: PATH holds only stubs, so `command -v chromium` fails and apt-get/sudo record how they were called;
nothing is installed or removed.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MAKE = shutil.which("make")

pytestmark = pytest.mark.skipif(MAKE is None or shutil.which("env") is None, reason="needs make")

_APT_GET = """#!/bin/sh
echo "apt-get $* DEBIAN_FRONTEND=${DEBIAN_FRONTEND:-unset}" >> "$LOG"
"""
_SUDO = """#!/bin/sh
echo "sudo $1" >> "$LOG"
exec "$@"
"""


def _dry_run(tmp_path: Path, uid: int) -> tuple[subprocess.CompletedProcess, list[str]]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in {"apt-get": _APT_GET, "sudo": _SUDO, "id": f"#!/bin/sh\necho {uid}\n"}.items():
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    os.symlink(shutil.which("env"), bin_dir / "env")  # the real env, as on a real machine
    log = tmp_path / "calls.log"
    done = subprocess.run([MAKE, "--no-print-directory", "-C", str(ROOT), "chromium"], capture_output=True, text=True,
                          env={"PATH": str(bin_dir), "LOG": str(log), "HOME": str(tmp_path)}, timeout=60)
    return done, log.read_text().splitlines() if log.exists() else []


def test_as_root_installs_without_sudo(tmp_path: Path):
    done, calls = _dry_run(tmp_path, uid=0)
    assert done.returncode == 0, done.stderr
    assert calls == ["apt-get update -q DEBIAN_FRONTEND=unset",
                     "apt-get install -y -q chromium DEBIAN_FRONTEND=noninteractive"]


def test_as_a_user_installs_through_sudo(tmp_path: Path):
    done, calls = _dry_run(tmp_path, uid=1000)
    assert done.returncode == 0, done.stderr
    assert calls == ["sudo apt-get", "apt-get update -q DEBIAN_FRONTEND=unset",
                     "sudo env", "apt-get install -y -q chromium DEBIAN_FRONTEND=noninteractive"]
