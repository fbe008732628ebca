"""The tiny suite's translation workload: the tiny GNMT trains to BLEU 90 on the generated language pair within its
budget (evaluated by the benchmark's beam search and the `bleu` metric), saves the state dict the task serves, and
that model served as `gnmt` (round v0.5) through the whole harness meets GNMT's accuracy target; the
`tiny-translation` task and `tiny-gnmt` model fit the generated data."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.workloads.conftest import drive

torch = pytest.importorskip("torch")
pytest.importorskip("sacrebleu")


@pytest.fixture(scope="module")
def trained(private_cache: Path) -> tuple[object, list[float]]:
    """One run (seed 1) as the training harness drives it: the program and its evaluations. On one torch thread
    (restored after): small LSTM steps gain nothing from a second, and lose much when the cores are shared."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        program, scores = drive("tiny-translation", 1)
        return program, [score for _, score in scores]
    finally:
        torch.set_num_threads(threads)


def test_declared_on_the_shared_parts(private_cache: Path) -> None:
    from podium.inference.tasks import TASKS
    from podium.models import MODELS
    from podium.models.gnmt import TINY_VOCAB_SIZE
    from podium.workloads import WORKLOADS
    from podium.workloads.tiny_translation import BEST_BLEU, TRANSLATION

    workload = WORKLOADS.get("tiny-translation")
    assert (workload.quality.metric, workload.quality.target) == ("bleu", 90.0) and BEST_BLEU == 100.0
    task = TASKS.get("tiny-translation")
    assert (task.dataset, task.metric, task.model, task.backends) == ("wmt16", "bleu", "tiny-gnmt", ("pytorch",))
    vocabulary = (TRANSLATION.split("eval") / "vocab.bpe.32000").read_text().splitlines()
    assert TINY_VOCAB_SIZE == 4 + len(vocabulary)
    assert MODELS.get("tiny-gnmt").build().vocab_size == TINY_VOCAB_SIZE


def test_trains_to_the_target_within_budget(trained: tuple[object, list[float]]) -> None:
    from podium.workloads.tiny_translation import TARGET_BLEU

    _, scores = trained
    assert scores[-1] >= TARGET_BLEU, scores
    assert scores[0] < TARGET_BLEU  # a target that training reaches, not one untrained weights meet
    assert all(0.0 <= s <= 100.0 for s in scores)


def test_the_trained_model_served_as_gnmt_meets_its_target(trained: tuple[object, list[float]], tmp_path: Path,
                                                           private_cache: Path) -> None:
    from podium.inference.harness import InferenceSpec, run_inference
    from podium.inference.runners import RunnerConfig
    from podium.loadgen.settings import Mode, Scenario
    from podium.workloads.tiny_translation import TRANSLATION

    program, scores = trained
    [state] = program.save(tmp_path / "model")  # type: ignore[attr-defined]
    conf = tmp_path / "user.conf"
    conf.write_text("*.Offline.min_query_count = 64\n*.Offline.target_qps = 100\n")
    spec = InferenceSpec(benchmark="gnmt", scenario=Scenario.OFFLINE, model_path=state, mode=Mode.ACCURACY,
                         round="v0.5", backend="pytorch", dataset_path=TRANSLATION.split("eval"), out=tmp_path / "out",
                         system_id="t", user_conf=conf, short=True, progress=False, completion_timeout_s=120,
                         runner=RunnerConfig("pool", 16, 0, 1))
    [acc] = run_inference(spec).records
    assert not acc["errors"] and acc["accuracy"]["passed"], acc["accuracy"]
    # the harness's score is the training evaluation's: the same beam search, responses and metric (batched
    # differently: float sums in another order may rarely flip a beam, hence the tolerance)
    assert acc["accuracy"]["value"] == pytest.approx(scores[-1], abs=2.0)
