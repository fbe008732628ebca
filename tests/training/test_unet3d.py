"""`3d-unet`: the reference's data layout (refused in one line naming the path when wrong), its recipe and schedule,
the CI-sized variant converging to mean DICE >= 0.908 through `podium train` with a log the official checker
accepts (closed, ruleset 4.0.0), and a forbidden change that the official checker refuses."""

from __future__ import annotations

import json
import pathlib
import shutil

import pytest

torch = pytest.importorskip("torch")
np = pytest.importorskip("numpy")
pytest.importorskip("scipy")

from podium.cli import main  # noqa: E402
from podium.core.errors import ConfigError, RuleViolation  # noqa: E402
from podium.datasets import kits19_training as layout  # noqa: E402
from podium.workloads import WORKLOADS  # noqa: E402
from podium.workloads import unet3d as u  # noqa: E402
from podium.workloads.base import Division  # noqa: E402


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("kits19") / "data"
    assert main(["train", "3d-unet", "--generate-data", str(root)]) == 0
    return root


# --- the layout ------------------------------------------------------------------------------------------------

def test_generated_data_is_the_reference_layout(data):
    split = layout.open_split(data)
    assert (len(split.train), len(split.eval)) == (168, 42)
    assert {c.name for c in split.eval} == set(layout.EVALUATION_CASES)
    image, label = layout.read_case(split.train[0])
    assert image.dtype == np.float32 and label.dtype == np.uint8 and image.shape == label.shape
    assert image.shape[0] == 1 and set(np.unique(label)) == {0, 1, 2}
    assert (data / "case_00000_x.npy").is_file() and (data / "case_00209_y.npy").is_file()


def test_the_evaluation_split_is_a_sample_library_scored_by_dice(data):
    from podium.datasets import DATASETS
    from podium.metrics import METRICS

    dataset = DATASETS.get("kits19-training")(data)
    assert dataset.total_sample_count == 42
    dataset.load_samples([0])
    label = np.asarray(dataset.labels()[0])
    assert dataset.get_samples([0])[0].shape == (1, *label.shape)
    dice = METRICS.get("dice")
    dice.update([label], [dataset.labels()[0]])
    assert dice.compute().value == pytest.approx(1.0)


def _one_line_naming(error: pytest.ExceptionInfo, path) -> None:
    text = str(error.value)
    assert "\n" not in text and str(path) in text and "case_XXXXX_x.npy" in text, text


def test_the_loader_refuses_a_wrong_layout_in_one_line_naming_the_path(data, tmp_path):
    with pytest.raises(ConfigError) as e:
        layout.open_split(tmp_path)                                 # no case files
    _one_line_naming(e, tmp_path)
    broken = tmp_path / "broken"
    shutil.copytree(data, broken)
    (broken / "case_00001_y.npy").unlink()                          # an image without its label
    with pytest.raises(ConfigError) as e:
        layout.open_split(broken)
    _one_line_naming(e, broken / "case_00001_y.npy")
    shutil.copy(data / "case_00001_y.npy", broken)
    (broken / "case_00003_x.npy").unlink()
    (broken / "case_00003_y.npy").unlink()                          # an evaluation case missing
    with pytest.raises(ConfigError) as e:
        layout.open_split(broken)
    _one_line_naming(e, broken / "case_00003_x.npy")


def test_a_case_of_the_wrong_type_or_shape_is_refused_naming_the_file(data, tmp_path):
    shutil.copytree(data, tmp_path / "d")
    np.save(tmp_path / "d" / "case_00001_x.npy", np.zeros((32, 32, 32), dtype=np.float64))
    case = next(c for c in layout.open_split(tmp_path / "d").train if c.name == "case_00001")
    with pytest.raises(ConfigError) as e:
        layout.check_case(case)
    _one_line_naming(e, tmp_path / "d" / "case_00001_x.npy")
    with pytest.raises(ConfigError, match="needs --data-path"):
        WORKLOADS.get("3d-unet").with_data(None)


# --- the recipe ------------------------------------------------------------------------------------------------

