"""The public API of podium.training: a sorted `__all__`, every name importable; no heavy import on --help."""

from __future__ import annotations

import subprocess
import sys

import podium.training as training


def test_all_is_sorted_and_complete():
    assert training.__all__ == sorted(training.__all__)
    for name in training.__all__:
        assert hasattr(training, name), name


def test_cli_help_imports_no_torch_sklearn_or_mlperf_logging():
    code = ("import sys; from podium.cli import build_parser; build_parser(); "
            "print(sorted(m for m in ('torch', 'sklearn', 'mlperf_logging', 'scipy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
