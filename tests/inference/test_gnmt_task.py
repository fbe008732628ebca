"""`podium infer gnmt` (round v0.5, which required no scenario: all four are run) on generated WMT16-layout data with
a small GNMT state dict under the reference checkpoint's keys, performance and accuracy: the beam-search
predictor, the UTF-8 translations in the accuracy log (what the official process_accuracy.py decodes), BLEU
recomputed from that log with the official scorer's formula, and the official line in accuracy.txt. Then the
full-size model with random weights (`--model random`) on one sentence, and the backend refusal."""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from podium.core.errors import ConfigError
from podium.inference.backends import BackendOptions
from podium.inference.harness import InferenceSpec, run_inference
from podium.inference.runners import RunnerConfig
from podium.loadgen.settings import Mode, Scenario

torch = pytest.importorskip("torch")
pytest.importorskip("sacrebleu")

COUNT = 4
USER_CONF = """\
*.SingleStream.min_query_count = 24
*.MultiStream.min_query_count = 12
*.Server.min_query_count = 24
*.Server.target_qps = 20
*.Offline.min_query_count = 24
*.Offline.target_qps = 24
"""
CHECKER_BLEU = r"^BLEU\:\s*([\d\.]+).*"  # submission_checker.py ACC_PATTERN["bleu"], as a fact


@pytest.fixture(scope="module", autouse=True)
def _threads_restored() -> Iterator[None]:
    """The runs below serve on one torch thread (process-wide in PyTorch); the count is put back after them."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from podium.datasets.wmt16 import generate

    return generate(tmp_path_factory.mktemp("wmt16"), COUNT, seed=1)


@pytest.fixture(scope="module")
def state_dict_file(tmp_path_factory: pytest.TempPathFactory, data: Path) -> Path:
    """A small GNMT (4 + 4 layers of 16) under the reference's keys, sized to the generated vocabulary."""
    from podium.models.gnmt import gnmt

    vocab = 4 + len((data / "vocab.bpe.32000").read_text().splitlines())
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("model") / "gnmt.pt"
    torch.save(gnmt(vocab, 16, 4, 4).state_dict(), path)
    return path


def _spec(tmp_path: Path, data: Path, model: Path | str, scenario: Scenario, **kwargs: object) -> InferenceSpec:
    """One torch thread, as the tiny suite serves PyTorch: small LSTM steps gain nothing from a second thread, and
    its spinning workers slow every step many times over when the cores are shared (as by parallel test runs)."""
    batch = 1 if scenario is Scenario.SINGLE_STREAM else 3
    return InferenceSpec(benchmark="gnmt", scenario=scenario, model_path=Path(model), round="v0.5", backend="pytorch",
                         options=BackendOptions(intra_op_threads=1),
                         dataset_path=data, out=tmp_path / "out", system_id="t", short=True, progress=False,
                         completion_timeout_s=120, runner=RunnerConfig("inline" if batch == 1 else "pool", batch, 0, 1),
                         **kwargs)  # type: ignore[arg-type]


def official_bleu(translations: list[str], references: list[str]) -> float:
    """The official scorer's formula, written out (RunningBLEUScorer: split on spaces, clipped 1- to 4-gram
    matches summed over the corpus, no smoothing, brevity penalty), in points."""
    matches, possible, hyp_len, ref_len = [0] * 4, [0] * 4, 0, 0
    for hyp, ref in zip((t.split(" ") for t in translations), (r.split(" ") for r in references)):
        hyp_len, ref_len = hyp_len + len(hyp), ref_len + len(ref)
        for n in range(1, 5):
            grams = Counter(tuple(hyp[i:i + n]) for i in range(len(hyp) - n + 1))
            ref_grams = Counter(tuple(ref[i:i + n]) for i in range(len(ref) - n + 1))
            matches[n - 1] += sum((grams & ref_grams).values())
            possible[n - 1] += max(0, len(hyp) - n + 1)
    precisions = [m / p if p else 0.0 for m, p in zip(matches, possible)]
    if min(precisions) == 0:
        return 0.0
    ratio = hyp_len / ref_len
    penalty = 1.0 if ratio > 1.0 else math.exp(1 - 1 / ratio)
    return 100 * penalty * math.exp(sum(math.log(p) for p in precisions) / 4)


