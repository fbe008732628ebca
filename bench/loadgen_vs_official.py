#!/usr/bin/env python3
"""Podium's load generator against the official mlcommons-loadgen 6.0.17, with the same Python null SUT.

The SUT is shared/peer/null_sut.py (../shared from the repository root): run as is for the official
LoadGen, and with only its import line changed (`import podium.loadgen.compat as lg`) for Podium.
Runs alternate between the two engines so that drifts of this noisy 2-vCPU VM hit both alike.
Prints each figure for both engines and the ratio Podium/official:

- Server: the highest target QPS at which 3 of 3 short runs are VALID (inline and thread variants);
- Offline samples/s; SingleStream queries/s including the generator's overhead;
- p50 latency of the null SUT at 1k QPS Server;
- memory per pre-generated query (peak RSS difference between a long and a short Server run);
- generator CPU per sample (process CPU / samples of a null SUT run).

Usage: .venv/bin/python bench/loadgen_vs_official.py [--quick] [--reps 3] [--out runs/bench]
Hardware and result of the last full run are in the closing note of the issue that added this file.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PEER = Path(os.environ.get("PODIUM_PEER_SUT", ROOT.parent / "shared" / "peer" / "null_sut.py"))
OFFICIAL_IMPORT = "import mlperf_loadgen as lg"
PODIUM_IMPORT = "import podium.loadgen.compat as lg"


def harnesses(tmp: Path) -> dict[str, Path]:
    """The peer null SUT for each engine: unchanged, and with its import line switched to Podium."""
    text = PEER.read_text()
    if OFFICIAL_IMPORT not in text:
        sys.exit(f"{PEER}: expected the line {OFFICIAL_IMPORT!r}")
    podium = tmp / "null_sut_podium.py"
    podium.write_text(text.replace(OFFICIAL_IMPORT, PODIUM_IMPORT, 1))
    return {"official": PEER, "podium": podium}


def run_one(harness: Path, outdir: Path, args: list[str], timeout_s: float = 300) -> dict:
    cmd = [sys.executable, str(harness), "--outdir", str(outdir), *args]
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, env=env, cwd=outdir.parent)
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
    if p.returncode != 0 or not lines:
        return {"failed": True, "rc": p.returncode, "stderr": p.stderr[-800:]}
    return json.loads(lines[-1])


class Bench:
    def __init__(self, out: Path, reps: int, quick: bool) -> None:
        self.out, self.reps, self.quick = out, reps, quick
        self.h = harnesses(out)
        self.n = 0

    def pair(self, args: list[str]) -> dict[str, dict]:
        """One run per engine, alternating which goes first."""
        order = ["official", "podium"] if self.n % 2 == 0 else ["podium", "official"]
        self.n += 1
        res = {}
        for eng in order:
            d = self.out / f"run{self.n:04d}_{eng}"
            d.mkdir(parents=True, exist_ok=True)
            res[eng] = run_one(self.h[eng], d, args)
        return res

    def server_peak(self, variant: str, trace: bool) -> dict[str, float]:
        qps_list = [50_000, 100_000, 150_000] if self.quick else [
            50_000, 75_000, 100_000, 150_000, 200_000, 250_000, 300_000]
        valid = {"official": {}, "podium": {}}
        for q in qps_list:
            for _ in range(self.reps):
                args = ["--scenario", "Server", "--min-duration-ms", "3000", "--latency-ms", "10",
                        "--variant", variant, "--qps", str(q)] + ([] if trace else ["--no-trace"])
                for eng, r in self.pair(args).items():
                    ok = r.get("result_validity") == "VALID"
                    valid[eng][q] = valid[eng].get(q, 0) + ok
            line = "  ".join(f"{e} {valid[e][q]}/{self.reps}" for e in valid)
            print(f"    Server {variant} {'trace' if trace else 'no trace'} {q:>7,} QPS: {line}", flush=True)
            if all(valid[e][q] <= self.reps // 3 for e in valid):
                break  # neither engine comes near holding this rate: higher ones are not tried
        return {e: max([q for q, v in valid[e].items() if v == self.reps], default=0.0) for e in valid}

    def median(self, args: list[str], key: str) -> dict[str, float]:
        vals = {"official": [], "podium": []}
        for _ in range(self.reps):
            for eng, r in self.pair(args).items():
                if isinstance(r.get(key), (int, float)):
                    vals[eng].append(float(r[key]))
        return {e: statistics.median(v) if v else float("nan") for e, v in vals.items()}

    def memory_per_query(self) -> dict[str, float]:
        """Peak RSS of a 6 s minus a 1 s Server run at 100k QPS, per extra pre-generated query."""
        per = {}
        for eng in ("official", "podium"):
            rss = []
            for dur in (1000, 6000):
                d = self.out / f"mem_{eng}_{dur}"
                d.mkdir(parents=True, exist_ok=True)
                code = (f"import resource, runpy, sys; sys.argv={[str(self.h[eng]), '--outdir', str(d), '--scenario', 'Server', '--qps', '100000', '--min-duration-ms', str(dur), '--no-trace', '--variant', 'inline']!r};"
                        "\ntry: runpy.run_path(sys.argv[0], run_name='__main__')\nexcept SystemExit: pass\n"
                        "print('RSS', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
                env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
                p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
                rss.append(int(p.stdout.split("RSS")[-1]) * 1024)
            per[eng] = (rss[1] - rss[0]) / (100_000 * 5.0)
        return per


def report(name: str, figures: dict[str, float], unit: str, better: str) -> None:
    o, p = figures["official"], figures["podium"]
    ratio = p / o if o else float("inf")
    print(f"{name:<48} official {o:>12,.2f} {unit:<10} podium {p:>12,.2f} {unit:<10} "
          f"podium/official {ratio:6.2f}x ({better} is better)", flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="fewer QPS steps, for a smoke run")
    ap.add_argument("--only", help="comma-separated subset: server,offline,ss,p50,memory,cpu")
    ap.add_argument("--out", type=Path)
    a = ap.parse_args()
    out = a.out or Path(tempfile.mkdtemp(prefix="podium-bench-"))
    out.mkdir(parents=True, exist_ok=True)
    b = Bench(out, a.reps, a.quick)
    only = set(a.only.split(",")) if a.only else {"server", "offline", "ss", "p50", "memory", "cpu"}
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs; runs under {out}", flush=True)
    if "offline" in only:
        for v in ("inline", "fast"):
            report(f"Offline samples/s ({v}, trace off)", b.median(
                ["--scenario", "Offline", "--variant", v, "--qps", "1500000", "--min-duration-ms", "2000",
                 "--no-trace"], "result_samples_per_second"), "samples/s", "higher")
    if "ss" in only:
        report("SingleStream queries/s with overhead (inline)", b.median(
            ["--scenario", "SingleStream", "--variant", "inline", "--expected-latency-ns", "2000",
             "--min-duration-ms", "3000", "--no-trace"], "result_qps_with_loadgen_overhead"), "q/s", "higher")
    if "p50" in only:
        report("Server 1k QPS p50 latency (inline)", b.median(
            ["--scenario", "Server", "--variant", "inline", "--qps", "1000", "--min-duration-ms", "3000",
             "--no-trace"], "result_50.00_percentile_latency_ns"), "ns", "lower")
    if "cpu" in only:
        report("CPU per sample, Server 50k QPS (inline)", b.median(
            ["--scenario", "Server", "--variant", "inline", "--qps", "50000", "--min-duration-ms", "3000",
             "--no-trace"], "cpu_us_per_sample"), "µs", "lower")
    if "memory" in only:
        report("memory per pre-generated query", b.memory_per_query(), "bytes", "lower")
    if "server" in only:
        for variant, trace in (("inline", False), ("thread", False), ("inline", True)):
            report(f"Server peak VALID QPS ({variant}, trace {'on' if trace else 'off'})",
                   b.server_peak(variant, trace), "QPS", "higher")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
