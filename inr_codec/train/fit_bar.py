"""A Trainer phase's progress bar: counted in steps, so it moves within the first epoch however long the
epochs are, with one time-left figure.

The bar's position is the schedule's progress (``schedule.progress``): the share of the steps taken, or
under ``train.budget_s`` the share of the budget spent where that is larger. Its time left is then the
time to whichever ends the phase first, and no second figure is needed. The epoch, the step within it
and the last logged loss, PSNR and frames per second stand after the bar.

Where stderr is no terminal (a log file, a pipe, CI) a carriage-return bar would leave one update per step
in the log: there the same figures are a plain line every ``LINE_EVERY_S`` seconds and one when the phase ends.
"""
from __future__ import annotations

import sys
import time

from tqdm import tqdm

LINE_EVERY_S = 10.0  # seconds between progress lines where stderr is no terminal

FORMAT = "{desc}: {percentage:3.0f}%|{bar}| [{elapsed}<{remaining}{postfix}]"  # tqdm puts ", " before the postfix


class _Nowhere:
    """A stream that drops what the bar draws (line mode)."""

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


def _clock(seconds: float) -> str:
    m, s = divmod(int(round(seconds)), 60)
    return f"{m // 60}:{m % 60:02d}:{s:02d}" if m >= 60 else f"{m:02d}:{s:02d}"


class FitBar:
    def __init__(self, phase: str, epochs: int, steps_per_epoch: int, *, done_steps: int, show: bool,
                 tty: bool | None = None):
        self.phase, self.epochs, self.steps_per_epoch = phase, epochs, steps_per_epoch
        self.total = epochs * steps_per_epoch
        self.stats = ""
        tty = sys.stderr.isatty() if tty is None else tty
        self.lines = show and not tty  # plain lines instead of the bar
        self.t0 = self.last_line = time.monotonic()
        self.start_p, self.p, self.at = min(done_steps / max(self.total, 1), 1.0), 0.0, ""
        # in line mode the bar still runs (the trainer writes its warnings "above" it) but draws nowhere
        self.bar = tqdm(total=self.total, initial=min(done_steps, self.total), disable=not show,
                        file=_Nowhere() if self.lines else None, dynamic_ncols=True, leave=True, desc=phase,
                        bar_format=FORMAT)
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
        if self.lines:
            self.p, self.at = p, self._where(epoch, batch)
            if time.monotonic() - self.last_line >= LINE_EVERY_S:
                self._line()
            self.bar.update(min(self.total, max(self.bar.n, round(p * self.total))) - self.bar.n)
            return
        if self.bar.disable:
            return
        self.bar.set_postfix_str(self._where(epoch, batch), refresh=False)
        target = min(self.total, max(self.bar.n, round(p * self.total)))
        self.bar.update(target - self.bar.n)

    def epoch_stats(self, text: str) -> None:
        """The last logged epoch's figures (loss, PSNR, frames per second), shown after the position."""
        self.stats = text

    def _line(self) -> None:
        """One progress line: the share done, where, the last figures, the time spent and left."""
        now = time.monotonic()
        self.last_line = now
        spent, done = now - self.t0, self.p - self.start_p
        left = f", {_clock(spent * (1 - self.p) / done)} left" if 0 < done and self.p < 1 else ""
        print(f"{self.phase}: {100 * self.p:3.0f}% [{self.at}] {_clock(spent)} spent{left}", file=sys.stderr,
              flush=True)

    def close(self) -> None:
        if self.lines and self.at:
            self._line()
        self.bar.close()
