"""The HTML report: plots present, strings escaped, nothing external, atomic write, the CLI, and a real browser.

The browser test runs Debian's chromium headless (`apt-get install -y chromium`); it skips when
/usr/bin/chromium is absent unless PODIUM_REQUIRE_BROWSER=1 (CI sets it). PODIUM_CHROMIUM names another binary.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from podium.cli import main
from podium.results import plots
from podium.results.report import build_report, write_report
from tests.results.report_fixtures import XSS, suite_tree, system_json

CHROMIUM = Path(os.environ.get("PODIUM_CHROMIUM", "/usr/bin/chromium"))
REQUIRE_BROWSER = os.environ.get("PODIUM_REQUIRE_BROWSER") == "1"
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--enable-logging=stderr", "--v=0", "--hide-scrollbars")
ESCAPED_XSS = "&lt;script&gt;alert(1)&lt;/script&gt;"
BROWSER_TIMEOUT_S = 120
PLOT_BLUE = (0, 114, 178)   # plots.PALETTE[0], the histogram bars


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    """A `podium run` output whose system name, notes and runner settings carry a script tag."""
    system = system_json("cpu-a", system_name=f"box {XSS}", sw_notes=XSS)
    return suite_tree(tmp_path_factory.mktemp("report") / "out", "cpu-a", system=system,
                      runner={"kind": "pool", "batch_size": 1, "note": XSS})


@pytest.fixture(scope="module")
def html(tree) -> str:
    return build_report([tree])


def test_report_holds_every_plot(html):
    # per inference run: histogram and CDF (4 scenarios); the Server peak search; one training benchmark
    assert html.count("<svg") == 4 * 2 + 1 + 1
    assert html.count("Sample latency histogram</title>") == 4
    assert html.count("Sample latency CDF</title>") == 4
    assert "Peak search: throughput against p99 latency" in html
    assert "Convergence: eval metric against time" in html and "target 0.98" in html
    for section in ('id="results"', 'id="inference"', 'id="training"', 'id="systems"'):
        assert section in html


def test_strings_from_files_are_escaped(html):
    assert XSS not in html
    assert "<script" not in html.lower()
    assert html.count(ESCAPED_XSS) >= 4   # system name, notes, configuration label, system table


def test_nothing_external(html):
    links = re.findall(r"""\b(?:src|href|xlink:href|action)\s*=\s*["']?([^"'\s>]*)""", html, flags=re.I)
    assert links and all(link.startswith(("#", "data:")) for link in links), links
    assert "http" not in "".join(links)
    assert not re.search(r"@import|url\(\s*['\"]?(?:https?:)?//", html)
    assert "default-src 'none'" in html   # the CSP forbids any fetch and any script


def test_units_on_axes():
    hist = plots.histogram_svg([1_000.0, 2_000.0, 3_000.0], [5, 7])
    assert "latency (µs)" in hist and "samples per bin" in hist
    cdf = plots.cdf_svg([0.0, 0.5, 0.9, 0.99, 1.0], [1e6, 2e6, 3e6, 4e6, 9e6])
    assert "latency (ms)" in cdf and "samples at or under (%)" in cdf and "p99: 4 ms" in cdf
    steps = [{"target_qps": 100, "achieved_qps": 99.0, "p99_ns": 2e6, "validity": "VALID"},
             {"target_qps": 200, "achieved_qps": 150.0, "p99_ns": 9e7, "validity": "INVALID"}]
    peak = plots.peak_svg(steps, latency_bound_ns=1e7, peak_qps=100.0)
    assert "achieved throughput (queries/s)" in peak and "p99 latency (ms" in peak and "latency bound 10 ms" in peak
    conv = plots.convergence_svg([plots.Series("run <0>", ((1.0, 0.5), (2.0, 0.9)))], target=0.8)
    assert "time since run_start (s)" in conv and "run &lt;0&gt;" in conv and "run <0>" not in conv


def test_write_report_is_atomic_and_readable(tree, tmp_path):
    out = write_report([tree], tmp_path / "sub" / "report.html")
    assert out == tmp_path / "sub" / "report.html"
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert os.listdir(out.parent) == ["report.html"]   # no temporary file left behind
    assert out.stat().st_mode & 0o777 == 0o644


def test_tree_without_podium_files_still_reports(tree, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(tree / "inference", copy)
    for record in copy.rglob("podium_run.json"):
        record.unlink()
    text = build_report([copy])
    assert text.count("No latency histogram in podium_run.json") == 4
    assert text.count("<svg") == 1   # the peak search's steps are in podium_peak.json


def test_cli_report(tree, tmp_path, capsys):
    assert main(["report", str(tree), "-o", str(tmp_path / "r.html")]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "r.html")
    assert main(["report", str(tmp_path / "nothing-here")]) == 2


def _chromium(profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [str(CHROMIUM), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=BROWSER_TIMEOUT_S, check=False)


@pytest.mark.skipif(not CHROMIUM.exists() and not REQUIRE_BROWSER,
                    reason=f"{CHROMIUM} absent (apt-get install -y chromium; PODIUM_REQUIRE_BROWSER=1 to insist)")
def test_report_in_headless_chromium(tree, html, tmp_path):
    assert CHROMIUM.exists(), f"PODIUM_REQUIRE_BROWSER=1 but {CHROMIUM} is missing"
    page = write_report([tree], tmp_path / "report.html")
    shot = tmp_path / "report.png"
    run = _chromium(tmp_path / "profile", "--dump-dom", page.as_uri())
    console = [line for line in run.stderr.splitlines() if ":CONSOLE" in line]
    assert run.returncode == 0, run.stderr[-2000:]
    assert console == []
    dom = run.stdout
    assert dom.count("<svg") == html.count("<svg") == 10      # the SVG elements are in the rendered DOM
    assert dom.count("<rect") > 40 and "<polyline" in dom
    assert "<script" not in dom.lower() and ESCAPED_XSS in dom   # the injected tag is text, not an element
    run = _chromium(tmp_path / "profile", f"--screenshot={shot}", "--window-size=1280,3000", page.as_uri())
    assert run.returncode == 0 and shot.stat().st_size > 10_000, run.stderr[-2000:]
    image = pytest.importorskip("PIL.Image").open(shot).convert("RGB")
    blue = sum(n for n, colour in image.getcolors(maxcolors=1 << 24) if colour == PLOT_BLUE)
    assert blue > 500   # histogram bars were painted


@pytest.mark.parametrize("record", [
    {"latency_histogram": {"edges_ns": [5.0, 5.0], "counts": [3]},
     "latency_quantiles": {"q": [0.0, 0.5, 1.0], "latency_ns": [5, 5, 5]}},
    {"latency_histogram": {"edges_ns": [1.0, 2.0], "counts": [0]}, "latency_quantiles": {"q": [0.5], "latency_ns": []}},
    {"latency_histogram": {"edges_ns": "garbage", "counts": None}, "latency_quantiles": {"q": [0.5, 1.0],
                                                                                         "latency_ns": ["x", 1]}},
])
def test_odd_latency_records_do_not_break_the_report(record):
    from podium.results.report import _latency_plots

    for plot in _latency_plots(record):
        assert plot is None or "<svg" in plot or "cannot draw" in plot
