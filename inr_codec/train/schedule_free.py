"""Schedule-Free Adam (``train.optimizer=schedule_free``): Adam without a decaying schedule, after Defazio et
al., "The Road Less Scheduled" (2024), written from the paper's update rule.

Three sequences per parameter: ``z`` takes plain Adam steps at a constant learning rate (after the warm-up),
``x`` is a running average of ``z`` weighted by each step's squared learning rate, and the gradient is taken
at their blend ``y = (1 - beta1) z + beta1 x``, which the module's parameters hold while training::

    v   <- beta2 v + (1 - beta2) g^2
    z   <- z - lr * g / (sqrt(v / (1 - beta2^t)) + eps)
    x   <- x + c (z - x),        c = lr_t^2 / sum_{i <= t} lr_i^2
    y   <- (1 - beta1) z + beta1 x

At the end of a fit :meth:`finalize` puts ``x`` in the parameters: the weights the file codes. The average
replaces the cosine decay, so the fit's schedule is the warm-up and then a constant rate
(``schedule.learning_rate(decay=False)``). Measured against Adam at the latent defaults: −7.2% BD-rate on
the sample, +2.8% on the 132-frame clip, so not the default (docs/experiments.md, "Schedule-Free Adam").

The state (``z``, ``x``, ``v``, the step count, and the running sum of squared rates in the first group) is
the optimizer's ``state_dict``, so a resumed fit continues exactly.
"""
from __future__ import annotations

import torch


class ScheduleFreeAdam(torch.optim.Optimizer):
    def __init__(self, params, lr: float, betas=(0.9, 0.999), eps: float = 1e-8):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps))
        self.param_groups[0].setdefault("lr2_sum", 0.0)

    @torch.no_grad()
    def step(self, closure=None):
        # c is the same for every group: their rates differ by a constant scale (the trainer's lr_scale)
        base = max(g["lr"] / g.get("lr_scale", 1.0) for g in self.param_groups)
        first = self.param_groups[0]
        first["lr2_sum"] += base * base
        c = base * base / first["lr2_sum"] if first["lr2_sum"] > 0 else 1.0
        for g in self.param_groups:
            b1, b2 = g["betas"]
            for p in g["params"]:
                if p.grad is None:
                    continue
                st = self.state[p]
                if not st:
                    st["z"], st["x"], st["v"], st["t"] = p.detach().clone(), p.detach().clone(), torch.zeros_like(p), 0
                st["t"] += 1
                st["v"].mul_(b2).addcmul_(p.grad, p.grad, value=1 - b2)
                denom = (st["v"] / (1 - b2 ** st["t"])).sqrt_().add_(g["eps"])
                st["z"].addcdiv_(p.grad, denom, value=-g["lr"])
                st["x"].lerp_(st["z"], c)
                p.copy_(st["z"] * (1 - b1) + st["x"] * b1)

    @torch.no_grad()
    def finalize(self) -> None:
        """Put the averaged weights ``x`` in the parameters (idempotent: ``x`` does not change)."""
        for g in self.param_groups:
            for p in g["params"]:
                if self.state[p]:
                    p.copy_(self.state[p]["x"])
