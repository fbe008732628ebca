"""A registry with a `package` imports every module of it on the first lookup: a new plugin is one file."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from podium.core.errors import UnknownNameError
from podium.core.registry import Registry

PLUGIN = '''
from {pkg} import THINGS


@THINGS.register("{name}")
def _make():
    return "{name} made"
'''


def test_every_module_of_the_package_registers_on_first_lookup(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    pkg = tmp_path / "plugpkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("from podium.core.registry import Registry\n"
                                     "THINGS = Registry('thing', 'plugpkg.things', package='plugpkg')\n")
    (pkg / "alpha.py").write_text(PLUGIN.format(pkg="plugpkg", name="alpha"))
    (pkg / "beta.py").write_text(PLUGIN.format(pkg="plugpkg", name="beta"))
    (pkg / "_private.py").write_text("raise RuntimeError('a private module is not a plugin')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        import plugpkg

        things: Registry[str] = plugpkg.THINGS
        assert "plugpkg.alpha" not in sys.modules
        assert things.names() == ["alpha", "beta"]
        assert things.get("beta") == "beta made"
        with pytest.raises(UnknownNameError, match="did you mean 'alpha'"):
            things.get("alpah")
    finally:
        for name in [m for m in sys.modules if m == "plugpkg" or m.startswith("plugpkg.")]:
            del sys.modules[name]
