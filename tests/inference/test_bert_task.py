"""`podium infer bert` (and `bert-99`, `bert-99.9`): every scenario v4.1 requires (datacenter Server and Offline, edge
SingleStream and Offline), performance and accuracy, on generated SQuAD data, served from a small ONNX graph under
the official FP32 graph's names, from one under the INT8 graph's input names, and from a PyTorch state dict under
the reference checkpoint's keys; the same weights score the same on each, and that score is the metric's over the
model's own logits. `--model random` builds the full BERT-Large (335M parameters, checked on the meta device in
tests/models/test_bert.py); running it is a manual check (seconds per sample on 2 cores), not done here."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")
pytest.importorskip("tokenizers")

from podium.inference.encoding import ResponseEncoding  # noqa: E402
from podium.inference.harness import InferenceSpec, run_inference  # noqa: E402
from podium.inference.runners import RunnerConfig  # noqa: E402
from podium.inference.tasks import POSTPROCESSORS, TASKS, task_for  # noqa: E402
from podium.loadgen.settings import Mode, Scenario  # noqa: E402
from podium.models import MODELS  # noqa: E402
from podium.models.bert import SMALL, bert_for_question_answering  # noqa: E402

ROUND = "v4.1"
SS, SERVER, OFFLINE = Scenario.SINGLE_STREAM, Scenario.SERVER, Scenario.OFFLINE
USER_CONF = """\
*.SingleStream.min_query_count = 16
*.Server.min_query_count = 16
*.Server.target_qps = 20
*.Offline.min_query_count = 16
*.Offline.target_qps = 16
"""
ACC_PATTERN_F1 = r"^{[\"\']exact_match[\"\']\:\s*[\d\.]+,\s*[\"\']f1[\"\']\:\s*([\d\.]+)}"  # the checker's


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Generated SQuAD data (one question's paragraph needs two spans at 384) and the three model files, all with
    the same small weights."""
    from podium.datasets.squad import generate
    from podium.models.export import export_onnx

    root = tmp_path_factory.mktemp("bert")
    torch.manual_seed(0)
    model = bert_for_question_answering(SMALL).eval()
    torch.save(model.state_dict(), root / "model.pytorch")
    export_onnx(model, MODELS.get("bert"), root / "model.onnx")
    _export_int8_names(model, root / "bert_large_v1_1_fake_quant.onnx")
    return {"data": generate(root / "data", 5, seed=2, long_people=20), "fp32": root / "model.onnx",
            "int8": root / "bert_large_v1_1_fake_quant.onnx", "pytorch": root / "model.pytorch", "root": root}


def _export_int8_names(model, path: Path) -> None:
    """The model under the INT8 graph's input names (what onnxruntime_SUT.py feeds it) and Hugging Face's output
    names."""
    import warnings

    example = tuple(torch.zeros(1, 384, dtype=torch.int64) for _ in range(3))
    names = ["input_ids", "attention_mask", "token_type_ids"]
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, example, str(path), input_names=names, output_names=["start_logits", "end_logits"],
                          dynamic_axes={n: {0: "batch"} for n in [*names, "start_logits", "end_logits"]},
                          opset_version=17, dynamo=False)


def test_the_names_resolve_to_one_task_and_the_scenarios_are_the_rounds() -> None:
    from podium.benchmarks import get_round

    tasks = [task_for(name, ROUND) for name in ("bert", "bert-99", "bert-99.9")]
    assert {(t.dataset, t.model, t.metric, t.encoding) for t in tasks} == {
        ("squad", "bert", "squad", ResponseEncoding("float32", (384, 2)))}
    bench = get_round(ROUND).benchmark("bert-99.9")
    assert bench.name == "bert" and set(bench.scenarios("datacenter")) | set(bench.scenarios("edge")) == {
        SS, SERVER, OFFLINE}


