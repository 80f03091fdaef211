"""Whether a phase's time budget will allow the epochs asked for, forecast from its first steps.

Under ``train.budget_s`` a phase stops when its share of the budget is spent (train/phases.py splits the
budget), whatever ``train.epochs`` says. When the first steps show that it will reach far fewer epochs
than asked, :meth:`BudgetForecast.step` returns one line saying about how many, once per phase.
"""
from __future__ import annotations

from ..words import plural


class BudgetForecast:
    def __init__(self, phase: str, budget_s: float, epochs: int, steps_per_epoch: int, *, after: int = 5,
                 share: float = 0.5):
        self.phase, self.budget_s, self.epochs, self.steps_per_epoch = phase, budget_s, epochs, steps_per_epoch
        self.after, self.share = after, share  # steps measured (past the first, which pays the warm-up); "far fewer"
        self.first: tuple[int, float] | None = None  # (step, elapsed seconds) once the first step is done
        self.done = False

    def step(self, step: int, elapsed_s: float) -> str | None:
        """After optimizer step ``step`` (counted over the whole phase), ``elapsed_s`` into the phase."""
        if self.done:
            return None
        if self.first is None:
            self.first = (step, elapsed_s)
            return None
        measured = step - self.first[0]
        if measured < self.after:
            return None
        self.done = True
        per_step = (elapsed_s - self.first[1]) / measured
        reach_steps = step + max(self.budget_s - elapsed_s, 0.0) / max(per_step, 1e-9)
        reach = reach_steps / self.steps_per_epoch
        if reach >= self.share * self.epochs:
            return None
        if reach >= 1:
            about = f"about {plural(round(reach), 'epoch')}"
        else:
            about = f"less than one epoch (about {int(reach_steps)} of its {self.steps_per_epoch} steps)"
        return (f"{self.phase}: its time budget of {self.budget_s:.0f} s (train.budget_s) will stop it after {about} "
                f"of the {plural(self.epochs, 'epoch')} asked for ({per_step:.3g} s per step, "
                f"{plural(self.steps_per_epoch, 'step')} per epoch); raise train.budget_s or lower train.epochs")
