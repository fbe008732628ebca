"""The public API: what `podium.loadgen` exports, and that compat has every name of mlperf_loadgen."""

from __future__ import annotations

import pytest

import podium.loadgen as native
import podium.loadgen.compat as compat


@pytest.mark.parametrize("module", [native, compat])
def test_all_is_sorted_and_complete(module):
    assert module.__all__ == sorted(module.__all__)
    for name in module.__all__:
        assert hasattr(module, name), name


@pytest.mark.official
def test_compat_has_the_official_names_and_settings_fields():
    lg = pytest.importorskip("mlperf_loadgen")
    public = {n for n in dir(lg) if not n.startswith("_")}
    missing = public - set(dir(compat))
    assert not missing, missing
    official, ours = lg.TestSettings(), compat.TestSettings()
    fields = [f for f in dir(official) if not f.startswith("_") and not callable(getattr(official, f))]
    for f in fields:
        if f in ("scenario", "mode"):
            assert getattr(ours, f).name == getattr(official, f).name
        elif f != "token_latency_scaling_factor":  # no C++ initializer: garbage in the official
            assert getattr(ours, f) == pytest.approx(getattr(official, f)), f
    for cls in ("LogSettings", "LogOutputSettings"):
        o, p = getattr(lg, cls)(), getattr(compat, cls)()
        for f in (f for f in dir(o) if not f.startswith("_")):
            if f not in ("log_output", "log_mode"):
                assert getattr(p, f) == getattr(o, f), (cls, f)
