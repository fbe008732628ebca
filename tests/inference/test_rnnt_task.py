"""`podium infer rnnt`: every scenario the registry requires (round v4.0, the latest that carries it), performance and
accuracy, on generated LibriSpeech-layout audio and a small state dict under the reference checkpoint's keys
(wrapped as the published rnnt.pt wraps them); the responses are int64 symbol ids that score in accuracy_eval.py's
line, which the checker's pattern reads; the full-size network with random weights serves a performance run; and
the task's declaration (PyTorch only, as the reference publishes a checkpoint only)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from podium.core.errors import ConfigError
from podium.inference.encoding import ResponseEncoding
from podium.inference.harness import InferenceSpec, run_inference
from podium.inference.runners import RunnerConfig
from podium.inference.tasks import TASKS
from podium.loadgen.settings import Mode, Scenario

torch = pytest.importorskip("torch")
pytest.importorskip("soundfile")
pytest.importorskip("jiwer")

CHECKER_PATTERN = r"Word Error Rate\:.*, accuracy=([0-9\.]+)%"  # submission_checker.py ACC_PATTERN["WER"]
USER_CONF = """\
*.SingleStream.min_query_count = 8
*.Server.min_query_count = 8
*.Server.target_qps = 20
*.Offline.min_query_count = 8
*.Offline.target_qps = 20
"""
ROUND = "v4.0"
SS, SERVER, OFFLINE = Scenario.SINGLE_STREAM, Scenario.SERVER, Scenario.OFFLINE


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from podium.datasets.librispeech import generate

    return generate(tmp_path_factory.mktemp("librispeech"), 4, seed=3, long_count=1)


def small_checkpoint(path: Path) -> Path:
    from podium.models.rnnt import rnnt

    torch.manual_seed(0)
    model = rnnt(mel_filters=16, encoder_hidden=32, pre_layers=1, post_layers=1, pred_hidden=16, pred_layers=1,
                 joint_hidden=32)
    with torch.no_grad():  # mostly blanks, as a trained network answers between characters: short transcripts
        model.joint_net[-1].bias[-1] += 3.0
    torch.save({"state_dict": model.state_dict(), "epoch": 100}, path)
    return path


def test_the_task_is_served_by_pytorch_with_the_greedy_predictor() -> None:
    task = TASKS.get("rnnt")
    assert (task.dataset, task.model, task.metric, task.predictor) == ("librispeech", "rnnt", "word_accuracy",
                                                                       "rnnt-greedy")
    assert task.encoding == ResponseEncoding("int64", (-1,)) and task.default_backend == "pytorch"
    with pytest.raises(ConfigError, match="served by pytorch"):
        task.check_backend("onnxruntime")


def test_the_tiny_suites_task_is_rnnts_with_the_tiny_model() -> None:
    tiny, full = TASKS.get("tiny-speech"), TASKS.get("rnnt")
    assert tiny.model == "tiny-rnnt" and tiny.backends == ("pytorch",)
    assert (tiny.dataset, tiny.metric, tiny.predictor, tiny.encoding) == (full.dataset, full.metric, full.predictor,
                                                                          full.encoding)


def test_the_predictor_refuses_what_it_cannot_decode(tmp_path: Path) -> None:
    from podium.core.errors import SUTError
    from podium.inference.backends import BACKENDS
    from podium.inference.tasks import PREDICTORS
    from podium.models.rnnt import build

    path = small_checkpoint(tmp_path / "rnnt.pt")
    loaded = BACKENDS.get("pytorch").load(path, model_factory=build)
    predict = PREDICTORS.get("rnnt-greedy")
    with pytest.raises(SUTError, match="sample 7 has 480 audio samples; the features need at least 481"):
        predict(loaded, [np.zeros(4000, np.float32), np.zeros(480, np.float32)], [3, 7])
    assert [r.dtype for r in predict(loaded, [np.zeros(481, np.float32)], [0])] == [np.int64]


def test_required_scenarios_are_the_registrys() -> None:
    from podium.benchmarks import find_benchmark, get_round

    bench = get_round(ROUND).benchmark("rnnt")
    assert find_benchmark("rnnt").round_name == ROUND
    assert {s for c in ("edge", "datacenter") for s in bench.scenarios(c)} == {SS, SERVER, OFFLINE}
    assert bench.accuracy_threshold(None) == pytest.approx(0.99 * 92.548)


@pytest.mark.parametrize("scenario", [SS, SERVER, OFFLINE], ids=lambda s: s.value)
def test_every_required_scenario_runs_performance_and_accuracy(scenario: Scenario, data: Path, tmp_path: Path,
                                                               cache_dir: Path) -> None:
    model = small_checkpoint(tmp_path / "rnnt.pt")
    conf = tmp_path / "user.conf"
    conf.write_text(USER_CONF)
    spec = InferenceSpec(benchmark="rnnt", scenario=scenario, model_path=model, mode=Mode.SUBMISSION, round=ROUND,
                         backend="pytorch", dataset_path=data, out=tmp_path / "out", system_id="t", user_conf=conf,
                         short=True, progress=False, completion_timeout_s=120,
                         runner=RunnerConfig("inline" if scenario is SS else "pool", 1 if scenario is SS else 3, 0, 1))
    result = run_inference(spec)
    perf, acc = result.records
    assert not perf["errors"] and not acc["errors"], (perf["errors"], acc["errors"])
    assert perf["status"] == acc["status"] == "finished"
    assert acc["accuracy"]["metric"] == "word_accuracy" and acc["accuracy"]["total"] == 4  # the long one left out
    line = (result.scenario_dir / "accuracy" / "accuracy.txt").read_text().strip()
    match = re.match(CHECKER_PATTERN, line)
    assert match is not None and float(match.group(1)) == acc["accuracy"]["value"], line
    enc = ResponseEncoding.from_description(acc["response_encoding"])
    entries = json.loads((result.scenario_dir / "accuracy" / "mlperf_log_accuracy.json").read_text())
    assert sorted(e["qsl_idx"] for e in entries) == [0, 1, 2, 3]
    for entry in entries:
        ids = enc.decode(bytes.fromhex(entry["data"]))
        assert ids.dtype == np.int64 and ids.ndim == 1 and (ids.size == 0 or (0 <= ids.min() and ids.max() < 28))


def test_responses_are_the_models_greedy_transcripts(data: Path, tmp_path: Path, cache_dir: Path) -> None:
    """The logged ids of each utterance are what the module decodes for it alone."""
    from podium.datasets.librispeech import LibriSpeechDataset
    from podium.models.rnnt import build, greedy_decode
    from podium.models.checkpoints import read_state_dict

    model = small_checkpoint(tmp_path / "rnnt.pt")
    spec = InferenceSpec(benchmark="rnnt", scenario=OFFLINE, model_path=model, mode=Mode.ACCURACY, round=ROUND,
                         backend="pytorch", dataset_path=data, out=tmp_path / "out", system_id="t", progress=False,
                         runner=RunnerConfig("pool", 4, 0, 1))
    result = run_inference(spec)
    entries = json.loads((result.scenario_dir / "accuracy" / "mlperf_log_accuracy.json").read_text())
    logged = {e["qsl_idx"]: np.frombuffer(bytes.fromhex(e["data"]), dtype=np.int64).tolist() for e in entries}
    state = read_state_dict(model)
    module = build(state_dict=state)
    module.load_state_dict(state)
    module.eval()
    ds = LibriSpeechDataset(data)
    ds.load_samples(range(4))
    with torch.inference_mode():
        for i in range(4):
            encoded, lengths = module.encode([torch.from_numpy(ds.get_samples([i])[0])])
            assert logged[i] == greedy_decode(module, encoded, lengths)[0]


def test_random_weights_serve_the_full_size_network(data: Path, tmp_path: Path, cache_dir: Path) -> None:
    """`--model random`: the reference's full-size RNN-T (45 M parameters) on one utterance, performance only."""
    conf = tmp_path / "user.conf"
    conf.write_text("rnnt.SingleStream.min_query_count = 1\nrnnt.SingleStream.min_duration = 0\n")
    spec = InferenceSpec(benchmark="rnnt", scenario=SS, model_path=Path("random"), mode=Mode.PERFORMANCE,
                         round=ROUND, backend="pytorch", dataset_path=data, dataset_count=1, out=tmp_path / "out",
                         system_id="t", user_conf=conf, progress=False, cache_dir=cache_dir)
    result = run_inference(spec)
    (perf,) = result.records
    assert not perf["errors"] and perf["status"] == "finished" and perf.model.random_weights
    (weights,) = (cache_dir / "random-weights").glob("rnnt-*.pt")
    state = torch.load(weights, weights_only=True)
    assert sum(v.numel() for k, v in state.items() if "featurizer" not in k) == 45_323_037  # the full size
