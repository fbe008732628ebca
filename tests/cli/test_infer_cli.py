"""`podium infer` from the command line: the one-line result, exit codes, names suggested for typos."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytest.importorskip("onnxruntime")


def _podium(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "podium", *args], capture_output=True, text=True, timeout=300,
                          cwd=cwd)


def test_infer_prints_one_line_per_run_and_marks_short_runs(digits_model, cache_dir, tmp_path) -> None:
    r = _podium("infer", "digits", "--scenario", "SingleStream", "--model", str(digits_model["onnx"]),
                "--short", "--reference-accuracy", "1", "--mode", "submission", "--out", str(tmp_path))
    lines = r.stdout.splitlines()
    assert any("SingleStream performance on onnxruntime" in x and "not valid for submission" in x for x in lines)
    assert any("accuracy" in x and "PASSED" in x for x in lines), r.stdout + r.stderr
    assert r.returncode == 0, r.stderr


def test_accuracy_below_target_exits_non_zero(digits_model, cache_dir, tmp_path) -> None:
    r = _podium("infer", "digits", "--scenario", "Offline", "--model", str(digits_model["onnx"]), "--mode",
                "accuracy", "--reference-accuracy", "100", "--out", str(tmp_path))
    assert r.returncode == 1 and "BELOW TARGET" in r.stdout


@pytest.mark.parametrize("args,expected", [(("digit", "--backend", "onnxruntime"), "digits"),
                                           (("digits", "--backend", "onnxruntim"), "onnxruntime")])
def test_unknown_names_exit_2_with_the_nearest_name(digits_model, tmp_path, args, expected) -> None:
    r = _podium("infer", args[0], "--scenario", "Offline", "--model", str(digits_model["onnx"]),
                "--reference-accuracy", "1", "--out", str(tmp_path), *args[1:])
    assert r.returncode == 2 and expected in r.stderr and "Traceback" not in r.stderr
