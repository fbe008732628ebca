"""`maskrcnn`: MLPerf Training's Mask R-CNN (ResNet-50 FPN) on COCO 2017, box mAP 0.377 and mask mAP 0.339.

Identity and rules: benchmark `maskrcnn`, ruleset 3.1.0, the newest training round that has it
(mlperf-logging's training_3.1.0/closed_maskrcnn.yaml). That rule file wants eval_accuracy logged as a dict,
{"BBOX": box mAP, "SEGM": mask mAP} with `epoch_num`, both targets reached in one evaluation, and the keys below,
which this workload logs from its recipe with the values it uses.

The recipe is the reference's (mlcommons/training retired_benchmarks/maskrcnn/pytorch: configs/
e2e_mask_rcnn_R_50_FPN_1x.yaml over config/defaults.py; solver/build.py and lr_scheduler.py; tools/train_mlperf.py
for the keys logged): SGD with momentum 0.9 ("sgd_with_momentum"), weight decay 1e-4 except biases (0), biases at
twice the rate; base rate 0.02 for 16 images; linear warmup from 1/3 over 500 iterations; the rate times 0.1 at
iterations 60000 and 80000; images resized to 800 (at most 1333) and flipped at random; 2000 region proposals kept
per batch of a rank (num_image_candidates); an evaluation after every epoch, an epoch being
images // global batch + 1 iterations (data/build.py). Closed division lets a submitter tune what the training
policies' hyperparameter table lists for maskrcnn (training_rules.adoc, v3.1): global batch size, base rate
(0.02 K, or 0.02 / K below 16 images), decay steps ((60000, 80000) (1 + K / 10) 16 / batch), warmup steps and
factor, num_image_candidates (1000, or 1000 per image on a chip); the decay factor and image sizes are fixed.

Data: `--data-path` names the reference's COCO root (`podium.datasets.coco_masks`); `--generate-data` writes small
images of shapes in that layout. Training batches come through `podium.workloads.feed.Feed` (worker processes,
pinned memory), padded to multiples of 32 as the reference's collator; evaluation scores the detections with
pycocotools, boxes and masks (`podium.metrics.coco_segm`). torch is imported when a run builds its program.
"""

from __future__ import annotations

import functools
import math
from bisect import bisect_right
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from podium.models.maskrcnn import CONFIG, MaskRCNNConfig
from podium.workloads import WORKLOADS
from podium.workloads.base import (CadenceUnit, DataLayout, EvalCadence, Hyperparameter, MLPerfIdentity,
                                   QualityTarget, Recipe, ReferenceConvergence, Rule, RunSpec,
                                   Workload)

NAME = "maskrcnn"
BOX_MAP_TARGET, MASK_MAP_TARGET = 0.377, 0.339   # closed_maskrcnn.yaml ATLEAST_ONE_CHECK; training rules v3.1
BASE_LR = 0.02               # SOLVER.BASE_LR, for SOLVER.IMS_PER_BATCH = 16
REFERENCE_BATCH = 16
DECAY_STEPS = (60000, 80000)  # SOLVER.STEPS
MOMENTUM, WEIGHT_DECAY = 0.9, 1e-4   # SOLVER.MOMENTUM (default), SOLVER.WEIGHT_DECAY
BIAS_LR_FACTOR, BIAS_WEIGHT_DECAY = 2.0, 0.0   # SOLVER.BIAS_LR_FACTOR, WEIGHT_DECAY_BIAS (defaults)
PER_RANK_BATCH = 2            # the reference's 16 images on 8 GPUs
EVAL_BATCH = 2                # images per rank per evaluation forward (TEST.IMS_PER_BATCH 8 on 4+ GPUs)
BUDGET_EPOCHS = 20            # the 3.1.0 RCPs converge in 12 to 20 epochs
TRAIN_IMAGES, VAL_IMAGES = 117266, 5000   # COCO 2017 train images with a usable annotation; val images


def _lr_allowed(value: Any, _: Any) -> bool:
    """0.02 K for an integer K >= 1, or 0.02 / K (allowed below a global batch of 16, which a rule here cannot
    see: the official checker checks it against global_batch_size)."""
    if not isinstance(value, (int, float)) or value <= 0:
        return False
    return _is_integer(value / BASE_LR) or _is_integer(BASE_LR / value)


def _is_integer(x: float) -> bool:
    return abs(x - round(x)) < 1e-6 and round(x) >= 1


def _two_increasing_steps(value: Any, _: Any) -> bool:
    return (isinstance(value, (list, tuple)) and len(value) == 2 and all(isinstance(v, int) for v in value)
            and 0 < value[0] < value[1])


