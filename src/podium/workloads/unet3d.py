"""`3d-unet`: MLPerf Training's 3D U-Net on KiTS 2019 (closed, ruleset 4.0.0): SGD, Dice + cross-entropy, mean DICE.

The recipe is the reference's (mlcommons/training image_segmentation/pytorch, now retired_benchmarks/unet3d/pytorch:
run_and_time.sh, runtime/arguments.py, runtime/training.py, main.py) and its rules (training_rules.adoc, the unet3d
rows of the hyperparameter table; mlperf-logging training_4.0.0/closed_unet3d.yaml):

- data: the reference's preprocessed `case_XXXXX_{x,y}.npy` folder (`podium.datasets.kits19_training`), 168
  training cases and the 42 of evaluation_cases.txt; `podium train 3d-unet --generate-data DIR` writes a small one;
- model: `podium.models.unet3d`, the reference's network (filters 32, 64, 128, 256, 320), 3 classes;
- training: each step takes `training_input_shape` (128^3) crops of random cases, `oversampling` (0.4) of them around
  a foreground object, flipped, rescaled and noised as pytorch_loader.py does (`podium.workloads.volumes`), fed by
  `podium.workloads.feed.Feed`; loss (Dice + CE) / 2, the Dice of kidney and tumour per sample, smoothed 1e-6;
- optimizer: SGD, Nesterov momentum 0.9, base rate 0.8 (run_and_time.sh), weight decay 0, linear warmup over 200
  epochs from 1e-4 (`lr_warmup`: at the start of each warmup epoch), then a multistep decay (none by default: factor
  1.0, MultiStepLR stepped after each epoch), batch 2;
- evaluation: sliding windows of `validation_input_shape` (128^3) at `validation_overlap` (0.5), Gaussian weighted
  (std 0.125 of the window, cube-rooted), padded with -2.2 (runtime/inference.py); the score is the mean over cases
  of the mean of kidney and tumour DICE (the `dice` metric); target 0.908; evaluated every 20 epochs from epoch
  1000, stopped after 10000 (training rules §Evaluation frequency and §Benchmark results, for 168 samples an epoch);
  40 runs.

Closed division may tune (training rules, hyperparameter table): batch size, base and initial learning rate,
momentum, warmup epochs, decay boundaries and factor, weight decay; oversampling, input shapes, overlap and the
sample counts are fixed. `ci_variant` is the same workload cut down to run in seconds on a CPU (its own reference:
narrower and shallower network, 32^3 crops and windows, evaluation every epoch). `build_model`, `build_optimizer`,
`loss_fn`, `learning_rate` and `TrainingVolumes` let a bare loop train the same model with the same optimizer on
the same batches (bench/training_throughput.py).
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from podium.core.errors import ConfigError
from podium.core.vocabulary import Direction
from podium.datasets import kits19_training as layout
from podium.models import MODELS
from podium.models.base import Model
from podium.models.unet3d import CLASSES, FILTERS, unet3d
from podium.workloads import WORKLOADS
from podium.workloads.base import (CadenceUnit, DataLayout, EvalCadence, Hyperparameter, MLPerfIdentity,
                                   QualityTarget, Recipe, Workload)
from podium.workloads.feed import Feed
from podium.workloads.torch_program import TorchProgram
from podium.workloads.volumes import augment

NAME = "3d-unet"
TARGET_DICE = 0.908                    # closed_unet3d.yaml: eval_accuracy >= 0.908
ROI = [128, 128, 128]                  # arguments.py: --input_shape and --val_input_shape
PADDING_VALUE = -2.2                   # inference.py: the sliding window pads images with -2.2
GAUSSIAN_STD = 0.125                   # inference.py: gaussian_kernel(n, 0.125 * n)
SMOOTH = 1e-6                          # losses.py: Dice smooth_nr and smooth_dr
# training rules §Evaluation frequency: from CEILING(1000*168/spe) every CEILING(20*168/spe) epochs; §Benchmark
# results: non-converged after CEILING(10000*168/spe); spe = samples per epoch, 168 when the batch divides 168.
START_EVAL_AT_EPOCHS, EVALUATE_EVERY_EPOCHS, MAX_EPOCHS = 1000, 20, 10000


def _hyperparameters(roi: list[int], *, lr: float = 0.8, warmup_epochs: int = 200, init_lr: float = 1e-4,
                     momentum: float = 0.9, decay_epochs: Sequence[int] = (), decay_factor: float = 1.0
                     ) -> tuple[Hyperparameter, ...]:
    """The recipe's hyperparameters by mllog key (runtime/logging.py `mlperf_run_param_log`), reference defaults."""
    return (
        Hyperparameter("opt_base_learning_rate", lr, tunable=True),              # --learning_rate
        Hyperparameter("opt_learning_rate_warmup_epochs", warmup_epochs, tunable=True),  # --lr_warmup_epochs
        Hyperparameter("opt_initial_learning_rate", init_lr, tunable=True),      # --init_learning_rate
        Hyperparameter("opt_learning_rate_decay_boundary_epochs", list(decay_epochs), tunable=True),
        Hyperparameter("opt_learning_rate_decay_factor", decay_factor, tunable=True),
        Hyperparameter("opt_weight_decay", 0.0, tunable=True),
        Hyperparameter("opt_momentum", momentum, tunable=True),
        Hyperparameter("oversampling", 0.4),                                     # fixed to reference
        Hyperparameter("training_input_shape", list(roi)),
        Hyperparameter("validation_input_shape", list(roi)),
        Hyperparameter("validation_overlap", 0.5),
    )