def test_the_recipe_is_the_references_and_closed_fixes_what_the_rules_fix():
    workload = WORKLOADS.get("3d-unet")
    hp = workload.recipe.resolve({}, Division.CLOSED)
    assert (workload.recipe.optimizer, workload.recipe.per_rank_batch_size) == ("sgd", 2)
    assert (hp["opt_base_learning_rate"], hp["opt_learning_rate_warmup_epochs"], hp["opt_momentum"]) == (0.8, 200, 0.9)
    assert hp["training_input_shape"] == hp["validation_input_shape"] == [128, 128, 128]
    assert (hp["oversampling"], hp["validation_overlap"]) == (0.4, 0.5)
    assert (workload.cadence.first, workload.cadence.every, workload.budget) == (1000, 20, 10000)
    workload.recipe.resolve({"opt_base_learning_rate": 2.0, "opt_learning_rate_decay_boundary_epochs": [900]},
                            Division.CLOSED)
    for fixed in ({"oversampling": 0.5}, {"training_input_shape": [96, 96, 96]}, {"validation_overlap": 0.25}):
        with pytest.raises(RuleViolation):
            workload.recipe.resolve(fixed, Division.CLOSED)


def _reference_rates(hp, epochs):
    """The rate of each epoch as runtime/training.py sets it: lr_warmup at the epoch's start, MultiStepLR after."""
    base, warmup, init = (hp[k] for k in ("opt_base_learning_rate", "opt_learning_rate_warmup_epochs",
                                          "opt_initial_learning_rate"))
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=base, momentum=0.9, nesterov=True)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(
        optimizer, milestones=hp["opt_learning_rate_decay_boundary_epochs"], gamma=hp["opt_learning_rate_decay_factor"])
    rates = []
    for epoch in range(1, epochs + 1):
        if epoch <= warmup:
            optimizer.param_groups[0]["lr"] = init + (base - init) * epoch / warmup
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return rates


@pytest.mark.parametrize("warmup, boundaries", [(4, [2, 6, 8]), (0, [3, 5]), (3, [3])])
def test_the_learning_rate_follows_the_references_warmup_and_multistep_decay(warmup, boundaries):
    hp = {"opt_base_learning_rate": 0.8, "opt_initial_learning_rate": 1e-4, "opt_learning_rate_warmup_epochs": warmup,
          "opt_learning_rate_decay_boundary_epochs": boundaries, "opt_learning_rate_decay_factor": 0.5}
    assert [u.learning_rate(e, hp) for e in range(1, 11)] == pytest.approx(_reference_rates(hp, 10))


def test_the_sliding_window_is_gaussian_weighted_and_covers_the_trimmed_volume():
    kernel = u.gaussian_kernel((8, 8, 8))
    assert kernel.max() == pytest.approx(1.0) and np.allclose(kernel, kernel[::-1, ::-1, ::-1])

    def constant(x):   # logits that depend on the window's position only through the input
        return torch.cat([x, -x, 0 * x], dim=1)

    image = torch.arange(20 * 16 * 17, dtype=torch.float32).reshape(1, 1, 20, 16, 17) / 1000
    logits, crop = u.sliding_window(constant, image, [8, 8, 8], 0.5)
    # 20 % 4 == 0 and 16 % 4 == 0 are kept; 17 % 4 == 1 < 2 is trimmed (as inference.py does)
    assert logits.shape == (1, 3, 20, 16, 16) and crop[2] == slice(0, 16)
    assert torch.allclose(logits[:, 0], image[(..., *crop)][:, 0], atol=1e-5)


def test_the_loss_is_dice_plus_cross_entropy_over_two():
    labels = torch.zeros((1, 1, 4, 4, 4), dtype=torch.uint8)
    labels[..., :2, :, :] = 1
    perfect = torch.nn.functional.one_hot(labels[:, 0].long(), 3).movedim(-1, 1).float() * 50
    assert float(u.loss_fn(perfect, labels)) == pytest.approx(0.0, abs=1e-4)
    uniform = torch.zeros((1, 3, 4, 4, 4))
    dice_kidney = 2 * (32 / 3) / (64 / 3 + 32)
    dice_tumour = (0 + 1e-6) / (64 / 3 + 1e-6)
    expected = (1 - (dice_kidney + dice_tumour) / 2 + np.log(3)) / 2
    assert float(u.loss_fn(uniform, labels)) == pytest.approx(expected, rel=1e-5)