def decay_steps_for(global_batch: int, k: int = 0) -> list[int]:
    """The decay steps the rules allow at `global_batch`: (60000, 80000) * (1 + k / 10) * 16 / global_batch."""
    return [int(round(s * (1 + k / 10) * REFERENCE_BATCH / global_batch)) for s in DECAY_STEPS]


def recipe(min_size: int = 800, max_size: int = 1333, per_rank_batch: int = PER_RANK_BATCH,
           decay_steps: list[int] | None = None, candidates: int = 2000) -> Recipe:
    """The reference's recipe; the image sizes, batch, decay steps and candidates are arguments so that a small
    version (tests) keeps the same keys and rules."""
    return Recipe(optimizer="sgd_with_momentum", per_rank_batch_size=per_rank_batch, hyperparameters=(
        Hyperparameter("opt_base_learning_rate", BASE_LR, tunable=True,
                       rule=Rule("training rules v3.1 maskrcnn: 0.02 * K (or 0.02 / K below batch 16)", _lr_allowed)),
        Hyperparameter("opt_learning_rate_warmup_steps", 500, tunable=True,
                       rule=Rule("closed_maskrcnn.yaml: warmup steps >= 0", lambda v, _: v >= 0)),
        Hyperparameter("opt_learning_rate_warmup_factor", 1.0 / 3, tunable=True,
                       rule=Rule("closed_maskrcnn.yaml: warmup factor > 0", lambda v, _: v > 0)),
        Hyperparameter("opt_learning_rate_decay_steps", decay_steps or list(DECAY_STEPS), tunable=True,
                       rule=Rule("training rules v3.1 maskrcnn: two decay steps, (60000, 80000) (1 + K/10) 16 / "
                                 "global batch", _two_increasing_steps)),
        Hyperparameter("opt_learning_rate_decay_factor", 0.1),
        Hyperparameter("min_image_size", min_size),
        Hyperparameter("max_image_size", max_size),
        Hyperparameter("num_image_candidates", candidates, tunable=True,
                       rule=Rule("training rules v3.1 maskrcnn: 1000 or 1000 * images per chip",
                                 lambda v, _: isinstance(v, int) and v > 0 and v % 1000 == 0)),
    ))


def quality() -> QualityTarget:
    """Box mAP 0.377 and mask mAP 0.339 in the same evaluation, logged as one dict (closed_maskrcnn.yaml)."""
    return QualityTarget(metric="BBOX", target=BOX_MAP_TARGET, parts={"SEGM": MASK_MAP_TARGET})


def bind(workload: Workload, root: Path) -> Workload:
    """`workload` reading the COCO root `root`: its image counts, and its datasets opened there when loaded."""
    from podium.datasets.coco_masks import Instances

    train, val = Instances.open(root, "train"), Instances.open(root, "val")
    return replace(workload, train_samples=len(train.images), eval_samples=len(val.images), bound_to=root,
                   datasets=functools.partial(open_splits, root))


def open_splits(root: Path) -> tuple[Any, Any]:
    from podium.datasets.coco_masks import Instances

    return Instances.open(root, "train"), Instances.open(root, "val")


def generate(root: Path, **options: Any) -> Path:
    from podium.datasets.coco_masks import generate as write

    return write(Path(root), **options)


def program_for(config: MaskRCNNConfig) -> Any:
    """The program factory for a network of `config` (the benchmark's, or a smaller one of the same family)."""
    return functools.partial(MaskRCNNProgram, config=config)


def lr_factor(iteration: int, hp: Mapping[str, Any]) -> float:
    """The factor of the base rate at `iteration` (1-based: the reference steps its scheduler before each
    iteration): linear warmup from the warmup factor, times the decay factor at each decay step
    (WarmupMultiStepLR, method "linear")."""
    warmup, factor = hp["opt_learning_rate_warmup_steps"], 1.0
    if iteration < warmup:
        alpha = iteration / warmup
        factor = hp["opt_learning_rate_warmup_factor"] * (1 - alpha) + alpha
    steps = sorted(hp["opt_learning_rate_decay_steps"])
    return factor * hp["opt_learning_rate_decay_factor"] ** bisect_right(steps, iteration)


def iterations_per_epoch(images: int, global_batch: int) -> int:
    """The reference's epoch: images // global batch + 1 iterations (data/build.py make_data_loader)."""
    return images // global_batch + 1


