"""What the RetinaNet and SSD training programs share: the model, its training forward and optimizer built off the
clock, the training feed (augmenting worker processes, `podium.workloads.feed.Feed`) and the evaluation loader
opened on it, and the COCO-style evaluation of the served forward, sharded across ranks.

A subclass says how to build the model and its training forward, the optimizer and learning-rate schedule, the
training and evaluation datasets (torch map-style, augmenting in `__getitem__`), the loss of a batch, and how one
image's served outputs become the `coco-map` metric's detection rows. Every rank evaluates its share of the
evaluation images; the rows are gathered so that every rank scores the whole set and reaches the same decision.
torch is imported here: this private module is imported when a program is built.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import torch

from podium.metrics import METRICS
from podium.workloads.base import Precision, RunSpec, Workload
from podium.workloads.feed import Feed, default_workers
from podium.workloads.torch_program import TorchProgram

EVAL_BATCH = 8


class SingleStageProgram(TorchProgram):
    """The Program protocol for a single-stage detector; see the module docstring for what a subclass gives."""

    metric = "coco-map"

    def __init__(self, workload: Workload, spec: RunSpec) -> None:
        super().__init__(workload, spec, model=None)  # type: ignore[arg-type]  # built from workload.model

    # -- untimed init
    def build(self) -> None:
        torch.manual_seed(self.spec.seed)
        np.random.seed(self.spec.seed % 2**32)
        self.torch, self.device = torch, torch.device(self.spec.device)
        self.model = self.workload.model().to(self.device)  # type: ignore[misc]
        self.image_hw = tuple(self.workload.input_shape[1:])  # type: ignore[index]
        self._prepare_model()
        self.optimizer = self._optimizer([p for p in self.model.parameters() if p.requires_grad])
        self.autocast_dtype = {Precision.BF16: torch.bfloat16, Precision.FP16: torch.float16}.get(self.spec.precision)
        self.train_model = self._wrap(self._training_forward())
        self._warm_up_step()

    def _warm_up_step(self) -> None:
        """One forward and backward on zeros, off the clock; the initial weights are restored after it."""
        initial = copy.deepcopy(self.model.state_dict())
        zeros = torch.zeros((self.spec.per_rank_batch_size, 3, *self.image_hw), device=self.device)
        with self.autocast():
            outputs = self.train_model.train()(zeros)
            sum(o.float().sum() for o in outputs).backward()
        self.model.load_state_dict(initial)
        self.optimizer.zero_grad(set_to_none=True)

    def _prepare_model(self) -> None:
        """Freeze what the reference does not train."""

    def _optimizer(self, params: list[Any]) -> Any:
        raise NotImplementedError

    def _training_forward(self) -> Any:
        raise NotImplementedError

    # -- timed
    def load_data(self) -> None:
        assert self.workload.datasets is not None, "the workload reads no data: bind it with --data-path"
        train, evaluation = self.workload.datasets()
        self.eval_split = evaluation
        self.feed = Feed(self._train_dataset(train), self.spec, device=self.device)
        self.steps_per_epoch = -(-self.workload.train_samples // self.spec.global_batch_size)
        shard = list(range(self.spec.rank, len(evaluation), self.spec.world_size))
        workers = default_workers(self.spec)
        self.eval_loader = torch.utils.data.DataLoader(
            self._eval_dataset(evaluation), batch_size=EVAL_BATCH, sampler=shard, num_workers=workers,
            persistent_workers=workers > 0, pin_memory=self.device.type == "cuda")

    def _train_dataset(self, split: Any) -> Any:
        raise NotImplementedError

    def _eval_dataset(self, split: Any) -> Any:
        raise NotImplementedError

    def _batch(self) -> Any:
        return next(self.feed)

    def evaluate(self) -> float:
        """COCO mAP (0.50:0.95) of the served forward's detections on the evaluation images, as a fraction."""
        self.model.eval()
        rows: dict[int, np.ndarray] = {}
        with torch.no_grad(), self.autocast():
            for images, indices in self.eval_loader:
                outputs = [o.float().cpu().numpy() for o in self.model(images.to(self.device, non_blocking=True))]
                for k, index in enumerate(indices.tolist()):
                    rows[index] = self._rows(outputs, k)
        self.model.train()
        if self.spec.world_size > 1:
            import torch.distributed as dist

            shards: list[Any] = [None] * self.spec.world_size
            dist.all_gather_object(shards, rows)
            rows = {i: r for shard in shards for i, r in shard.items()}
        metric = METRICS.get(self.metric)
        order = sorted(rows)
        metric.update([rows[i] for i in order], [self.eval_split.labels[i] for i in order])
        return float(metric.compute().value) / 100.0

    def _rows(self, outputs: list[np.ndarray], k: int) -> np.ndarray:
        """Image k's detections as rows [index, ymin, xmin, ymax, xmax (normalized), score, class]."""
        raise NotImplementedError

    def save(self, directory: Path) -> list[Path]:
        """The trained state dict (untimed: after run_stop)."""
        directory.mkdir(parents=True, exist_ok=True)
        state = directory / "model.pt"
        torch.save(self.model.state_dict(), state)
        return [state]

    def close(self) -> None:
        """The feed's workers (TorchProgram.close) and the evaluation loader's."""
        from podium.workloads.feed import close_loader

        super().close()
        loader = getattr(self, "eval_loader", None)   # None until the data is loaded
        if loader is not None:
            close_loader(loader)