# --- end to end ------------------------------------------------------------------------------------------------

@pytest.fixture
def ci_registered(monkeypatch):
    """`podium train 3d-unet` running the CI-sized variant (the reference's would need 128^3 volumes and a GPU)."""
    WORKLOADS.names()
    monkeypatch.setitem(WORKLOADS._factories, "3d-unet", lambda: u.ci_variant(u.unet3d_workload()))


def test_the_ci_variant_converges_through_the_cli_and_passes_the_official_checker(data, tmp_path, ci_registered):
    pytest.importorskip("mlperf_logging")
    out = tmp_path / "out"
    code = main(["train", "3d-unet", "--data-path", str(data), "--runs", "1", "--seed", "4", "--out", str(out),
                 "--threads", "2", "--workers", "1"])
    record = json.loads((out / "podium" / "cpu" / "unet3d" / "campaign.json").read_text())
    run = record["runs"][0]
    assert code == 1 and record["runs_required"] == 40   # one run of 40 scores nothing; the run itself counts
    assert run["status"] == "success", run
    assert run["compliance"]["passed"], run["compliance"]
    log = (out / "results" / "cpu" / "unet3d" / "result_0.txt").read_text()
    for key in ('"opt_momentum", "value": 0.9', '"training_input_shape", "value": [32, 32, 32]',
                '"train_samples", "value": 168', '"eval_samples", "value": 42', '"opt_name", "value": "sgd"'):
        assert key in log, key
    accuracy = [json.loads(line.split(":::MLLOG ")[1]) for line in log.splitlines() if "eval_accuracy" in line]
    assert accuracy[-1]["value"] >= 0.908 and "epoch_num" in accuracy[-1]["metadata"]
    assert (out / "models" / "cpu" / "unet3d" / "run_0" / "model.onnx").is_file()


def test_a_forbidden_change_fails_the_official_checker(data, tmp_path):
    """An open run on a training subset (data_train_samples is fixed to the reference: training rules, table of
    hyperparameters), its log then claimed closed: closed_unet3d.yaml requires train_samples == 168."""
    pytest.importorskip("mlperf_logging")
    from podium.training.campaign import Campaign, CampaignConfig
    from podium.training.compliance import check_log

    subset = tmp_path / "subset"
    layout.generate(subset, train_cases=8)
    workload = u.ci_variant(WORKLOADS.get("3d-unet"), budget_epochs=1).with_data(subset)
    config = CampaignConfig(runs=1, seed=5, out=tmp_path / "out", division=Division.OPEN, save_models=False,
                            check_compliance=False, loader_workers=0)
    result = Campaign(workload, config).run()
    log = pathlib.Path(result.records[0].log_path)
    text = log.read_text()
    assert '"submission_division", "value": "open"' in text and '"train_samples", "value": 8' in text
    claimed = tmp_path / "claimed_closed.txt"
    claimed.write_text(text.replace('"submission_division", "value": "open"',
                                    '"submission_division", "value": "closed"'))
    verdict = check_log(claimed, "4.0.0")
    assert not verdict.passed
    assert any("train_samples" in m for m in verdict.messages), verdict.messages


def test_volumes_smaller_than_the_crop_are_refused_naming_the_file(tmp_path):
    """The generated 32^3 cases fit the CI version's crop, not the reference's 128^3: one line, not a torch error."""
    from podium.datasets.kits19_training import generate, open_split
    from podium.workloads.unet3d import ROI, check_crop

    split = open_split(generate(tmp_path / "k", train_cases=2))
    check_crop(split.eval, [32, 32, 32])
    with pytest.raises(ConfigError, match=r"case_\d{5}_x\.npy: a volume of 32x32x32 voxels is smaller than the "
                                          r"training crop \(training_input_shape \[128, 128, 128\]\)"):
        check_crop(split.eval, ROI)
