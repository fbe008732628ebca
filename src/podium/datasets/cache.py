"""The on-disk cache of preprocessed samples: where it lives, how entries are keyed, how they are written.

The cache never lives in the current directory (the official `Imagenet` class defaults to the CWD,
reference/inference_suite.md §2.1). Root, first that is set: the `cache_dir` argument, `$PODIUM_CACHE_DIR`,
`$XDG_CACHE_HOME/podium`, `~/.cache/podium`. Entries sit under `<root>/datasets/<dataset name>/` and are keyed by
the preprocessing version and a fingerprint of the source, so that a changed source or a changed preprocessing
never reads a stale entry. Entries are `.npy` files (memory-mappable), written with `podium.core.files.atomic_write`,
so that a crash or a concurrent writer leaves either no entry or a whole one. numpy is imported where it is used
(see `podium.datasets.base`).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

from podium.core.errors import ConfigError, OutputError
from podium.core.files import atomic_write

if TYPE_CHECKING:
    import numpy as np

# Sources up to this size are fingerprinted by content; larger ones by path, size and modification time.
CONTENT_HASH_MAX_BYTES = 16 * 1024 * 1024


def cache_root(cache_dir: Path | str | None = None) -> Path:
    """The cache root, made absolute now so that a later change of directory cannot move it."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser().resolve()
    if os.environ.get("PODIUM_CACHE_DIR"):
        return Path(os.environ["PODIUM_CACHE_DIR"]).expanduser().resolve()
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    if xdg and os.path.isabs(xdg):  # the XDG spec says to ignore a relative value
        return Path(xdg) / "podium"
    return Path.home() / ".cache" / "podium"


def dataset_cache_dir(root: Path, dataset: str, preprocessing_version: str) -> Path:
    """Where one dataset's entries of one preprocessing version live."""
    return root / "datasets" / dataset / preprocessing_version


def fingerprint(path: Path, *extra: str) -> str:
    """A hex key for a source file: its content for small files, else its path, size and mtime; plus `extra`."""
    st = path.stat()
    h = hashlib.sha256()
    if st.st_size <= CONTENT_HASH_MAX_BYTES:
        h.update(b"content\0")
        h.update(path.read_bytes())
    else:
        h.update(f"stat\0{path.resolve()}\0{st.st_size}\0{st.st_mtime_ns}".encode())
    for part in extra:
        h.update(b"\0" + part.encode())
    return h.hexdigest()[:32]


def stat_key(path: Path, *extra: str) -> str:
    """A hex key from a file's resolved path, size and mtime (cheap: one stat), plus `extra`."""
    st = path.stat()
    text = "\0".join((str(path.resolve()), str(st.st_size), str(st.st_mtime_ns), *extra))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def save_npy_atomic(path: Path, array: np.ndarray) -> None:
    """Write `array` to `path` as .npy so that readers only ever see a complete file (and no temp file is left
    when the write fails); an unwritable cache is a ConfigError naming the folder and what to do."""
    import numpy as np

    data = np.ascontiguousarray(array)
    try:
        atomic_write(path, lambda f: np.save(f, data, allow_pickle=False), durable=False)  # recomputable
    except OutputError as e:
        raise ConfigError(f"{e}; choose another cache directory with $PODIUM_CACHE_DIR",
                          path=str(path.parent)) from e


def load_npy(path: Path, *, mmap: bool = False) -> np.ndarray | None:
    """A cached array, or None when the entry is absent or unreadable (it is then recomputed)."""
    import numpy as np

    try:
        array: np.ndarray = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
        return array
    except (OSError, ValueError):
        return None
