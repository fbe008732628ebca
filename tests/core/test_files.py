"""podium.core.files: atomic result files with one mode; OS errors as one line naming the path."""

from __future__ import annotations

import math
import os
import stat
from pathlib import Path

import pytest

from podium.core.errors import OutputError
from podium.core.files import FILE_MODE, atomic_write, atomic_write_json, ensure_dir


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_written_files_get_the_plain_open_mode_not_mkstemps_0600(tmp_path: Path) -> None:
    """Fault: records written 0600 (mkstemp's mode) beside logs written 0644."""
    path = atomic_write_json(tmp_path / "record.json", {"a": 1})
    assert stat.S_IMODE(path.stat().st_mode) == FILE_MODE
    assert FILE_MODE & 0o044  # readable by others under the usual umask


def test_a_writer_that_raises_leaves_the_previous_file_and_no_temp_file(tmp_path: Path) -> None:
    """Fault: an exception (or a signal) in the middle of writing a result."""
    path = tmp_path / "accuracy.txt"
    atomic_write(path, "old\n")

    def half(f) -> None:
        f.write(b"new but")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(path, half)
    assert path.read_text() == "old\n"
    assert _leftovers(tmp_path) == []


def test_non_finite_numbers_are_refused_naming_the_key_before_the_file_is_touched(tmp_path: Path) -> None:
    """Fault: a NaN setting crashed the record writer, leaving a temp file."""
    path = tmp_path / "podium_run.json"
    with pytest.raises(ValueError, match=r"settings\.server_target_qps"):
        atomic_write_json(path, {"settings": {"server_target_qps": math.nan}})
    assert not path.exists() and _leftovers(tmp_path) == []


def test_a_full_disk_is_one_line_naming_the_path_and_leaves_no_temp_file(small_disk: Path) -> None:
    """Fault: ENOSPC (a real 256 KiB tmpfs filled up)."""
    path = small_disk / "mlperf_log_accuracy.json"
    atomic_write(path, b"previous")
    with pytest.raises(OutputError) as e:
        atomic_write(path, b"x" * (1 << 20))
    assert str(e.value) == f"cannot write {path}: no space left on the device"
    assert path.read_bytes() == b"previous"
    assert _leftovers(small_disk) == []


def test_a_read_only_file_system_is_one_line_naming_the_path(readonly_dir: Path) -> None:
    """Fault: a read-only --out (EROFS, which stops root too)."""
    with pytest.raises(OutputError, match=r"cannot create the folder .*results: read-only file system"):
        ensure_dir(readonly_dir / "results")
    with pytest.raises(OutputError, match=r"cannot write .*x\.json: read-only file system"):
        atomic_write_json(readonly_dir / "x.json", {})


def test_a_parent_that_is_a_file_is_named(tmp_path: Path) -> None:
    """Fault: --out points below a regular file."""
    (tmp_path / "file").write_text("")
    with pytest.raises(OutputError, match="a parent is not a directory|exists"):
        atomic_write(tmp_path / "file" / "x.txt", "x")
    assert os.listdir(tmp_path) == ["file"]