def test_the_tiny_suites_task_reads_features_of_the_tiny_models_length() -> None:
    from podium.models.bert import TINY_SEQ_LENGTH

    task = TASKS.get("tiny-qa")
    assert (task.dataset, task.model, task.metric) == ("squad", "tiny-bert", "squad")
    assert task.dataset_options["max_seq_length"] == TINY_SEQ_LENGTH == MODELS.get("tiny-bert").input_shape[0]
    assert task.encoding == ResponseEncoding("float32", (TINY_SEQ_LENGTH, 2))


def test_start_and_end_logits_are_stacked_on_the_last_axis() -> None:
    stack = POSTPROCESSORS.get("bert-start-end")
    start, end = np.arange(6, dtype=np.float32).reshape(2, 3), -np.arange(6, dtype=np.float32).reshape(2, 3)
    out = stack([start, end], [0, 1])
    assert out.shape == (2, 3, 2) and out[1, 2].tolist() == [5.0, -5.0]
    np.testing.assert_array_equal(stack([out], [0, 1]), out)
    with pytest.raises(Exception, match="expected"):
        stack([start], [0, 1])


def _run(files: dict[str, Path], tmp: Path, benchmark: str, model: Path, scenario: Scenario,
         backend: str = "onnxruntime") -> tuple[dict, str]:
    conf = tmp / "user.conf"
    conf.write_text(USER_CONF)
    spec = InferenceSpec(benchmark=benchmark, scenario=scenario, model_path=model, mode=Mode.SUBMISSION,
                         round=ROUND, backend=backend, dataset_path=files["data"], out=tmp / "out", system_id="t",
                         user_conf=conf, short=True, progress=False, completion_timeout_s=120,
                         runner=RunnerConfig("inline" if scenario is SS else "pool", 1 if scenario is SS else 4, 0,
                                             1))
    result = run_inference(spec)
    perf, acc = result.records
    assert not perf["errors"] and not acc["errors"], (scenario, perf["errors"], acc["errors"])
    assert perf["status"] == acc["status"] == "finished", (scenario, perf["result"])
    assert (result.scenario_dir / "performance" / "run_1" / "mlperf_log_summary.txt").is_file()
    line = (result.scenario_dir / "accuracy" / "accuracy.txt").read_text().strip()
    assert re.match(ACC_PATTERN_F1, line), line
    log = json.loads((result.scenario_dir / "accuracy" / "mlperf_log_accuracy.json").read_text())
    encoding = ResponseEncoding.from_description(acc["response_encoding"])
    assert encoding == ResponseEncoding("float32", (384, 2))
    assert all(encoding.decode(bytes.fromhex(e["data"])).shape == (384, 2) for e in log)
    return acc, line


def _expected_score(files: dict[str, Path], cache: Path) -> dict[str, float]:
    """The metric over the small model's logits for every feature, computed here without the harness."""
    from podium.datasets.squad import SquadDataset
    from podium.metrics.squad import SquadF1

    torch.manual_seed(0)
    model = bert_for_question_answering(SMALL).eval()
    model.load_state_dict(torch.load(files["pytorch"], weights_only=True))
    ds = SquadDataset(files["data"], cache_dir=cache)
    ds.load_samples(range(ds.total_sample_count))
    batch = ds.get_samples(range(ds.total_sample_count))
    with torch.no_grad():
        start, end = model(*(torch.from_numpy(batch[n].copy()) for n in ("input_ids", "input_mask", "segment_ids")))
    metric = SquadF1()
    metric.update(list(np.stack([start.numpy(), end.numpy()], axis=-1)), ds.labels())
    score = metric.compute()
    assert ds.total_sample_count > ds.question_count  # a question of two features
    return {"exact_match": score.details["exact_match"], "f1": score.value}


