"""A named plugin registry: a decorator to register, entry points for third-party plugins, "did you mean".

One `Registry` object per plugin kind: workloads, backends, inference tasks, models, datasets, metrics.
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil
from collections.abc import Callable, Iterable
from importlib import metadata
from typing import Generic, TypeVar

from podium.core.errors import ConfigError, UnknownNameError

T = TypeVar("T")
Factory = Callable[[], T]


class Registry(Generic[T]):
    """Plugins of one kind, by name; each registered as a zero-argument factory called on lookup.

    `builtins` are modules imported on first lookup (so that `podium --help` imports none of them), and so is
    every module of the package `package` (a new plugin there is one file, listed nowhere);
    `group` is the entry-point group scanned for third-party plugins (each entry point loads a factory).
    """

    def __init__(self, kind: str, group: str, builtins: Iterable[str] = (), package: str | None = None) -> None:
        self.kind, self._group = kind, group
        self._builtins = tuple(builtins)
        self._package = package
        self._factories: dict[str, Factory[T]] = {}
        self._loaded = False

    def register(self, name: str) -> Callable[[Factory[T]], Factory[T]]:
        """Decorator: `@WORKLOADS.register("digits")` over a function returning the plugin."""

        def deco(factory: Factory[T]) -> Factory[T]:
            if name in self._factories:
                raise ConfigError(f"{self.kind} {name!r} registered twice")
            self._factories[name] = factory
            return factory

        return deco

    def get(self, name: str) -> T:
        """The plugin called `name`; an UnknownNameError naming the nearest names otherwise."""
        self._load()
        factory = self._factories.get(name)
        if factory is None:
            close = difflib.get_close_matches(name, self._factories, n=3, cutoff=0.5)
            known = ", ".join(sorted(self._factories))
            raise UnknownNameError(f"unknown {self.kind} {name!r}; known: {known}",
                                   suggestion=" or ".join(close) if close else None)
        return factory()

    def names(self) -> list[str]:
        """Every registered name, sorted."""
        self._load()
        return sorted(self._factories)

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        for module in self._builtins + self._package_modules():
            importlib.import_module(module)
        for ep in metadata.entry_points(group=self._group):
            if ep.name not in self._factories:
                self._factories[ep.name] = ep.load()

    def _package_modules(self) -> tuple[str, ...]:
        """The modules of `package` (not its subpackages, not `_private` ones), in name order."""
        if self._package is None:
            return ()
        path = importlib.import_module(self._package).__path__
        return tuple(f"{self._package}.{m.name}" for m in sorted(pkgutil.iter_modules(path), key=lambda m: m.name)
                     if not m.ispkg and not m.name.startswith("_"))
