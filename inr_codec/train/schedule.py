"""Learning-rate schedule: linear warm-up then cosine decay over the schedule's progress.

Progress is the larger of the fraction of epochs done and the fraction of the time
budget spent, so a ``train.budget_s`` run decays fully within its budget instead of
being cut off at a high learning rate.
"""
from __future__ import annotations

import math


def progress(step: int, total_steps: int, elapsed_s: float, budget_s: float | None) -> float:
    p = step / max(total_steps, 1)
    if budget_s:
        p = max(p, elapsed_s / budget_s)
    return min(p, 1.0)


def learning_rate(p: float, lr: float, warmup: float, final_ratio: float = 0.01, decay: bool = True) -> float:
    """The rate at progress p: a linear warm-up, then a cosine decay to lr * final_ratio (or, without decay,
    constant: Schedule-Free Adam averages its steps instead)."""
    if warmup > 0 and p < warmup:
        return lr * max(p / warmup, 0.02)
    if not decay:
        return lr
    q = (p - warmup) / max(1.0 - warmup, 1e-9)
    lo = lr * final_ratio
    return lo + 0.5 * (lr - lo) * (1.0 + math.cos(math.pi * min(q, 1.0)))