def test_gnmt_in_v0_5_requires_no_scenario() -> None:
    from podium.benchmarks import get_round

    bench = get_round("v0.5").benchmark("gnmt")
    assert not any(bench.scenarios(category) for category in ("edge", "datacenter"))
    assert bench.accuracy_threshold(None) == pytest.approx(23.9 * 0.99)


@pytest.mark.parametrize("scenario", list(Scenario), ids=[s.value for s in Scenario])
def test_every_scenario_runs_performance_and_accuracy(scenario: Scenario, tmp_path: Path, data: Path,
                                                      state_dict_file: Path, cache_dir: Path) -> None:
    from podium.datasets.wmt16 import Wmt16Dataset

    conf = tmp_path / "user.conf"
    conf.write_text(USER_CONF)
    result = run_inference(_spec(tmp_path, data, state_dict_file, scenario, mode=Mode.SUBMISSION, user_conf=conf))
    perf, acc = result.records
    assert not perf["errors"] and not acc["errors"], (perf["errors"], acc["errors"])
    assert perf["status"] == acc["status"] == "finished"
    assert acc["response_encoding"] == {"dtype": "uint8", "shape": [-1]}
    files = result.scenario_dir / "accuracy"
    line = (files / "accuracy.txt").read_text().strip()
    assert re.fullmatch(r"BLEU: \d+\.\d", line) and re.match(CHECKER_BLEU, line)
    # the log holds every sentence once, as UTF-8 text with BPE removed (which pieces an untrained model strings
    # together is its own affair: test_translations_are_the_beam_searchs_decoded_text checks the text itself)
    entries = {e["qsl_idx"]: bytes.fromhex(e["data"]).decode("utf-8")
               for e in json.loads((files / "mlperf_log_accuracy.json").read_text())}
    assert sorted(entries) == list(range(COUNT))
    assert all("@@" not in text for text in entries.values())
    labels = Wmt16Dataset(data).labels().tolist()
    value = json.loads((files / "accuracy.json").read_text())["value"]
    assert value == pytest.approx(official_bleu([entries[i] for i in range(COUNT)], labels), abs=1e-9)
    assert acc["accuracy"]["total"] == COUNT


def test_full_size_random_weights_translate_one_sentence(tmp_path: Path, data: Path, cache_dir: Path) -> None:
    """`--model random`: the full-size GNMT (4 + 4 layers of 1024, vocabulary 32,317) with random weights, beam 10,
    one sentence, one query (some 10 s on 2 cores, mostly writing the 640 MB state dict)."""
    conf = tmp_path / "user.conf"
    conf.write_text("*.SingleStream.min_query_count = 1\n*.SingleStream.min_duration = 0\n")
    result = run_inference(_spec(tmp_path, data, "random", Scenario.SINGLE_STREAM, mode=Mode.PERFORMANCE,
                                 user_conf=conf, dataset_count=1, cache_dir=cache_dir))
    [perf] = result.records
    assert not perf["errors"] and perf["status"] == "finished"
    assert "random weights: performance only, not valid for submission" in perf["result"]["reasons"]


def test_other_backends_are_refused(tmp_path: Path, data: Path, state_dict_file: Path) -> None:
    spec = _spec(tmp_path, data, state_dict_file, Scenario.OFFLINE)
    with pytest.raises(ConfigError, match="served by pytorch"):
        run_inference(InferenceSpec(**{**spec.__dict__, "backend": "onnxruntime"}))


def test_translations_are_the_beam_searchs_decoded_text(data: Path, state_dict_file: Path) -> None:
    """The predictor answers each sentence's beam-search ids as the vocabulary's text, UTF-8."""
    from podium.datasets.wmt16 import Wmt16Dataset
    from podium.inference.backends import BACKENDS
    from podium.inference.tasks import PREDICTORS
    from podium.models.gnmt import beam_search, build

    ds = Wmt16Dataset(data)
    ds.load_samples(range(COUNT))
    samples = ds.get_samples(list(range(COUNT)))
    model = BACKENDS.get("pytorch").load(state_dict_file, model_factory=build, io_names=("src", ("logprobs",)),
                                         example_input=np.zeros((1, 8), dtype=np.float32))
    answers = PREDICTORS.get("gnmt-beam-search")(model, samples, list(range(COUNT)))
    with torch.inference_mode():
        ids = beam_search().translate(model.module, list(samples), torch.device("cpu"))
    assert [a.tobytes().decode("utf-8") for a in answers] == [ds.vocabulary.decode(i) for i in ids]
