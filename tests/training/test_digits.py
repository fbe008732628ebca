"""`digits`, the first real workload: `podium train digits --runs 5` converges, scores, and every log passes
the official compliance checker engine with Podium's rule files; trained models are kept (state dict, ONNX)."""

from __future__ import annotations

import json
import math

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

from podium.cli import main  # noqa: E402
from podium.workloads import WORKLOADS  # noqa: E402
from podium.workloads.base import Division, Precision, RunSpec  # noqa: E402
from podium.workloads.digits import EVAL_SAMPLES, TRAIN_SAMPLES, load_splits  # noqa: E402


def test_the_split_is_fixed_and_sized_as_logged():
    (xt, yt), (xe, ye) = load_splits()
    assert (len(yt), len(ye)) == (TRAIN_SAMPLES, EVAL_SAMPLES)
    assert xt.shape[1:] == (1, 8, 8) and 0.0 <= xt.min() and xt.max() <= 1.0
    (_, yt2), _ = load_splits()
    assert (yt == yt2).all()


@pytest.fixture(scope="module")
def five_runs(tmp_path_factory):
    pytest.importorskip("mlperf_logging")
    out = tmp_path_factory.mktemp("digits")
    code = main(["train", "digits", "--runs", "5", "--seed", "1000", "--out", str(out), "--no-models"])
    return code, out


def test_five_runs_converge_and_score(five_runs, capsys):
    code, out = five_runs
    record = json.loads((out / "podium" / "cpu" / "digits" / "campaign.json").read_text())
    assert code == 0 and record["score"]["minutes"] > 0
    assert sum(r["status"] == "success" for r in record["runs"]) >= 4
    assert len({r["seed"] for r in record["runs"]}) == 5


def test_every_log_passes_the_official_engine_with_podium_rules(five_runs):
    _, out = five_runs
    record = json.loads((out / "podium" / "cpu" / "digits" / "campaign.json").read_text())
    assert all(r["compliance"]["passed"] for r in record["runs"] if r["status"] == "success"), record["runs"]
    assert (out / "podium" / "rules" / "closed_digits.yaml").exists()


def test_models_are_kept_as_state_dict_and_onnx(tmp_path):
    onnx = pytest.importorskip("onnx")
    code = main(["train", "digits", "--runs", "1", "--seed", "7", "--out", str(tmp_path), "--no-check",
                 "--division", "open"])
    run_dir = tmp_path / "models" / "cpu" / "digits" / "run_0"
    assert code == 1     # one run cannot be scored olympically; the run itself is kept
    state = torch.load(run_dir / "model.pt")
    assert any(k.endswith("weight") for k in state)
    onnx.checker.check_model(onnx.load(str(run_dir / "model.onnx")))


@pytest.mark.parametrize("precision", [Precision.BF16, Precision.FP16])
def test_autocast_precisions_train_a_finite_step(precision):
    workload = WORKLOADS.get("digits")
    hp = workload.recipe.resolve({}, Division.CLOSED)
    program = workload.program(workload, RunSpec(seed=1, hyperparameters=hp, per_rank_batch_size=32,
                                                 precision=precision))
    program.build()
    program.load_data()
    assert math.isfinite(program.train(64)) and 0.0 <= program.evaluate() <= 1.0


def test_the_precision_is_logged_in_the_disclosure_keys(tmp_path):
    main(["train", "scripted-llama31-8b", "--runs", "1", "--out", str(tmp_path), "--no-check",
          "--precision", "bf16"])
    log = (tmp_path / "results" / "cpu" / "llama31_8b" / "result_0.txt").read_text()
    assert '"key": "lowest_numerical_precision_in_linear", "value": "bfloat16"' in log
