"""Writing result files: atomic, one file mode, and OS errors turned into one line that names the path.

Every file Podium writes that must survive a crash goes through `atomic_write` (temp file in the same folder,
fsync, `os.replace`): a crash, a full disk or a signal leaves the old file or the new one, never half of one,
and never a temp file beside them. Files get the mode a plain `open()` would give (0666 less the umask,
usually 0644), whatever `mkstemp`'s 0600: results are meant to be read by others.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from podium.core.errors import OutputError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


FILE_MODE = 0o666 & ~_umask()


def output_error(e: OSError, path: str | os.PathLike[str], doing: str = "write") -> OutputError:
    """One line for an OS error on `path`: what failed, where, and why in the operator's words."""
    why = {errno.ENOSPC: "no space left on the device", errno.EDQUOT: "disk quota exceeded",
           errno.EROFS: "read-only file system", errno.EACCES: "permission denied",
           errno.EPERM: "operation not permitted", errno.ENOTDIR: "a parent is not a directory",
           errno.EISDIR: "it is a directory"}.get(e.errno or 0, e.strerror or str(e))
    err = OutputError(f"cannot {doing} {os.fspath(path)}: {why}", path=os.fspath(path))
    err.__cause__ = e
    return err


def ensure_dir(path: str | os.PathLike[str]) -> Path:
    """mkdir -p, with an OSError reported as one line naming the folder."""
    p = Path(path)
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise output_error(e, p, "create the folder") from e
    return p


def atomic_write(path: str | os.PathLike[str], data: bytes | str | Callable[[Any], None], *,
                 encoding: str = "utf-8", mode: int | None = None, durable: bool = True) -> Path:
    """Write `data` (bytes, text, or a function given the open binary file) to `path` atomically.

    On any failure (disk full, permission, a signal) the temp file is removed and the previous file, if any,
    is left as it was; an OSError becomes an `OutputError` naming `path`. `durable=False` skips the fsync,
    for files that can be recomputed (a preprocessing cache of 50,000 entries).
    """
    path = Path(path)
    ensure_dir(path.parent)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:
        raise output_error(e, path) from e
    try:
        with os.fdopen(fd, "wb") as f:
            if callable(data):
                data(f)
            else:
                f.write(data.encode(encoding) if isinstance(data, str) else data)
            f.flush()
            if durable:
                os.fsync(f.fileno())
        os.chmod(tmp, FILE_MODE if mode is None else mode)
        os.replace(tmp, path)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(e, OSError):
            raise output_error(e, path) from e
        raise
    return path


def file_sha256(path: str | os.PathLike[str]) -> str:
    """The hex sha256 of a file's bytes, read in blocks (models and accuracy logs can be large)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def dumps_json(data: Any, default: Callable[[Any], Any] | None = None) -> str:
    """Strict JSON (no NaN or Infinity: other readers reject them), two-space indent, a final newline."""
    try:
        return json.dumps(data, indent=2, allow_nan=False, default=default) + "\n"
    except ValueError as e:
        raise ValueError(f"{e}: {_non_finite_keys(data)}") from e


def atomic_write_json(path: str | os.PathLike[str], data: Any,
                      default: Callable[[Any], Any] | None = None) -> Path:
    """`atomic_write` of strict JSON; a non-finite number is refused before the file is touched."""
    return atomic_write(path, dumps_json(data, default))


def _non_finite_keys(data: Any, prefix: str = "") -> str:
    """The keys holding NaN or an infinity, for the error message (the file is not written)."""
    found: list[str] = []

    def walk(v: Any, where: str) -> None:
        if isinstance(v, float) and (v != v or v in (float("inf"), float("-inf"))):
            found.append(where or "<root>")
        elif isinstance(v, dict):
            for k, x in v.items():
                walk(x, f"{where}.{k}" if where else str(k))
        elif isinstance(v, (list, tuple)):
            for i, x in enumerate(v):
                walk(x, f"{where}[{i}]")

    walk(data, prefix)
    return "non-finite values at " + ", ".join(found[:5]) if found else "values not JSON compliant"


__all__ = ["FILE_MODE", "atomic_write", "atomic_write_json", "dumps_json", "ensure_dir", "file_sha256", "output_error"]
