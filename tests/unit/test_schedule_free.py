"""Schedule-Free Adam (train/schedule_free.py) against the paper's update rule computed by hand, its average,
its state across a save and load, and the constant schedule it runs under."""
import math

import pytest
import torch

from inr_codec.train.schedule import learning_rate
from inr_codec.train.schedule_free import ScheduleFreeAdam


def test_two_steps_of_a_scalar_follow_the_update_rule_by_hand():
    w = torch.nn.Parameter(torch.tensor([2.0], dtype=torch.float64))
    opt = ScheduleFreeAdam([w], lr=0.1)
    b1, b2, eps = 0.9, 0.999, 1e-8
    z = x = y = 2.0
    v, lr2 = 0.0, 0.0
    for t, lr in ((1, 0.05), (2, 0.1)):
        g = 2 * y  # d/dy of y^2
        v = b2 * v + (1 - b2) * g * g
        z = z - lr * g / (math.sqrt(v / (1 - b2 ** t)) + eps)
        lr2 += lr * lr
        x = x + lr * lr / lr2 * (z - x)
        y = (1 - b1) * z + b1 * x
        opt.param_groups[0]["lr"] = lr
        opt.zero_grad()
        (w ** 2).sum().backward()
        opt.step()
        assert w.item() == pytest.approx(y, rel=1e-12)
    opt.finalize()
    assert w.item() == pytest.approx(x, rel=1e-12)


def test_at_a_constant_rate_the_weights_coded_are_the_plain_average_of_the_steps():
    torch.manual_seed(0)
    w = torch.nn.Parameter(torch.randn(6, dtype=torch.float64))
    opt = ScheduleFreeAdam([w], lr=0.05)
    zs = []
    for _ in range(7):
        opt.zero_grad()
        ((w - 1.0) ** 2).sum().backward()
        opt.step()
        zs.append(opt.state[w]["z"].clone())
    opt.finalize()
    torch.testing.assert_close(w.detach(), torch.stack(zs).mean(0), rtol=1e-12, atol=1e-12)
    before = w.detach().clone()
    opt.finalize()
    assert torch.equal(w.detach(), before)  # idempotent: a finished phase resumed finalizes again


def _run(steps: int, opt=None, w=None, first: int = 0):
    if w is None:
        torch.manual_seed(1)
        w = torch.nn.Parameter(torch.randn(3, 4))
        opt = ScheduleFreeAdam([{"params": [w], "lr_scale": 10.0}], lr=0.01)
    for i in range(first, first + steps):
        opt.param_groups[0]["lr"] = 0.001 * (i + 1)
        opt.zero_grad()
        (w.sin() ** 2).sum().backward()
        opt.step()
    return w, opt


def test_the_state_dict_continues_a_run_exactly():
    whole, _ = _run(10)
    w, opt = _run(4)
    saved = {k: v for k, v in opt.state_dict().items()}
    w2 = torch.nn.Parameter(w.detach().clone())
    opt2 = ScheduleFreeAdam([{"params": [w2], "lr_scale": 10.0}], lr=0.01)
    opt2.load_state_dict(saved)
    assert opt2.param_groups[0]["lr2_sum"] == opt.param_groups[0]["lr2_sum"] > 0
    _run(6, opt2, w2, first=4)
    assert torch.equal(w2.detach(), whole.detach())


def test_without_decay_the_rate_is_the_warm_up_then_constant():
    assert learning_rate(0.05, 1.0, 0.1, decay=False) == pytest.approx(0.5)
    assert learning_rate(0.5, 1.0, 0.1, decay=False) == learning_rate(1.0, 1.0, 0.1, decay=False) == 1.0
    assert learning_rate(1.0, 1.0, 0.1) == pytest.approx(0.01)  # adam's cosine, unchanged
