"""A Trainer phase's progress bar: counted in steps, so it moves within the first epoch however long the
epochs are, with one time-left figure.

The bar's position is the schedule's progress (``schedule.progress``): the share of the steps taken, or
under ``train.budget_s`` the share of the budget spent where that is larger. Its time left is then the
time to whichever ends the phase first, and no second figure is needed. The epoch, the step within it
and the last logged loss, PSNR and frames per second stand after the bar.
"""
from __future__ import annotations

from tqdm import tqdm

FORMAT = "{desc}: {percentage:3.0f}%|{bar}| [{elapsed}<{remaining}{postfix}]"  # tqdm puts ", " before the postfix


class FitBar:
    def __init__(self, phase: str, epochs: int, steps_per_epoch: int, *, done_steps: int, show: bool):
        self.epochs, self.steps_per_epoch = epochs, steps_per_epoch
        self.total = epochs * steps_per_epoch
        self.stats = ""
        self.bar = tqdm(total=self.total, initial=min(done_steps, self.total), disable=not show,
                        dynamic_ncols=True, leave=True, desc=phase, bar_format=FORMAT)
        self.bar.set_postfix_str(self._where(done_steps // max(steps_per_epoch, 1), done_steps % steps_per_epoch),
                                 refresh=False)

    def _where(self, epoch: int, batch: int) -> str:
        at = f"epoch {min(epoch + 1, self.epochs)}/{self.epochs}"
        if self.steps_per_epoch > 1:
            at += f", step {batch}/{self.steps_per_epoch}"
        return at + (f", {self.stats}" if self.stats else "")

    def step(self, p: float, epoch: int, batch: int) -> None:
        """After a step: ``p`` the schedule's progress (0..1), ``epoch`` the epochs done, ``batch`` the steps
        taken in the epoch in progress."""
        if self.bar.disable:
            return
        self.bar.set_postfix_str(self._where(epoch, batch), refresh=False)
        target = min(self.total, max(self.bar.n, round(p * self.total)))
        self.bar.update(target - self.bar.n)

    def epoch_stats(self, text: str) -> None:
        """The last logged epoch's figures (loss, PSNR, frames per second), shown after the position."""
        self.stats = text

    def close(self) -> None:
        self.bar.close()
