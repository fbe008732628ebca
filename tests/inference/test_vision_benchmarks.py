"""`podium infer` of every seed vision benchmark in every scenario its round requires, performance and accuracy, on
generated data in the official layouts and small graphs with the official input and output names and shapes
(tests/inference/official_graphs.py): the harness, dataset loader and preprocessing, graph form, post-processing
or predictor, response encoding and metric of each, end to end. Durations and counts are cut by `--short` and a
user.conf, so results are marked not valid for submission; what is checked is that every test ran to its end,
wrote MLPerf's files, and that its accuracy log decodes and scores in the official script's line format.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from podium.inference.encoding import ResponseEncoding
from podium.inference.harness import InferenceSpec, run_inference
from podium.inference.runners import RunnerConfig
from podium.loadgen.settings import Mode, Scenario
from tests.inference import official_graphs

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
pytest.importorskip("cv2")
pytest.importorskip("pycocotools")

COUNT = 4  # generated samples per dataset
# 3D U-Net's SingleStream runs under equal issue: 2 x min_duration / expected latency queries, every one of them;
# 4 ms against some 7 ms per 64^3 volume here keeps the run past its 1 s minimum on a machine 3x faster.
USER_CONF = """\
*.SingleStream.min_query_count = 24
3d-unet.SingleStream.target_latency = 4
*.MultiStream.min_query_count = 12
*.Server.min_query_count = 24
*.Server.target_qps = 20
*.Offline.min_query_count = 24
*.Offline.target_qps = 24
"""


@dataclass(frozen=True)
class Case:
    benchmark: str
    round: str
    scenarios: tuple[Scenario, ...]
    graph: Callable[[Path], Path]
    generate: Callable[[Path], Path]
    summary: str  # the official accuracy script's line, as a regular expression
    batch: int | None = None  # a graph with a fixed batch size


def _imagenet(root: Path) -> Path:
    from podium.datasets.imagenet import generate

    return generate(root, COUNT)


def _coco(root: Path) -> Path:
    from podium.datasets.coco import generate

    return generate(root, COUNT)


def _openimages(root: Path) -> Path:
    from podium.datasets.openimages import generate

    return generate(root, COUNT)


def _kits(root: Path) -> Path:
    from podium.datasets.kits19 import generate

    return generate(root, 2, shape=(64, 64, 64))


SS, MS, SERVER, OFFLINE = Scenario.SINGLE_STREAM, Scenario.MULTI_STREAM, Scenario.SERVER, Scenario.OFFLINE
TOP1 = r"accuracy=\d+\.\d{3}%, good=\d+, total=4"
MAP = r"mAP=\d+\.\d{3}%"
CASES = [
    Case("resnet50", "v6.1", (SS, MS, OFFLINE), official_graphs.resnet50, _imagenet, TOP1),
    Case("mobilenet", "v0.5", (SS, MS, SERVER, OFFLINE), official_graphs.mobilenet, _imagenet, TOP1),
    Case("ssd-mobilenet", "v2.0", (SS, MS, OFFLINE), official_graphs.ssd_mobilenet, _coco, MAP),
    Case("ssd-resnet34", "v2.0", (SS, MS, SERVER, OFFLINE), official_graphs.ssd_resnet34, _coco, MAP),
    Case("retinanet", "v5.1", (SS, MS, SERVER, OFFLINE), official_graphs.retinanet, _openimages, MAP, batch=1),
    Case("3d-unet", "v6.1", (SS, OFFLINE), official_graphs.unet3d, _kits,
         r"Accuracy: mean = \d\.\d{5}, kidney = \d\.\d{4}, tumor = \d\.\d{4}"),
]


def test_the_cases_are_the_scenarios_each_round_requires() -> None:
    """The scenarios run below are those the registry requires for the round (mobilenet's v0.5 required none: all
    four are run)."""
    from podium.benchmarks import get_round

    for case in CASES:
        bench = get_round(case.round).benchmark(case.benchmark)
        required = {s for category in ("edge", "datacenter") for s in bench.scenarios(category)} or set(Scenario)
        assert set(case.scenarios) == required, case.benchmark


@pytest.mark.parametrize("case", CASES, ids=[c.benchmark for c in CASES])
def test_every_required_scenario_runs_performance_and_accuracy(case: Case, tmp_path: Path, cache_dir) -> None:
    data, graph = case.generate(tmp_path / "data"), case.graph(tmp_path / "model.onnx")
    conf = tmp_path / "user.conf"
    conf.write_text(USER_CONF)
    for scenario in case.scenarios:
        batch = case.batch or (1 if scenario is SS else 4)
        spec = InferenceSpec(benchmark=case.benchmark, scenario=scenario, model_path=graph, mode=Mode.SUBMISSION,
                             round=case.round, dataset_path=data, out=tmp_path / "out", system_id="t",
                             user_conf=conf, short=True, progress=False, completion_timeout_s=120,
                             runner=RunnerConfig("inline" if scenario is SS else "pool", batch, 0, 1))
        result = run_inference(spec)
        perf, acc = result.records
        assert not perf["errors"] and not acc["errors"], (scenario, perf["errors"], acc["errors"])
        assert perf["status"] == acc["status"] == "finished", (scenario, perf["result"])
        assert perf["result"]["value"] >= 0  # MultiStream's p99 estimate is 0 with this few queries
        assert acc["accuracy"]["total"] is None or acc["accuracy"]["total"] > 0
        files = result.scenario_dir
        line = (files / "accuracy" / "accuracy.txt").read_text().strip()
        assert re.fullmatch(case.summary, line), line
        assert (files / "performance" / "run_1" / "mlperf_log_summary.txt").is_file()
        _decodes(files / "accuracy" / "mlperf_log_accuracy.json", acc["response_encoding"])


def _decodes(log: Path, encoding: dict) -> None:
    """Every logged response decodes with the recorded encoding; detection rows name their own qsl index."""
    enc = ResponseEncoding.from_description(encoding)
    entries = json.loads(log.read_text())
    assert entries
    for entry in entries:
        response = enc.decode(bytes.fromhex(entry["data"]))
        if enc.shape == (-1, 7):
            assert (response[:, 0] == entry["qsl_idx"]).all()