def test_every_required_scenario_on_the_official_fp32_graph(files, tmp_path: Path, cache_dir: Path) -> None:
    expected = _expected_score(files, cache_dir)
    for scenario, name in ((SS, "bert-99"), (SERVER, "bert"), (OFFLINE, "bert-99.9")):
        acc, line = _run(files, tmp_path, name, files["fp32"], scenario)
        scores = json.loads(line)
        assert scores["f1"] == pytest.approx(expected["f1"]) and scores["exact_match"] == pytest.approx(
            expected["exact_match"])
        assert acc["accuracy"]["total"] == 5  # questions


@pytest.mark.parametrize("scenario", [SS, SERVER, OFFLINE])
def test_the_int8_graphs_input_names_are_fed(files, tmp_path: Path, cache_dir: Path, scenario: Scenario) -> None:
    expected = _expected_score(files, cache_dir) if scenario is OFFLINE else None
    _, line = _run(files, tmp_path, "bert", files["int8"], scenario)
    if expected is not None:
        assert json.loads(line)["f1"] == pytest.approx(expected["f1"])


def test_a_reference_state_dict_on_the_pytorch_backend(files, tmp_path: Path, cache_dir: Path) -> None:
    expected = _expected_score(files, cache_dir)
    for scenario in (SS, OFFLINE):
        _, line = _run(files, tmp_path, "bert-99", files["pytorch"], scenario, backend="pytorch")
        assert json.loads(line)["f1"] == pytest.approx(expected["f1"])


def test_logged_responses_are_the_models_logits(files, tmp_path: Path, cache_dir: Path) -> None:
    """What the accuracy log holds for each qsl index is the model's start and end logits for that feature."""
    from podium.datasets.squad import SquadDataset

    acc, _ = _run(files, tmp_path, "bert", files["int8"], OFFLINE)
    model = bert_for_question_answering(SMALL).eval()
    model.load_state_dict(torch.load(files["pytorch"], weights_only=True))
    ds = SquadDataset(files["data"], cache_dir=cache_dir)
    ds.load_samples(range(ds.total_sample_count))
    log = json.loads((tmp_path / "out" / "results" / "t" / "bert" / "Offline" / "accuracy" /
                      "mlperf_log_accuracy.json").read_text())
    assert sorted(e["qsl_idx"] for e in log) == list(range(ds.total_sample_count))
    for entry in log:
        sample = ds.get_samples([entry["qsl_idx"]])
        with torch.no_grad():
            start, end = model(*(torch.from_numpy(sample[n].copy()) for n in ("input_ids", "input_mask",
                                                                                "segment_ids")))
        logged = np.frombuffer(bytes.fromhex(entry["data"]), np.float32).reshape(-1, 2)
        np.testing.assert_allclose(logged[:, 0], start[0].numpy(), rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(logged[:, 1], end[0].numpy(), rtol=1e-4, atol=1e-4)


def test_logits_pointing_at_the_answers_score_100(files, cache_dir: Path) -> None:
    """Dataset and metric together: logits peaking on each answer's pieces, where the feature holds them with the
    most context, give every question its answer back through get_final_text (exact match and F1 100)."""
    from podium.datasets.squad import SquadDataset, wordpiece_tokenizer
    from podium.metrics.squad import SquadF1

    ds = SquadDataset(files["data"], cache_dir=cache_dir)
    tokenizer = wordpiece_tokenizer(files["data"] / "vocab.txt")
    responses = []
    for label in ds.labels():
        logits = np.zeros((384, 2), np.float32)
        answer = tokenizer.encode(label.answers[0], add_special_tokens=False).tokens
        span = list(label.pieces(label.doc_offset, label.doc_offset + label.span_length - 1))
        for k in range(len(span) - len(answer) + 1):
            if span[k:k + len(answer)] == answer and label.max_context[k]:
                logits[label.doc_offset + k, 0] = logits[label.doc_offset + k + len(answer) - 1, 1] = 10.0
        responses.append(logits)
    metric = SquadF1()
    metric.update(responses, ds.labels())
    score = metric.compute()
    assert (score.value, score.details["exact_match"], score.total) == (100.0, 100.0, 5)
