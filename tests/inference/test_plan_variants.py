"""A benchmark asked for by a variant's checker name ("bert-99.9", "dlrm-99.9") is held to that variant's accuracy
target unless --accuracy-target says otherwise."""

from __future__ import annotations

from pathlib import Path

import pytest

from podium.inference.harness import InferenceSpec, plan
from podium.loadgen.settings import Scenario


def _target(benchmark: str, tmp_path: Path, level: str | None = None, round_: str = "v3.0") -> float | None:
    spec = InferenceSpec(benchmark=benchmark, scenario=Scenario.OFFLINE, model_path=Path("random"), round=round_,
                         dataset_path=tmp_path, out=tmp_path / "out", accuracy_target=level)
    return plan(spec).accuracy_target


@pytest.mark.parametrize("base", ["bert", "dlrm"])
def test_the_variant_named_sets_the_target(base: str, tmp_path: Path) -> None:
    first, strict = _target(base, tmp_path), _target(f"{base}-99.9", tmp_path)
    assert first == pytest.approx(_target(f"{base}-99", tmp_path))
    assert strict is not None and first is not None and strict > first
    assert strict == pytest.approx(first / 0.99 * 0.999)
    assert _target(f"{base}-99.9", tmp_path, level="99") == pytest.approx(first)
