"""What the MLPerf training references optimize with that torch does not ship: LARS as the ResNet-50 reference
defines it, and its learning-rate schedule (linear warmup, then polynomial decay to an end rate).

LARS (You et al., as in the MLPerf ResNet-50 references; rule file `closed_resnet_lars.yaml`): for each weight
tensor w with gradient g, weight decay λ, trust coefficient η (0.001), ε (the rules fix 0.0),

    trust = η ‖w‖ / (‖g‖ + λ ‖w‖ + ε)   (1 when ‖w‖ or ‖g‖ is 0)
    v ← m v + lr · trust · (g + λ w)
    w ← w − v

and for the tensors LARS skips (batch-norm parameters and biases: one-dimensional tensors), plain momentum
without weight decay: v ← m v + lr · g. torch is imported when an optimizer is made, never at import.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

TRUST_COEFFICIENT = 0.001   # η of the references
END_LEARNING_RATE = 1e-4    # lars_opt_end_learning_rate and sgd_opt_end_learning_rate: the rules fix 0.0001


@dataclass(frozen=True)
class PolySchedule:
    """Linear warmup from 0 to `base` over `warmup_steps`, then `end + (base - end) (1 - t / decay_steps)^power`
    with t the steps since warmup, held at `end` after `decay_steps` (the logged *_learning_rate_decay_steps)."""

    base: float
    warmup_steps: int
    decay_steps: int
    power: float = 2.0
    end: float = END_LEARNING_RATE

    def __post_init__(self) -> None:
        if self.warmup_steps < 0 or self.decay_steps < 1:
            raise ValueError(f"warmup_steps must be >= 0 and decay_steps >= 1, got {self.warmup_steps}, "
                             f"{self.decay_steps}")

    def __call__(self, step: int) -> float:
        """The rate of optimizer step `step` (0-based)."""
        if step < self.warmup_steps:
            return self.base * (step + 1) / self.warmup_steps
        t = min(step - self.warmup_steps, self.decay_steps)
        return self.end + (self.base - self.end) * (1.0 - t / self.decay_steps) ** self.power


def skipped_by_lars(parameter: Any) -> bool:
    """Batch-norm weights and biases (every one-dimensional tensor): plain momentum, no weight decay."""
    return bool(parameter.ndim <= 1)


def lars(parameters: Iterable[Any], lr: float, momentum: float, weight_decay: float,
         trust_coefficient: float = TRUST_COEFFICIENT, epsilon: float = 0.0) -> Any:
    """A torch optimizer doing LARS as the references do (module docstring) on `parameters`."""
    return _lars_class()(parameters, lr=lr, momentum=momentum, weight_decay=weight_decay,
                         trust_coefficient=trust_coefficient, epsilon=epsilon)


@functools.cache
def _lars_class() -> Any:
    import torch

    class LARS(torch.optim.Optimizer):
        def __init__(self, params: Iterable[Any], lr: float, momentum: float, weight_decay: float,
                     trust_coefficient: float, epsilon: float) -> None:
            for name, value in (("lr", lr), ("momentum", momentum), ("weight_decay", weight_decay),
                                ("trust_coefficient", trust_coefficient), ("epsilon", epsilon)):
                if value < 0:
                    raise ValueError(f"LARS {name} must be >= 0, got {value}")
            super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay,
                                          trust_coefficient=trust_coefficient, epsilon=epsilon))

        @torch.no_grad()
        def step(self, closure: Any = None) -> Any:
            loss = None
            if closure is not None:
                with torch.enable_grad():
                    loss = closure()
            for group in self.param_groups:
                lr, m, wd = group["lr"], group["momentum"], group["weight_decay"]
                for w in group["params"]:
                    if w.grad is None:
                        continue
                    g = w.grad
                    if skipped_by_lars(w):
                        update = g * lr
                    else:
                        w_norm, g_norm = torch.linalg.vector_norm(w), torch.linalg.vector_norm(g)
                        trust = torch.where(
                            (w_norm > 0) & (g_norm > 0),
                            group["trust_coefficient"] * w_norm / (g_norm + wd * w_norm + group["epsilon"]),
                            torch.ones_like(w_norm))
                        update = (g + wd * w) * (lr * trust)
                    state = self.state[w]
                    if "momentum_buffer" not in state:
                        state["momentum_buffer"] = torch.zeros_like(w)
                    v = state["momentum_buffer"]
                    v.mul_(m).add_(update)
                    w.sub_(v)
            return loss

    return LARS
