"""Every MLPerf round file against the official sources it names (needs a git mirror of mlcommons/inference).

Each round's `sources` name the mlperf.conf and the submission-checker table it was written from, with their
commits. The rendered mlperf.conf must hold exactly that file's keys and values, and `checker_constants`
must give that checker table's values. Skipped when no mirror is at $PODIUM_INFERENCE_MIRROR (default: the
project's read-only mirror).
"""

from __future__ import annotations

import ast
import math
import operator
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from podium.benchmarks import checker_constants, get_round, render_mlperf_conf, rounds
from podium.loadgen.config import _scan_official

MIRROR = Path(os.environ.get("PODIUM_INFERENCE_MIRROR", "/work/.mirror/mlcommons+inference/repo"))
pytestmark = pytest.mark.skipif(not MIRROR.is_dir(), reason=f"no mlcommons/inference mirror at {MIRROR}")
SOURCE = re.compile(r"mlcommons/inference (\S+) at ([0-9a-f]{7,40})")
MLPERF_ROUNDS = [r for r in rounds() if not r.startswith("tiny")]
# compared key by key; a key the official table lacks for a model is not compared (e.g. old dataset sizes)
VALUE_KEYS = ("accuracy-target", "accuracy-upper-limit", "accuracy-delta-perc", "performance-sample-count",
              "accuracy-sample-count", "dataset-size", "latency-constraint", "min-queries")
_OPS = {ast.Mult: operator.mul, ast.Sub: operator.sub, ast.Add: operator.add, ast.Div: operator.truediv}


def show(path: str, commit: str) -> str:
    return subprocess.run(["git", "-C", str(MIRROR), "show", f"{commit}:{path}"], capture_output=True,
                          text=True, check=True).stdout


def sources(name: str) -> tuple[tuple[str, str], tuple[str, str]]:
    conf, checker = (SOURCE.search(s).groups() for s in get_round(name).sources[:2])
    return conf, checker


def literal(node: ast.AST) -> Any:
    """A dict/list/number literal of the checker, products like `76.46 * 0.99` evaluated."""
    if isinstance(node, ast.Dict):
        return {literal(k): literal(v) for k, v in zip(node.keys, node.values)}
    if isinstance(node, (ast.List, ast.Tuple)):
        return [literal(e) for e in node.elts]
    if isinstance(node, ast.BinOp):
        return _OPS[type(node.op)](literal(node.left), literal(node.right))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -literal(node.operand)
    return ast.literal_eval(node)


def official_table(name: str) -> dict[str, Any]:
    _, (path, commit) = sources(name)
    tree = ast.parse(show(path, commit))
    node = next(n for n in tree.body
                if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == "MODEL_CONFIG")
    return literal(node.value)[name]


def close(a: Any, b: Any) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=1e-12)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(close(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(close(a[k], b[k]) for k in a)
    return a == b


@pytest.mark.parametrize("name", MLPERF_ROUNDS)
def test_rendered_conf_equals_the_rounds_official_file(name):
    (path, commit), _ = sources(name)
    official, errors = _scan_official(show(path, commit))
    official = {k: v for k, v in official.items() if not k.startswith("#")}  # '#x' keys: see the round's notes
    mine, _ = _scan_official(render_mlperf_conf(get_round(name)))
    assert errors == [] and mine == official


@pytest.mark.parametrize("name", MLPERF_ROUNDS)
def test_checker_constants_equal_the_rounds_official_table(name):
    official, mine = official_table(name), checker_constants(get_round(name))
    models = list(mine["models"])
    left_out = set(official["models"]) - set(models)
    assert left_out <= {"gpt3-99", "gpt3-99.9"}  # v3.1: listed, never adopted (see the round's notes)
    assert set(models) <= set(official["models"])
    assert close(mine["seeds"], official["seeds"])
    if "test05_seeds" in official:
        assert close(mine["test05_seeds"], official["test05_seeds"])
    diffs = [(key, m, mine[key].get(m), official[key][m]) for key in VALUE_KEYS for m in models
             if m in official.get(key, {}) and not close(mine[key].get(m), official[key][m])]
    diffs += [(key, m, mine[key].get(m), official.get(key, {}).get(m)) for key in VALUE_KEYS for m in models
              if m in mine[key] and key != "dataset-size" and m not in official.get(key, {})]
    for key in (k for k in official if "scenarios" in k):
        theirs = {m: sorted(v) for m, v in official[key].items() if m in models and v}
        diffs += [(key, m, sorted(mine[key].get(m, [])), v) for m, v in theirs.items()
                  if sorted(mine[key].get(m, [])) != v]
        diffs += [(key, m, v, None) for m, v in mine[key].items() if m not in theirs]
    for key in (k for k in official if k.startswith("models_TEST")):
        diffs += [(key, sorted(mine.get(key, [])), sorted(m for m in official[key] if m in models))] \
            if sorted(mine.get(key, [])) != sorted(m for m in official[key] if m in models) else []
    assert diffs == []
