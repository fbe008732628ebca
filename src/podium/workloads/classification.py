"""The image-classification training program: a torch model, SGD with warmup and linear decay, top-1 eval.

Used by image-classification workloads (`digits`); torch is imported here, on first use, never by the registry.
The evaluation is scored by the `top1` metric of `podium.metrics`, the one an inference accuracy run is scored by.
Distributed runs (DDP) shard each global batch across ranks; every rank evaluates the whole eval set on identical
replicas, so every rank reaches the same stop decision without a broadcast.
"""

from __future__ import annotations

import importlib.util
import logging
import math
import warnings
from pathlib import Path
from typing import Any

from podium.core import signals
from podium.metrics import METRICS
from podium.workloads.base import Precision, RunSpec, Workload
from podium.workloads.torch_program import wrap_for_training


class ClassificationProgram:
    """Program for `Workload`s whose `datasets()` returns ((x_train, y_train), (x_eval, y_eval)) numpy arrays."""

    def __init__(self, workload: Workload, spec: RunSpec) -> None:
        self.workload, self.spec = workload, spec
        self.hp = dict(spec.hyperparameters)
        self._cursor = 0            # training samples consumed so far (global, across ranks)
        self._order: Any = None     # the current epoch's permutation

    # -- untimed init: model and optimizer only (training rules §Data set: no data before run_start)
    def build(self) -> None:
        import torch

        torch.manual_seed(self.spec.seed)
        self.torch = torch
        self.device = torch.device(self.spec.device)
        self.model = self.workload.model().to(self.device)
        self.optimizer = torch.optim.SGD(
            self.model.parameters(), lr=self.hp["opt_base_learning_rate"], momentum=self.hp["sgd_momentum"],
            weight_decay=self.hp["opt_weight_decay"], nesterov=True)
        self.steps_total = self._steps_for(self.workload.budget * self.workload.train_samples)
        self.step = 0
        self.train_model = self._wrap(self.model)
        dtype = {Precision.BF16: torch.bfloat16, Precision.FP16: torch.float16}.get(self.spec.precision)
        self.autocast_dtype = dtype
        self.scaler = torch.amp.GradScaler(self.device.type) if self.spec.precision is Precision.FP16 else None
        if self.workload.input_shape:
            self._warm_up()

    def _warm_up(self) -> None:
        """One step on zeros during untimed init, not on the dataset (training rules §Data set): compiles
        (torch.compile) and creates lazy kernels and handles (cuDNN, oneDNN) off the clock; then the initial
        weights and batch-norm statistics are restored, so the timed run starts from the same state."""
        import copy

        initial = copy.deepcopy(self.model.state_dict())
        zeros = self.torch.zeros((self.spec.per_rank_batch_size, *self.workload.input_shape), device=self.device)
        with self.torch.autocast(self.device.type, dtype=self.autocast_dtype,
                                 enabled=self.autocast_dtype is not None):
            self.train_model.train()
            self.train_model(zeros).float().sum().backward()
        self.model.load_state_dict(initial)
        self.optimizer.zero_grad(set_to_none=True)

    def _wrap(self, model: Any) -> Any:
        return wrap_for_training(model, self.spec, self.device)

    def _steps_for(self, samples: int) -> int:
        return math.ceil(samples / self.spec.global_batch_size)

    # -- timed from here on
    def load_data(self) -> None:
        torch = self.torch
        (xt, yt), (xe, ye) = self.workload.datasets()
        self.x_train, self.y_train = (torch.as_tensor(a, device=self.device) for a in (xt, yt))
        self.x_eval, self.y_eval = (torch.as_tensor(a, device=self.device) for a in (xe, ye))
        self.generator = torch.Generator().manual_seed(self.spec.seed)

    def train(self, samples: int) -> float:
        self.train_model.train()
        losses = []
        for _ in range(self._steps_for(samples)):
            # A Ctrl-C or SIGTERM raised inside one of torch's weakref callbacks is swallowed ("Exception
            # ignored"); the signal is remembered, so the stop happens here, one step later.
            signals.raise_if_received()
            losses.append(self._train_step())
        loss = self.torch.tensor(sum(losses) / max(1, len(losses)), device=self.device)
        if self.spec.world_size > 1:   # a NaN on any rank reaches every rank, so all ranks abort together
            import torch.distributed as dist

            dist.all_reduce(loss)
            loss /= self.spec.world_size
        return float(loss)

    def _next_indices(self, count: int) -> Any:
        n = len(self.y_train)
        chunks = []
        while count > 0:
            at = self._cursor % n
            if at == 0 or self._order is None:
                self._order = self.torch.randperm(n, generator=self.generator)
            take = min(count, n - at)
            chunks.append(self._order[at:at + take])
            self._cursor += take
            count -= take
        return self.torch.cat(chunks)

    def _train_step(self) -> float:
        spec, torch = self.spec, self.torch
        self._set_lr()
        batch = self._next_indices(spec.global_batch_size).to(self.device)
        micro = batch[spec.rank::spec.world_size].chunk(spec.gradient_accumulation_steps)
        self.optimizer.zero_grad(set_to_none=True)
        total = 0.0
        for idx in micro:
            with torch.autocast(self.device.type, dtype=self.autocast_dtype, enabled=self.autocast_dtype is not None):
                out = self.train_model(self.x_train[idx])
                loss = torch.nn.functional.cross_entropy(
                    out.float(), self.y_train[idx], label_smoothing=self.hp["label_smoothing"])
            scaled = loss / spec.gradient_accumulation_steps
            (self.scaler.scale(scaled) if self.scaler else scaled).backward()
            total += float(loss.detach())
        if self.scaler:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self.step += 1
        return total / len(micro)

    def _set_lr(self) -> None:
        """Linear warmup over `opt_learning_rate_warmup_epochs`, then linear decay to zero at the budget."""
        base = self.hp["opt_base_learning_rate"]
        warm = self._steps_for(self.hp["opt_learning_rate_warmup_epochs"] * self.workload.train_samples)
        if self.step < warm:
            lr = base * (self.step + 1) / warm
        else:
            lr = base * max(0.0, 1 - (self.step - warm) / max(1, self.steps_total - warm))
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def evaluate(self) -> float:
        """Top-1 over the whole eval set as a fraction: MLPerf training logs `eval_accuracy` in [0, 1]; the
        `top1` metric, shared with inference, reports %, and its counts give the fraction."""
        torch = self.torch
        self.model.eval()
        with torch.no_grad(), torch.autocast(self.device.type, dtype=self.autocast_dtype,
                                             enabled=self.autocast_dtype is not None):
            predicted = self.model(self.x_eval).argmax(dim=1)
        top1 = METRICS.get("top1")
        top1.update(predicted.cpu().numpy(), self.y_eval.cpu().numpy())
        score = top1.compute()
        assert score.good is not None  # top1 counts
        return score.good / score.total

    def save(self, directory: Path) -> list[Path]:
        """The state dict, and an ONNX export for the inference suite (untimed: after run_stop)."""
        directory.mkdir(parents=True, exist_ok=True)
        state = directory / "model.pt"
        self.torch.save(self.model.state_dict(), state)
        return [state, export_onnx(self.model.eval(), self.x_eval[:1], directory / "model.onnx")]


def export_onnx(model: Any, example: Any, path: Path) -> Path:
    """ONNX export: torch's exporter needs `onnxscript`; without it, the TorchScript exporter is used."""
    import torch

    dynamo = importlib.util.find_spec("onnxscript") is not None
    kwargs: dict[str, Any] = {"dynamo": dynamo, "input_names": ["input"], "output_names": ["logits"]}
    # The batch axis stays dynamic, so that inference runners can batch (the example has one sample).
    if dynamo:
        kwargs["verbose"] = False
        kwargs["dynamic_shapes"] = ({0: torch.export.Dim("batch")},)
        if example.shape[0] == 1:  # torch.export specializes a dimension of size 1: trace with two samples
            example = torch.cat([example, example])
    else:
        kwargs["dynamic_axes"] = {"input": {0: "batch"}, "logits": {0: "batch"}}
    exporter_log = logging.getLogger("torch.onnx")
    level = exporter_log.level
    exporter_log.setLevel(logging.ERROR)      # its torchvision-missing notices are noise for our models
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.onnx.export(model, (example,), str(path), **kwargs)
    finally:
        exporter_log.setLevel(level)
    return path
