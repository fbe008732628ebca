"""The dataset (query sample library) base: which samples exist, loading some of them to RAM, their labels.

A `Dataset` is what the engine calls a sample library (`podium.loadgen.session.SampleLibrary`): LoadGen asks it to
load a set of samples before timing starts and to unload them after; the SUT then reads loaded samples with
`get_samples`. A layout subclass says how to find and preprocess one sample (`_read`); this base keeps the loaded
rows, one private copy each, so that unloading a sample frees its memory. Preprocessing is cached on disk
(`podium.datasets.cache`) and happens when samples are loaded, never for the whole set up front.
numpy is imported where it is used, so that a training workload declared on a dataset module (`podium list`)
imports none.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from podium.core.errors import ConfigError, PodiumError, SUTError
from podium.datasets.cache import cache_root

if TYPE_CHECKING:
    import numpy as np


@dataclass
class CacheStats:
    """How many cache entries (a whole small set, or one sample) were read back and how many were computed."""

    hits: int = 0
    computed: int = 0


class DatasetOpener(Protocol):
    """What `DATASETS.get(name)` returns: a callable opening a dataset (usually the Dataset subclass itself)."""

    def __call__(self, path: Path | None = None, *, cache_dir: Path | None = None,
                 performance_sample_count: int | None = None, count: int | None = None,
                 **options: Any) -> Dataset: ...


class Dataset(abc.ABC):
    """A sample library: `total_sample_count` samples, of which `performance_sample_count` fit in RAM at once.

    Subclasses set `layout`, `preprocessing_version` and `expected_layout` (the sentence shown when the path is
    wrong; `{path}` stands for the dataset directory) and implement `_open` (check the layout, cheaply; return
    the number of samples), `_read` (preprocessed rows of some samples, from the cache or computed and cached)
    and `_all_labels`.
    """

    layout: ClassVar[str]
    preprocessing_version: ClassVar[str]
    expected_layout: ClassVar[str]
    needs_path: ClassVar[bool] = True
    # Samples of different shapes (3D U-Net's volumes): `get_samples` answers a list of arrays, not one array.
    variable_shape: ClassVar[bool] = False

    def __init__(self, path: Path | str | None = None, *, cache_dir: Path | str | None = None,
                 performance_sample_count: int | None = None, count: int | None = None, **options: Any) -> None:
        if options:  # a layout taking options consumes them before calling this
            raise ConfigError(f"dataset {self.layout!r} takes no option {', '.join(sorted(options))}",
                              key=sorted(options)[0])
        self.name: str = self.layout
        self.path = self._check_path(path)
        self.cache_root = cache_root(cache_dir)
        self.cache_stats = CacheStats()
        self._loaded: dict[int, np.ndarray] = {}
        available = self._open()
        if count is not None and count < 1:
            raise ConfigError(f"dataset count must be at least 1, got {count}", key="count")
        self.total_sample_count: int = available if count is None else min(count, available)
        if performance_sample_count is not None and performance_sample_count < 1:
            raise ConfigError(f"performance_sample_count must be at least 1, got {performance_sample_count}",
                              key="performance_sample_count")
        # A QSL cannot hold more samples in RAM than it has (the official main.py also takes the minimum).
        self.performance_sample_count: int = min(performance_sample_count or self.total_sample_count,
                                                 self.total_sample_count)

    # --- what layouts implement -------------------------------------------------------------------------------

    @abc.abstractmethod
    def _open(self) -> int:
        """Check the layout (ConfigError naming the path otherwise) and return how many samples it has."""

    @abc.abstractmethod
    def _read(self, indices: list[int]) -> list[np.ndarray]:
        """Preprocessed inputs of `indices` (all < total_sample_count), one new array each, in order."""

    @abc.abstractmethod
    def _all_labels(self) -> np.ndarray:
        """Ground truth of every available sample (before `count` applies)."""

    @property
    def cache_path(self) -> Path | None:
        """Where this dataset's preprocessed samples are cached (None when it needs no preprocessing)."""
        return None

    # --- the sample library -----------------------------------------------------------------------------------

    def load_samples(self, indices: Sequence[int], /) -> None:
        """Bring `indices` into RAM (preprocessing, or reading the cache, as needed); loaded ones stay as they are."""
        wanted = sorted({int(i) for i in indices} - self._loaded.keys())
        self._check_indices(wanted)
        if wanted:
            self._loaded.update(zip(wanted, self._read(wanted), strict=True))

    def unload_samples(self, indices: Sequence[int], /) -> None:
        """Free the RAM copies of `indices`; unloading a sample that is not loaded does nothing."""
        for i in indices:
            self._loaded.pop(int(i), None)

    def get_samples(self, indices: Sequence[int]) -> np.ndarray | list[np.ndarray]:
        """The loaded inputs of `indices`, stacked along a new first axis, or as a list when the samples differ in
        shape (`variable_shape`); a SUTError if one is not loaded."""
        import numpy as np

        try:
            rows = [self._loaded[int(i)] for i in indices]
        except KeyError as e:
            raise SUTError(f"dataset {self.name!r}: sample {e.args[0]} is not loaded; LoadGen loads samples "
                           f"before issuing them, so the SUT asked for one it was never given") from None
        if not rows:
            raise SUTError(f"dataset {self.name!r}: get_samples called with no indices")
        return rows if self.variable_shape else np.stack(rows)

    def loaded_indices(self) -> list[int]:
        return sorted(self._loaded)

    def loaded_array(self) -> tuple[np.ndarray, dict[int, int]]:
        """The loaded samples as one contiguous array (rows in index order) and a map qsl index -> row."""
        import numpy as np

        order = self.loaded_indices()
        if not order:
            raise PodiumError(f"dataset {self.name!r}: no samples are loaded")
        if self.variable_shape:
            raise ConfigError(f"dataset {self.name!r}: its samples differ in shape and cannot share one block of "
                              "memory with worker processes; use a thread pool runner (--runner pool)",
                              key="--runner")
        return np.stack([self._loaded[i] for i in order]), {i: row for row, i in enumerate(order)}

    def labels(self) -> np.ndarray:
        """Ground truth of every sample, index i for qsl index i."""
        return self._all_labels()[:self.total_sample_count]

    def describe(self) -> dict[str, Any]:
        """What a run record says about the data: name, layout, path, count, preprocessing, cache."""
        return {"name": self.name, "layout": self.layout, "path": None if self.path is None else str(self.path),
                "count": self.total_sample_count, "performance_sample_count": self.performance_sample_count,
                "preprocessing_version": self.preprocessing_version,
                "cache_path": None if self.cache_path is None else str(self.cache_path)}

    # --- helpers ----------------------------------------------------------------------------------------------

    @classmethod
    def expected(cls, path: Path | str) -> str:
        """The layout this class expects at `path`, as a sentence for error messages."""
        return cls.expected_layout.format(path=path)

    def _check_path(self, path: Path | str | None) -> Path | None:
        if not self.needs_path:
            if path is not None:
                raise ConfigError(f"dataset layout {self.layout!r} takes no path ({self.expected(path)})",
                                  path=str(path))
            return None
        if path is None:
            raise ConfigError(f"dataset layout {self.layout!r} needs a path: {self.expected('<path>')}")
        resolved = Path(path).expanduser().resolve()
        if not resolved.is_dir():
            raise ConfigError(f"no such dataset directory; {self.expected(resolved)}", path=str(resolved))
        return resolved

    def _check_indices(self, indices: list[int]) -> None:
        bad = [i for i in indices if not 0 <= i < self.total_sample_count]
        if bad:
            raise PodiumError(f"dataset {self.name!r}: sample indices {bad[:5]} out of range "
                              f"[0, {self.total_sample_count})")