@WORKLOADS.register(NAME)
def maskrcnn() -> Workload:
    from podium.models import MODELS

    return Workload(
        name=NAME,
        summary=f"COCO 2017, Mask R-CNN ResNet-50 FPN, SGD; box mAP >= {BOX_MAP_TARGET}, mask mAP >= "
                f"{MASK_MAP_TARGET}",
        identity=MLPerfIdentity(benchmark="maskrcnn", ruleset="3.1.0"),
        quality=quality(),
        cadence=EvalCadence(CadenceUnit.EPOCHS, every=1),   # training rules: Mask R-CNN evaluates every epoch
        budget=BUDGET_EPOCHS,
        recipe=recipe(),
        train_samples=TRAIN_IMAGES,
        eval_samples=VAL_IMAGES,
        program=program_for(CONFIG),
        model=MODELS.get("maskrcnn").build,
        reference=ReferenceConvergence(global_batch_size=8, to_converge=(13, 13, 12, 13, 13, 13, 13, 12, 13, 12)),
        data=DataLayout(description="a COCO 2017 root with instances_{train,val}2017.json and train2017/, val2017/",
                        bind=bind, generate=generate),
    )



class MaskRCNNProgram:
    """The Program of `maskrcnn` for a network of `config`: the reference's SGD, schedule, data and evaluation."""

    def __init__(self, workload: Workload, spec: RunSpec, config: MaskRCNNConfig = CONFIG) -> None:
        self.workload, self.spec = workload, spec
        self.hp = dict(spec.hyperparameters)
        # num_image_candidates is the RPN's proposals kept over a rank's batch (FPN_POST_NMS_TOP_N_TRAIN)
        self.config = replace(config, fpn_post_nms_top_n_train=int(self.hp["num_image_candidates"]))
        self.iteration = 0

    # -- untimed init: the model and optimizer, no data (training rules §Data set)
    def build(self) -> None:
        import torch

        from podium.models.maskrcnn import build_maskrcnn
        from podium.workloads.torch_program import wrap_for_training

        torch.manual_seed(self.spec.seed)
        self.torch, self.device = torch, torch.device(self.spec.device)
        self.model = build_maskrcnn(self.config).to(self.device)
        self.optimizer = torch.optim.SGD(self._parameter_groups(), lr=self.hp["opt_base_learning_rate"],
                                         momentum=MOMENTUM)
        self.train_model = wrap_for_training(self.model, self.spec, self.device)

    def _parameter_groups(self) -> list[dict[str, Any]]:
        """solver/build.py make_optimizer: biases at BIAS_LR_FACTOR times the rate, without weight decay."""
        base, groups = self.hp["opt_base_learning_rate"], []
        for name, p in self.model.named_parameters():
            if p.requires_grad:
                bias = "bias" in name
                groups.append({"params": [p], "base_lr": base * (BIAS_LR_FACTOR if bias else 1.0),
                               "weight_decay": BIAS_WEIGHT_DECAY if bias else WEIGHT_DECAY})
        return groups

    # -- timed from here on
    def load_data(self) -> None:
        from podium.datasets.coco_masks import MaskInstances
        from podium.workloads.feed import Feed

        if self.workload.datasets is None:
            from podium.core.errors import ConfigError

            raise ConfigError(f"workload {self.workload.name} has no data: give --data-path")
        train, val = self.workload.datasets()
        sizes = (int(self.hp["min_image_size"]), int(self.hp["max_image_size"]))
        pixels = {"mean_bgr": self.config.pixel_mean_bgr, "std": self.config.pixel_std}
        self.feed = Feed(MaskInstances(train, *sizes, train=True, **pixels), self.spec, device=self.device,
                         collate=collate)
        self.eval_set = MaskInstances(val, *sizes, train=False, **pixels)
        self.val = val

    def train(self, samples: int) -> float:
        """One epoch of the reference's (`iterations_per_epoch`) per `samples` images; the mean loss."""
        from podium.core import signals

        self.train_model.train()
        total, steps = 0.0, iterations_per_epoch(samples, self.spec.global_batch_size)
        for _ in range(steps):
            signals.raise_if_received()
            total += self._step()
        loss = self.torch.tensor(total / steps, device=self.device)
        if self.spec.world_size > 1:
            import torch.distributed as dist

            dist.all_reduce(loss)
            loss /= self.spec.world_size
        return float(loss)

    def _step(self) -> float:
        self.iteration += 1
        factor = lr_factor(self.iteration, self.hp)
        for group in self.optimizer.param_groups:
            group["lr"] = group["base_lr"] * factor
        self.optimizer.zero_grad(set_to_none=True)
        total = 0.0
        for _ in range(self.spec.gradient_accumulation_steps):
            images, sizes, targets, _index = next(self.feed)
            losses = self.train_model(images, sizes, targets)
            loss = sum(losses.values())
            (loss / self.spec.gradient_accumulation_steps).backward()
            total += float(loss.detach())
        self.optimizer.step()
        return total / self.spec.gradient_accumulation_steps

    def evaluate(self) -> dict[str, float]:
        """{"BBOX": box mAP, "SEGM": mask mAP} as fractions over the val images (each rank scores its share;
        the shares are gathered, so every rank answers the same)."""
        from podium.metrics import METRICS

        metric = METRICS.get("coco-segm")
        self.model.eval()
        shares = self._detect_share()
        if self.spec.world_size > 1:
            import torch.distributed as dist

            gathered: list[Any] = [None] * self.spec.world_size
            dist.all_gather_object(gathered, shares)
            shares = [s for share in gathered for s in share]
        for prediction, truth in shares:
            metric.update([prediction], [truth])
        score = metric.compute()
        self.model.train()
        return {"BBOX": score.details["bbox_AP"] / 100.0, "SEGM": score.value / 100.0}

    def _detect_share(self) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """(detections, ground truth) of this rank's val images: every world_size-th from its rank."""
        from torch.utils.data import DataLoader

        from podium.workloads.feed import default_workers

        mine = list(range(self.spec.rank, len(self.eval_set), self.spec.world_size))
        workers = default_workers(self.spec)
        loader = DataLoader(self.torch.utils.data.Subset(self.eval_set, mine), batch_size=EVAL_BATCH,
                            num_workers=workers, collate_fn=collate)
        out = []
        with self.torch.no_grad():
            for images, sizes, _targets, index in loader:
                found = self.model(images.to(self.device), sizes)
                for i, size, detections in zip(index.tolist(), sizes.tolist(), found):
                    truth = self.val.truth(i)
                    out.append((coco_detections(detections, tuple(size), truth, self.val.category_ids), truth))
        return out

    def close(self) -> None:
        """Stop the feed's worker processes (the harness calls it when the run has ended)."""
        feed = getattr(self, "feed", None)
        if feed is not None:
            feed.close()

    def save(self, directory: Path) -> list[Path]:
        """The state dict (untimed, after run_stop); Mask R-CNN has no ONNX graph in Podium's inference suite."""
        directory.mkdir(parents=True, exist_ok=True)
        state = directory / "model.pt"
        self.torch.save(self.model.state_dict(), state)
        return [state]


