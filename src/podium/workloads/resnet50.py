"""`resnet50` and `resnet50-sgd`: MLPerf Training's ResNet-50 v1.5 on ImageNet to top-1 0.759, LARS or SGD.

Identity: benchmark `resnet`, ruleset 4.0.0, the last training round with ResNet-50; its rule file
`closed_resnet.yaml` checks the global batch, `opt_name` (sgd or lars, which enqueues the round's
`closed_resnet_{sgd,lars}.yaml`) and an `eval_accuracy` of at least 0.7590 (and below 1.0) carrying `epoch_num`.
Composed of shared parts: the `resnet50` model of `podium.models` (the inference definition: a trained model
serves under `podium infer resnet50`), the `imagenet-folders` layout and its augmentation
(`podium.datasets.imagenet_folders`), the `top1` metric of `podium.metrics`, the feed of `podium.workloads.feed`
(worker processes decode and augment while the model computes) and LARS and the poly schedule of
`podium.workloads.optim`.

The recipe is the reference's as the closed division fixes it (training rules §Hyperparameters, ResNet; the rule
files): label smoothing 0.1 and the loss on the logits; a linear warmup then a polynomial decay of power 2 to an
end rate of 1e-4 (fixed); weight decay 1e-4 x 2^N (`is_integer(log2(wd / 1e-4))`); LARS with epsilon 0 and
momentum 0.9 (free only at a global batch of 32k or more, which Podium leaves fixed); batch-norm parameters and
biases skip LARS and weight decay. Tunable as the rules allow: the base rate (for SGD a multiple of 0.001), the
warmup epochs, the decay steps, the weight decay and the batch size. The defaults are the reference's at a global
batch of 3,264 for LARS (8 ranks x 408: base rate 10.5, 2 warmup epochs, 14,523 decay steps = 37 epochs, weight
decay 5e-5) and of 256 for SGD (base rate 0.1, 2 warmup epochs, 40 epochs of decay, weight decay 1e-4); at another
global batch, set them with `--set`. An evaluation every 4 epochs (offset 0; the rules allow 0 to 3), over the
whole validation set, sharded across ranks.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from podium.models.base import Model
from podium.workloads import WORKLOADS
from podium.workloads.base import (CadenceUnit, DataLayout, Direction, EvalCadence, Hyperparameter, MLPerfIdentity,
                                   QualityTarget, Recipe, Rule, RunSpec, Workload)
from podium.workloads.torch_program import TorchProgram

TARGET_TOP1 = 0.7590
EVAL_EVERY_EPOCHS = 4
EVAL_BATCH = 256
LABEL_SMOOTHING = 0.1
MODEL_NAME = "resnet50"


def _power_of_two_times_1e4(value: Any, _: Any) -> bool:
    """closed_resnet_{sgd,lars}.yaml: `is_integer(math.log2(v['value'] / 0.0001))`."""
    if not isinstance(value, (int, float)) or value <= 0:
        return False
    exponent = math.log2(value / 1e-4)
    return abs(exponent - round(exponent)) < 1e-9


def _multiple_of_1e3(value: Any, _: Any) -> bool:
    """closed_resnet_sgd.yaml: `is_integer(v['value'] / 0.001)`."""
    return isinstance(value, (int, float)) and value > 0 and abs(value / 0.001 - round(value / 0.001)) < 1e-9


def _lars_recipe() -> Recipe:
    wd_rule = Rule("closed_resnet_lars.yaml: lars_opt_weight_decay = 1e-4 x 2^N", _power_of_two_times_1e4)
    return Recipe(optimizer="lars", per_rank_batch_size=408, hyperparameters=(
        Hyperparameter("lars_opt_base_learning_rate", 10.5, tunable=True),
        Hyperparameter("lars_opt_end_learning_rate", 0.0001),
        Hyperparameter("lars_opt_learning_rate_decay_poly_power", 2),
        Hyperparameter("lars_opt_learning_rate_decay_steps", 14523, tunable=True),
        Hyperparameter("lars_epsilon", 0.0),
        Hyperparameter("lars_opt_learning_rate_warmup_epochs", 2, tunable=True),
        Hyperparameter("lars_opt_momentum", 0.9),
        Hyperparameter("lars_opt_weight_decay", 5e-05, tunable=True, rule=wd_rule),
        Hyperparameter("label_smoothing", LABEL_SMOOTHING, logged=False),
    ))


def _sgd_recipe() -> Recipe:
    wd_rule = Rule("closed_resnet_sgd.yaml: sgd_opt_weight_decay = 1e-4 x 2^N", _power_of_two_times_1e4)
    lr_rule = Rule("closed_resnet_sgd.yaml: sgd_opt_base_learning_rate is a multiple of 0.001", _multiple_of_1e3)
    return Recipe(optimizer="sgd", per_rank_batch_size=256, hyperparameters=(
        Hyperparameter("sgd_opt_base_learning_rate", 0.1, tunable=True, rule=lr_rule),
        Hyperparameter("sgd_opt_end_learning_rate", 0.0001),
        Hyperparameter("sgd_opt_learning_rate_decay_poly_power", 2),
        Hyperparameter("sgd_opt_learning_rate_decay_steps", 200_183, tunable=True),
        Hyperparameter("sgd_opt_weight_decay", 0.0001, tunable=True, rule=wd_rule),
        Hyperparameter("sgd_opt_momentum", 0.9),
        Hyperparameter("opt_learning_rate_warmup_epochs", 2, tunable=True),
        Hyperparameter("label_smoothing", LABEL_SMOOTHING, logged=False),
    ))


def _run_log(spec: RunSpec) -> Mapping[str, Any]:
    """`model_bn_span`: the samples each batch norm's statistics span, one rank's micro-batch (no synced BN)."""
    return {"model_bn_span": spec.per_rank_batch_size}


def resnet50_workload(optimizer: str = "lars", *, image_size: int = 224, width: int = 64) -> Workload:
    """The workload with `optimizer` ("lars" or "sgd"), before it reads data (`--data-path`). `image_size` and
    `width` (the stem's channels) change the input side and the network's width, never its depth or recipe:
    the tiny versions the tests train on generated data."""
    from podium.datasets.imagenet_folders import CLASSES, LAYOUT, TRAIN_IMAGES, VAL_IMAGES, generate

    name = "resnet50" if optimizer == "lars" else f"resnet50-{optimizer}"
    recipe = _lars_recipe() if optimizer == "lars" else _sgd_recipe()
    definition = _definition(CLASSES, image_size, width)
    return Workload(
        name=name,
        summary=f"ResNet-50 v1.5 on ImageNet (class folders), {optimizer.upper()}; top-1 >= {TARGET_TOP1}",
        identity=MLPerfIdentity(benchmark="resnet", ruleset="4.0.0"),
        quality=QualityTarget(metric="top1", target=TARGET_TOP1, direction=Direction.HIGHER),
        cadence=EvalCadence(CadenceUnit.EPOCHS, every=EVAL_EVERY_EPOCHS),
        budget=60 if optimizer == "lars" else 90,
        recipe=recipe,
        train_samples=TRAIN_IMAGES,
        eval_samples=VAL_IMAGES,
        program=functools.partial(ResNetProgram, model=definition),
        model=definition.build,
        input_shape=definition.input_shape,
        run_log=_run_log,
        data=DataLayout(description=LAYOUT, bind=functools.partial(_bind, image_size=image_size, width=width),
                        generate=generate),
    )


def _definition(classes: int, image_size: int, width: int) -> Model:
    """The `resnet50` model of `podium.models` with `classes` outputs, `width` and `image_size`."""
    from podium.models import MODELS
    from podium.models.resnet50 import resnet50

    official = MODELS.get(MODEL_NAME)
    return Model(official.name, build=functools.partial(resnet50, classes=classes, width=width),
                 input_shape=(3, image_size, image_size), classes=classes, input_name=official.input_name,
                 output_names=official.output_names, layout=official.layout)


def _bind(workload: Workload, path: Path, *, image_size: int, width: int) -> Workload:
    """The workload reading the class folders at `path`: counts and classes from the listing (no image read)."""
    import dataclasses

    from podium.datasets.imagenet_folders import class_count, open_folders

    train, val = open_folders(path)
    definition = _definition(class_count(train), image_size, width)
    return dataclasses.replace(
        workload, train_samples=len(train), eval_samples=len(val), bound_to=path, model=definition.build,
        program=functools.partial(ResNetProgram, model=definition), datasets=lambda: (train, val))


@WORKLOADS.register("resnet50")
def resnet50_lars() -> Workload:
    return resnet50_workload("lars")


@WORKLOADS.register("resnet50-sgd")
def resnet50_sgd() -> Workload:
    return resnet50_workload("sgd")


class ResNetProgram(TorchProgram):
    """The training program: the feed's augmented batches, LARS or SGD on the poly schedule, cross-entropy with
    label smoothing, channels-last on CUDA, top-1 over the validation set."""

    def __init__(self, workload: Workload, spec: RunSpec, model: Model) -> None:
        super().__init__(workload, spec, model)
        self.prefix = workload.recipe.optimizer   # "lars" or "sgd": the hyperparameters' prefix

    def build(self) -> None:
        super().build()
        if self.device.type == "cuda":   # NHWC convolutions: what the GPU references train in
            self.model.to(memory_format=self.torch.channels_last)
        steps_per_epoch = self.workload.train_samples / self.spec.global_batch_size
        hp, p = self.hp, self.prefix
        warmup = hp["lars_opt_learning_rate_warmup_epochs" if p == "lars" else "opt_learning_rate_warmup_epochs"]
        from podium.workloads.optim import PolySchedule

        self.schedule = PolySchedule(base=hp[f"{p}_opt_base_learning_rate"],
                                     warmup_steps=math.ceil(warmup * steps_per_epoch),
                                     decay_steps=hp[f"{p}_opt_learning_rate_decay_steps"],
                                     power=hp[f"{p}_opt_learning_rate_decay_poly_power"],
                                     end=hp[f"{p}_opt_end_learning_rate"])

    def _optimizer(self) -> Any:
        from podium.workloads.optim import lars, skipped_by_lars

        hp, p = self.hp, self.prefix
        if p == "lars":
            return lars(self.model.parameters(), lr=hp["lars_opt_base_learning_rate"],
                        momentum=hp["lars_opt_momentum"], weight_decay=hp["lars_opt_weight_decay"],
                        epsilon=hp["lars_epsilon"])
        decayed = [w for w in self.model.parameters() if not skipped_by_lars(w)]
        plain = [w for w in self.model.parameters() if skipped_by_lars(w)]
        return self.torch.optim.SGD([{"params": decayed, "weight_decay": hp["sgd_opt_weight_decay"]},
                                     {"params": plain, "weight_decay": 0.0}],
                                    lr=hp["sgd_opt_base_learning_rate"], momentum=hp["sgd_opt_momentum"])

    def _set_lr(self) -> None:
        lr = self.schedule(self.step)
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    # -- timed from here on
    def load_data(self) -> None:
        from podium.datasets.imagenet_folders import EvalImages, TrainImages
        from podium.workloads.feed import Feed

        train, val = self.workload.datasets() if self.workload.datasets else (None, None)
        size = self.definition.input_shape[-1]
        self.feed = Feed(TrainImages(train, size), self.spec, device=self.device)
        self.eval_images = EvalImages(val, size)
        self._eval_loader: Any = None

    def _batch(self) -> Any:
        images, labels = next(self.feed)
        if self.device.type == "cuda":
            images = images.contiguous(memory_format=self.torch.channels_last)
        return images, labels

    def _loss(self, batch: tuple[Any, Any]) -> Any:
        images, labels = batch
        logits = self.train_model(images)
        return self.torch.nn.functional.cross_entropy(logits.float(), labels,
                                                      label_smoothing=self.hp["label_smoothing"])

    def evaluate(self) -> float:
        """Top-1 over the whole validation set as a fraction (MLPerf logs `eval_accuracy` in [0, 1]): each rank
        scores its share (image i on rank i mod world) and the counts are summed across ranks."""
        from podium.metrics import METRICS

        torch = self.torch
        self.model.eval()
        top1 = METRICS.get("top1")
        with torch.no_grad(), self.autocast():
            for images, labels in self._evaluation_batches():
                images = images.to(self.device, non_blocking=True)
                top1.update(self.model(images).argmax(dim=1).cpu().numpy(), labels.numpy())
        score = top1.compute()
        counts = torch.tensor([score.good or 0, score.total or 0], dtype=torch.float64, device=self.device)
        if self.spec.world_size > 1:
            import torch.distributed as dist

            dist.all_reduce(counts)
        return float(counts[0] / counts[1])

    def close(self) -> None:
        from podium.workloads.feed import close_loader

        super().close()
        loader = getattr(self, "_eval_loader", None)   # None until the data is loaded, or evaluated
        if loader is not None:
            close_loader(loader)

    def _evaluation_batches(self) -> Any:
        """This rank's share of the validation set, batched by worker processes that stay up between evaluations."""
        if self._eval_loader is None:
            from torch.utils.data import DataLoader, Subset

            from podium.workloads.feed import default_workers

            share = Subset(self.eval_images, range(self.spec.rank, len(self.eval_images), self.spec.world_size))
            workers = default_workers(self.spec)
            self._eval_loader = DataLoader(share, batch_size=EVAL_BATCH, num_workers=workers,
                                           persistent_workers=workers > 0, pin_memory=self.device.type == "cuda")
        return self._eval_loader
