"""What the tiny suite's detection and segmentation training programs share: a torch model built from `podium.models`
with Adam, the untimed warm-up, autocast, data-parallel wrapping, and saving the trained model for serving.

A subclass implements `load_data`, `_loss(batch)` (one step's loss from a sampled batch), `_batch()` and
`evaluate`. `save` writes the state dict and an ONNX export named as the model definition names its input and
outputs, so that the inference task's graph forms read the exported graph as they read the PyTorch definition.
torch is imported on first use, never by the registry.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from podium.core import signals
from podium.models.base import Model
from podium.models.export import export_onnx
from podium.workloads.base import Precision, RunSpec, Workload

def wrap_for_training(model: Any, spec: RunSpec, device: Any) -> Any:
    """The model as a rank trains it: DistributedDataParallel across ranks, then torch.compile when asked."""
    import torch

    if spec.world_size > 1:
        from torch.nn.parallel import DistributedDataParallel

        ids = [device.index] if device.type == "cuda" else None
        model = DistributedDataParallel(model, device_ids=ids)
    if spec.compile:
        model = torch.compile(model)
    return model


class TorchProgram:
    """The Program protocol over a `Model` of `podium.models`: Adam at `opt_base_learning_rate`, linear warmup over
    `opt_learning_rate_warmup_steps`, one optimizer step per global batch. `input_dtype` is what the exported graph
    takes (the dataset's samples' type)."""

    input_dtype = "float32"
    exports_onnx = True  # False for a model served by PyTorch alone (RNN-T, GNMT: decoded step by step)

    def __init__(self, workload: Workload, spec: RunSpec, model: Model) -> None:
        self.workload, self.spec, self.definition = workload, spec, model
        self.hp = dict(spec.hyperparameters)
        self.step = 0

    # -- untimed init: model and optimizer only (training rules §Data set: no data before run_start)
    def build(self) -> None:
        import torch

        torch.manual_seed(self.spec.seed)
        self.torch = torch
        self.device = torch.device(self.spec.device)
        self.model = self.definition.build().to(self.device)
        self.optimizer = self._optimizer()
        self.autocast_dtype = {Precision.BF16: torch.bfloat16, Precision.FP16: torch.float16}.get(self.spec.precision)
        self.train_model = self._wrap(self.model)
        if self.workload.input_shape:
            self._warm_up(self.workload.input_shape)

    def _wrap(self, model: Any) -> Any:
        return wrap_for_training(model, self.spec, self.device)

    def _optimizer(self) -> Any:
        """The optimizer of `self.model` (Adam here; a subclass uses its recipe's)."""
        return self.torch.optim.Adam(self.model.parameters(), lr=self.hp["opt_base_learning_rate"])

    def _warm_up(self, shape: tuple[int, ...]) -> None:
        """One forward and backward on zeros, off the clock (lazy kernels, compilation); the initial weights are
        restored, so the timed run starts from the state it would have without it."""
        import copy

        initial = copy.deepcopy(self.model.state_dict())
        zeros = self.torch.zeros((self.spec.per_rank_batch_size, *shape), device=self.device)
        with self.autocast():
            outputs = self.train_model.train()(zeros)
            first = outputs[0] if isinstance(outputs, (tuple, list)) else outputs
            first.float().sum().backward()
        self.model.load_state_dict(initial)
        self.optimizer.zero_grad(set_to_none=True)

    def autocast(self) -> Any:
        return self.torch.autocast(self.device.type, dtype=self.autocast_dtype,
                                   enabled=self.autocast_dtype is not None)

    # -- timed from here on
    def train(self, samples: int) -> float:
        """Train on the next `samples` samples (across ranks): one step per global batch; the mean loss."""
        self.train_model.train()
        losses = []
        for _ in range(math.ceil(samples / self.spec.global_batch_size)):
            signals.raise_if_received()  # a stop swallowed inside a torch callback (see ClassificationProgram)
            losses.append(self._train_step())
        loss = self.torch.tensor(sum(losses) / max(1, len(losses)), device=self.device)
        if self.spec.world_size > 1:  # a NaN on any rank reaches every rank, so all ranks abort together
            import torch.distributed as dist

            dist.all_reduce(loss)
            loss /= self.spec.world_size
        return float(loss)

    def _train_step(self) -> float:
        self._set_lr()
        self.optimizer.zero_grad(set_to_none=True)
        total = 0.0
        for _ in range(self.spec.gradient_accumulation_steps):
            with self.autocast():
                loss = self._loss(self._batch())
            (loss / self.spec.gradient_accumulation_steps).backward()
            total += float(loss.detach())
        self.optimizer.step()
        self.step += 1
        return total / self.spec.gradient_accumulation_steps

    def _set_lr(self) -> None:
        base, warm = self.hp["opt_base_learning_rate"], self.hp["opt_learning_rate_warmup_steps"]
        lr = base * min(1.0, (self.step + 1) / warm) if warm > 0 else base
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def close(self) -> None:
        """Stop the feed's worker processes (the harness calls it when the run has ended)."""
        feed = getattr(self, "feed", None)
        if feed is not None:
            feed.close()

    def data_loading(self) -> dict[str, Any] | None:
        """The feed's measure when the program loads through one (`self.feed`, a `podium.workloads.feed.Feed`)."""
        feed = getattr(self, "feed", None)
        return None if feed is None else dict(feed.stats.to_json())

    def _batch(self) -> Any:
        """This rank's share of the next global batch (one micro-batch)."""
        raise NotImplementedError

    def _loss(self, batch: Any) -> Any:
        raise NotImplementedError

    def save(self, directory: Path) -> list[Path]:
        """The state dict, and its ONNX export for the inference suite (untimed: after run_stop) unless the model is
        served by PyTorch alone (`exports_onnx`)."""
        directory.mkdir(parents=True, exist_ok=True)
        state = directory / "model.pt"
        self.torch.save(self.model.state_dict(), state)
        if not self.exports_onnx:
            return [state]
        return [state, export_onnx(self.model.eval(), self.definition, directory / "model.onnx", self.input_dtype)]