# --- the model, the loss and the training samples: what a bare loop needs too ---------------------------------

def build_model(filters: Sequence[int] = FILTERS) -> Any:
    """The reference's 3D U-Net (`podium.models.unet3d`), untrained; narrower or shallower with other `filters`."""
    return unet3d(filters=tuple(filters))


def loss_fn(logits: Any, labels: Any) -> Any:
    """DiceCELoss of losses.py: (mean over samples and foreground classes of 1 - Dice, on softmax probabilities,
    + cross-entropy) / 2. `logits` (N, 3, D, H, W), `labels` (N, 1, D, H, W) class ids."""
    import torch.nn.functional as F

    logits = logits.float()
    target = labels[:, 0].long()
    cross_entropy = F.cross_entropy(logits, target)
    probabilities = logits.softmax(dim=1)[:, 1:]
    one_hot = F.one_hot(target, CLASSES).movedim(-1, 1)[:, 1:].float()
    axes = tuple(range(2, logits.dim()))
    overlap = (probabilities * one_hot).sum(dim=axes)
    total = probabilities.sum(dim=axes) + one_hot.sum(dim=axes)
    dice = (2.0 * overlap + SMOOTH) / (total + SMOOTH)
    return ((1.0 - dice).mean() + cross_entropy) / 2


def build_optimizer(parameters: Any, hp: dict[str, Any]) -> Any:
    """training.py's `get_optimizer` for "sgd": SGD with Nesterov momentum and weight decay, at the base rate."""
    import torch

    return torch.optim.SGD(parameters, lr=hp["opt_base_learning_rate"], momentum=hp["opt_momentum"], nesterov=True,
                           weight_decay=hp["opt_weight_decay"])


class TrainingVolumes:
    """The training cases as a map-style dataset (PytTrain): item i is case i, read from its files, cropped to
    `patch` and augmented (`podium.workloads.volumes.augment`); (image float32 (1, *patch), label uint8 (1, *patch))."""

    def __init__(self, cases: Sequence[layout.Case], patch: Sequence[int], oversampling: float) -> None:
        self.cases, self.patch, self.oversampling = list(cases), [int(p) for p in patch], float(oversampling)

    def __len__(self) -> int:
        return len(self.cases)

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        image, label = layout.read_case(self.cases[index])
        return augment(image, label, self.patch, self.oversampling)


