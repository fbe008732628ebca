"""`podium --help` and every `podium <cmd> --help` start without numpy or the engine (issue 11, item 5)."""

from __future__ import annotations

import json
import subprocess
import sys

from podium.cli import COMMANDS

HEAVY = ("numpy", "podium.loadgen.session", "podium.loadgen.issuer", "torch", "onnxruntime", "jinja2")

PROBE = """
import contextlib, io, json, sys
from podium.cli import build_parser
for argv in json.loads(sys.argv[1]):
    with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):
        build_parser().parse_args(argv)
print(json.dumps(sorted(m for m in json.loads(sys.argv[2]) if m in sys.modules)))
"""


def test_help_imports_neither_numpy_nor_the_engine() -> None:
    argvs = [["--help"]] + [[name, "--help"] for name in COMMANDS]
    p = subprocess.run([sys.executable, "-c", PROBE, json.dumps(argvs), json.dumps(HEAVY)], capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout) == []


def test_the_engine_api_is_still_there_on_first_use() -> None:
    from podium import loadgen

    assert set(loadgen.__all__) <= set(dir(loadgen))
    for name in loadgen.__all__:
        assert getattr(loadgen, name) is not None
