"""LARS and the poly schedule of the MLPerf ResNet-50 references, against the formulas written out in numpy."""

from __future__ import annotations

import numpy as np
import pytest

from podium.workloads.optim import PolySchedule, lars

torch = pytest.importorskip("torch")


def reference_lars(w, v, g, lr, m, wd, eta=0.001, eps=0.0, skip=False):
    """One step as the references' LARSOptimizer writes it (classic momentum), in numpy."""
    if skip:
        v = m * v + lr * g
    else:
        wn, gn = np.linalg.norm(w), np.linalg.norm(g)
        trust = eta * wn / (gn + wd * wn + eps) if wn > 0 and gn > 0 else 1.0
        v = m * v + lr * trust * (g + wd * w)
    return w - v, v


def test_lars_steps_as_the_references_write_it() -> None:
    rng = np.random.default_rng(0)
    weight, bias = rng.normal(size=(4, 3)).astype(np.float64), rng.normal(size=4).astype(np.float64)
    params = [torch.tensor(weight, requires_grad=True), torch.tensor(bias, requires_grad=True)]
    opt = lars(params, lr=2.5, momentum=0.9, weight_decay=5e-5)
    want = [(weight, np.zeros_like(weight)), (bias, np.zeros_like(bias))]
    for step in range(3):
        grads = [rng.normal(size=weight.shape), rng.normal(size=bias.shape)]
        for p, g in zip(params, grads):
            p.grad = torch.tensor(g)
        opt.step()
        want = [reference_lars(*want[0], grads[0], 2.5, 0.9, 5e-5),
                reference_lars(*want[1], grads[1], 2.5, 0.9, 5e-5, skip=True)]   # the bias: plain momentum
        for p, (w, _) in zip(params, want):
            np.testing.assert_allclose(p.detach().numpy(), w, rtol=1e-12, atol=1e-12, err_msg=f"step {step}")


def test_a_zero_gradient_or_weight_takes_the_plain_rate() -> None:
    w = torch.zeros(3, 3, requires_grad=True)
    w.grad = torch.ones(3, 3)
    lars([w], lr=0.1, momentum=0.0, weight_decay=0.0).step()
    assert torch.allclose(w, torch.full((3, 3), -0.1))


def test_lars_refuses_negative_settings() -> None:
    with pytest.raises(ValueError, match="momentum must be >= 0"):
        lars([torch.zeros(2, 2, requires_grad=True)], lr=0.1, momentum=-0.9, weight_decay=0.0)


def test_the_poly_schedule_warms_up_then_decays_to_the_end_rate() -> None:
    s = PolySchedule(base=10.0, warmup_steps=5, decay_steps=100, power=2)
    assert [s(i) for i in range(5)] == pytest.approx([2.0, 4.0, 6.0, 8.0, 10.0])
    assert s(5) == pytest.approx(10.0)
    assert s(5 + 50) == pytest.approx(1e-4 + (10.0 - 1e-4) * 0.25)
    assert s(5 + 100) == pytest.approx(1e-4) and s(10_000) == pytest.approx(1e-4)
    with pytest.raises(ValueError):
        PolySchedule(base=1.0, warmup_steps=0, decay_steps=0)