def check_crop(cases: Sequence[layout.Case], crop: Sequence[int]) -> None:
    """Every case's headers (a wrong file fails here, not in a worker), and each volume at least the training crop
    a side, as the reference's preprocessing pads them (to 128): a ConfigError naming the file otherwise."""
    for case in cases:
        shape = layout.check_case(case)[1:]
        if any(side < edge for side, edge in zip(shape, crop, strict=True)):
            raise ConfigError(f"a volume of {'x'.join(map(str, shape))} voxels is smaller than the training crop "
                              f"(training_input_shape {list(crop)}); the reference's preprocessing pads every case "
                              f"to at least {max(crop)} a side", path=str(case.image))


def learning_rate(epoch: int, hp: dict[str, Any]) -> float:
    """The rate of epoch `epoch` (from 1) as training.py sets it: `init + (base - init) * epoch / warmup` in the
    warmup epochs; after, the base rate times the decay factor for each boundary passed (MultiStepLR steps after
    each epoch; a boundary inside the warmup is overwritten by the next warmup epoch, so it does not count)."""
    base, warmup = hp["opt_base_learning_rate"], hp["opt_learning_rate_warmup_epochs"]
    if epoch <= warmup:
        init = hp["opt_initial_learning_rate"]
        return float(init + (base - init) * epoch / warmup)
    passed = sum(1 for b in hp["opt_learning_rate_decay_boundary_epochs"] if warmup <= b < epoch)
    return float(base * hp["opt_learning_rate_decay_factor"] ** passed)


# --- evaluation ------------------------------------------------------------------------------------------------

@functools.cache
def gaussian_kernel(roi: tuple[int, ...]) -> Any:
    """inference.py's `gaussian_kernel`: the outer product of Gaussian windows (std 0.125 of the edge), cube-rooted,
    scaled to a maximum of 1; a float32 numpy array of shape `roi`."""
    import numpy as np

    axes = [np.exp(-0.5 * ((np.arange(n) - (n - 1) / 2) / (GAUSSIAN_STD * n)) ** 2) for n in roi]
    kernel = np.cbrt(axes[0][:, None, None] * axes[1][None, :, None] * axes[2][None, None, :])
    return (kernel / kernel.max()).astype(np.float32)