def collate(samples: list[tuple[Any, dict[str, Any]]]) -> tuple[Any, Any, list[dict[str, Any]], Any]:
    """(images (N, 3, H, W) zero-padded to multiples of 32, sizes (N, 2) before padding, targets, indices): the
    reference's BatchCollator with DATALOADER.SIZE_DIVISIBILITY 32."""
    import torch

    from podium.models.maskrcnn import SIZE_DIVISIBILITY

    height = max(image.shape[1] for image, _ in samples)
    width = max(image.shape[2] for image, _ in samples)
    height, width = (math.ceil(v / SIZE_DIVISIBILITY) * SIZE_DIVISIBILITY for v in (height, width))
    images = torch.zeros((len(samples), 3, height, width), dtype=torch.float32)
    for slot, (image, _) in zip(images, samples):
        slot[:, :image.shape[1], :image.shape[2]] = torch.from_numpy(image)
    sizes = torch.tensor([t["size"] for _, t in samples], dtype=torch.int64)
    targets = [{"boxes": torch.from_numpy(t["boxes"]), "labels": torch.from_numpy(t["labels"]), "masks": t["masks"]}
               for _, t in samples]
    return images, sizes, targets, torch.tensor([t["index"] for _, t in samples], dtype=torch.int64)


def coco_detections(found: dict[str, Any], size: tuple[int, int], truth: Mapping[str, Any],
                    category_ids: tuple[int, ...]) -> dict[str, Any]:
    """One image's detections as `coco-segm` takes them: boxes scaled back to the original image and written as
    [x, y, w + 1, h + 1] (BoxList.resize and convert("xywh")), masks pasted there (Masker, threshold 0.5)."""
    import numpy as np

    from podium.models.maskrcnn import paste_masks

    height, width = int(truth["height"]), int(truth["width"])
    boxes = found["boxes"].float().cpu()
    ratio_w, ratio_h = width / size[1], height / size[0]
    boxes = boxes * boxes.new_tensor([ratio_w, ratio_h, ratio_w, ratio_h])
    masks = paste_masks(found["masks"].float().cpu(), boxes, height, width)
    xywh = np.column_stack([boxes[:, :2].numpy(), (boxes[:, 2:] - boxes[:, :2] + 1).numpy()])
    categories = np.asarray(category_ids)[found["labels"].cpu().numpy() - 1]
    return {"boxes": xywh, "scores": found["scores"].float().cpu().numpy(), "category_ids": categories,
            "masks": masks}