def _fit_to_strides(image: Any, roi: Sequence[int], strides: Sequence[int]) -> tuple[Any, tuple[slice, ...],
                                                                                     list[int]]:
    """inference.py's trim and pad: an edge whose remainder by the stride is under half a stride is cropped (split
    evenly), then each is padded (split evenly, `PADDING_VALUE`) to a multiple of the stride, at least the window.
    Returns the padded image, the crop applied (to apply to the label) and the low padding per axis."""
    import torch.nn.functional as F

    shape = image.shape[2:]
    trim = [n % s if n % s < s // 2 else 0 for n, s in zip(shape, strides)]
    crop = tuple(slice(t // 2, n - (t - t // 2)) for n, t in zip(shape, trim))
    image = image[(..., *crop)]
    pad = [(s - n % s) % s for n, s in zip(image.shape[2:], strides)]
    pad = [p if n + p >= r else p + s for n, p, r, s in zip(image.shape[2:], pad, roi, strides)]
    widths = [w for p in reversed(pad) for w in (p // 2, p - p // 2)]  # F.pad takes the last axis first
    return F.pad(image, widths, mode="constant", value=PADDING_VALUE), crop, [p // 2 for p in pad]


def sliding_window(model: Any, image: Any, roi: Sequence[int], overlap: float) -> tuple[Any, tuple[slice, ...]]:
    """Logits (1, 3, D', H', W') of `image` (1, 1, D, H, W) by Gaussian-weighted windows of `roi` at `overlap`, as
    inference.py's `sliding_window_inference`; with the crop (D', H', W' of D, H, W) to apply to the label."""
    import torch

    strides = [int(r * (1 - overlap)) for r in roi]
    padded, crop, low = _fit_to_strides(image, roi, strides)
    kernel = torch.as_tensor(gaussian_kernel(tuple(roi)), device=image.device)
    result = torch.zeros((1, CLASSES, *padded.shape[2:]), device=image.device)
    weight = torch.zeros(padded.shape[2:], device=image.device)
    starts = [range(0, n - r + 1, s) for n, r, s in zip(padded.shape[2:], roi, strides)]
    for corner in itertools.product(*starts):
        window: tuple[Any, ...] = tuple(slice(c, c + r) for c, r in zip(corner, roi))
        result[(Ellipsis, *window)] += model(padded[(Ellipsis, *window)]).float() * kernel
        weight[window] += kernel
    result /= weight
    inside: tuple[Any, ...] = (Ellipsis, *(slice(a, a + c.stop - c.start) for a, c in zip(low, crop)))
    return result[inside], crop


# --- the program -----------------------------------------------------------------------------------------------

class Unet3DProgram(TorchProgram):
    """The reference's training loop over the harness: Nesterov SGD, per-epoch warmup and decay, DiceCE, sliding-
    window mean DICE over this rank's share of the evaluation cases (reduced across ranks: each case counts once)."""

    def build(self) -> None:
        samples = self.workload.train_samples
        if samples % self.spec.global_batch_size:
            # The cadence (training rules §Evaluation frequency) is declared for samples_per_epoch = 168.
            raise ConfigError(f"{NAME}: the global batch size {self.spec.global_batch_size} does not divide the "
                              f"{samples} training samples; this workload's evaluation cadence assumes it does",
                              key="--batch-size")
        super().build()
        self.steps_per_epoch = samples // self.spec.global_batch_size

    def _optimizer(self) -> Any:
        return build_optimizer(self.model.parameters(), self.hp)

    def load_data(self) -> None:
        if self.workload.datasets is None:
            raise ConfigError(f"workload {self.workload.name} has no data: pass --data-path", key="--data-path")
        split: layout.Split = self.workload.datasets()
        check_crop((*split.train, *split.eval), self.hp["training_input_shape"])
        self.eval_cases = self._shard(split.eval)
        volumes = TrainingVolumes(split.train, self.hp["training_input_shape"], self.hp["oversampling"])
        self.feed = Feed(volumes, self.spec, device=self.device, workers=self.spec.loader_workers)

    def _shard(self, cases: Sequence[layout.Case]) -> list[layout.Case]:
        """This rank's evaluation cases (data_loader.py `split_eval_data`: contiguous, near-equal shards)."""
        n, world = len(cases), self.spec.world_size
        bounds = [n * r // world for r in range(world + 1)]
        return list(cases[bounds[self.spec.rank]:bounds[self.spec.rank + 1]])

    def _set_lr(self) -> None:
        lr = learning_rate(self.step // self.steps_per_epoch + 1, self.hp)
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def _batch(self) -> Any:
        return next(self.feed)

    def _loss(self, batch: Any) -> Any:
        images, labels = batch
        return loss_fn(self.train_model(images), labels)

    def evaluate(self) -> float:
        """Mean over the evaluation cases of the mean of kidney and tumour DICE (inference.py's `mean_dice`)."""
        from podium.metrics.dice import case_dice

        torch = self.torch
        self.model.eval()
        total = torch.zeros(2, dtype=torch.float64, device=self.device)  # sum of case scores, cases
        roi, overlap = list(self.hp["validation_input_shape"]), self.hp["validation_overlap"]
        with torch.no_grad(), self.autocast():
            for case in self.eval_cases:
                image, label = layout.read_case(case)
                logits, crop = sliding_window(self.model, torch.as_tensor(image[None], device=self.device),
                                              roi, overlap)
                prediction = logits[0].argmax(dim=0).to(torch.uint8).cpu().numpy()
                total += torch.tensor([sum(case_dice(prediction, label[0][crop])) / 2, 1.0], dtype=torch.float64,
                                      device=self.device)
        if self.spec.world_size > 1:
            import torch.distributed as dist

            dist.all_reduce(total)
        self.model.train()
        return float(total[0] / total[1])



# --- the data layout and the workload --------------------------------------------------------------------------

def bind(workload: Workload, path: Path) -> Workload:
    """`workload` reading the training layout at `path`: its cases listed (nothing read), counted as logged."""
    split = layout.open_split(path)
    return replace(workload, train_samples=len(split.train), eval_samples=len(split.eval),
                   datasets=functools.partial(layout.open_split, split.path), bound_to=split.path)


def generate(root: Path, **options: Any) -> Path:
    """Small data in the layout (`podium.datasets.kits19_training.generate`: 210 cases of 32^3 to 48x32x32)."""
    return layout.generate(Path(root), **options)


DATA = DataLayout(description="the MLPerf 3D U-Net training reference's preprocessed KiTS19 folder "
                              "(case_XXXXX_x.npy images and case_XXXXX_y.npy labels, 210 cases)",
                  bind=bind, generate=generate)


@WORKLOADS.register(NAME)
def unet3d_workload() -> Workload:
    """Closed 3D U-Net (ruleset 4.0.0) as the reference trains it; needs --data-path."""
    model = MODELS.get("3d-unet")
    return Workload(
        name=NAME,
        summary="MLPerf 3D U-Net on KiTS19 (reference preprocessed .npy); SGD; mean DICE >= 0.908",
        identity=MLPerfIdentity(benchmark="unet3d", ruleset="4.0.0"),
        quality=QualityTarget(metric="mean_dice", target=TARGET_DICE, direction=Direction.HIGHER),
        cadence=EvalCadence(CadenceUnit.EPOCHS, every=EVALUATE_EVERY_EPOCHS, first=START_EVAL_AT_EPOCHS),
        budget=MAX_EPOCHS,
        recipe=Recipe(optimizer="sgd", per_rank_batch_size=2, hyperparameters=_hyperparameters(ROI)),
        train_samples=layout.TRAIN_SAMPLES,
        eval_samples=layout.EVAL_SAMPLES,
        program=functools.partial(Unet3DProgram, model=model),
        model=model.build,
        input_shape=(1, *ROI),
        data=DATA,
        reference=None,   # the official RCPs (rcp_checker/training_4.0.0, unet3d) are the reference
    )


# --- the CI-sized variant --------------------------------------------------------------------------------------

CI_FILTERS = (4, 8, 16)   # three stride-2 stages: edges a multiple of 8; a 4^3 bottleneck for a 32^3 crop
CI_ROI = [32, 32, 32]
CI_BATCH = 2               # the reference's


def build_ci_model() -> Any:
    """The CI variant's network: the reference's blocks, 8 times narrower, with two downsampling stages fewer."""
    return build_model(CI_FILTERS)


CI_MODEL = Model("3d-unet-ci", build=build_ci_model, input_shape=(1, *CI_ROI), classes=CLASSES,
                 input_name="input", output_names=("output",), layout="NCDHW")


def ci_variant(workload: Workload, *, budget_epochs: int = 8) -> Workload:
    """`workload` cut down for a CPU and the generated data: `CI_MODEL`, 32^3 crops and windows, a faster schedule
    (rate 0.5 from the start, no warmup, halved after epoch 4), evaluation every epoch from the second,
    `budget_epochs` epochs. Oversampling, overlap, batch, momentum and the sample counts stay the reference's; the
    logged shapes are those used. On the generated data it reaches the 0.908 target in 2 to 3 epochs."""
    hp = _hyperparameters(CI_ROI, lr=0.5, warmup_epochs=0, decay_epochs=(4,), decay_factor=0.5)
    return replace(workload, recipe=replace(workload.recipe, per_rank_batch_size=CI_BATCH, hyperparameters=hp),
                   program=functools.partial(Unet3DProgram, model=CI_MODEL), model=CI_MODEL.build,
                   input_shape=CI_MODEL.input_shape, cadence=EvalCadence(CadenceUnit.EPOCHS, every=1, first=2),
                   budget=budget_epochs)
