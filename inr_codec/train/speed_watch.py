"""Say once, in one line, when a fit runs far below its expected speed because the machine is busy.

The trainer gives :meth:`SpeedWatch.step` each step's wall seconds. The expected speed is the fastest
the fit has run: the lowest median of ``window`` consecutive steps seen so far. A fit that starts on
an already busy machine never ran fast, so the watch also asks the thread governor
(:class:`inr_codec.threads.Governor`, which it ticks) how much of the time the fit's thread spent
waiting for a core: waiting a share w of the time makes a step 1 / (1 - w) times slower. When the
larger of the two slowdowns stays at ``factor`` or more for ``min_s`` seconds, ``step`` returns one
line naming the load, and never again in this fit.
"""
from __future__ import annotations

import collections
import logging
import os
import statistics
import sys
import time


def load_average() -> float | None:
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


class SpeedWatch:
    def __init__(self, *, governor=None, factor: float = 3.0, window: int = 8, min_s: float = 5.0,
                 clock=time.monotonic, load=load_average, cores: int | None = None, threads=None):
        self.governor = governor
        self.factor, self.window, self.min_s = factor, window, min_s
        self.clock, self.load = clock, load
        self.cores = cores or os.cpu_count() or 1
        self.threads = threads          # callable: the fit's threads now (for the message)
        self.recent = collections.deque(maxlen=window)
        self.best: float | None = None  # the lowest median of ``window`` steps seen so far
        self.slow_since: float | None = None
        self.warned = False
        self.notes: list[str] = []      # the governor's thread changes, for the caller to log

    def slowdown(self) -> float:
        """How many times slower than expected the last ``window`` steps ran (1.0: as expected)."""
        by_steps = 1.0
        if len(self.recent) == self.window:
            median = statistics.median(self.recent)
            self.best = median if self.best is None else min(self.best, median)
            by_steps = median / max(self.best, 1e-12)
        by_wait = 1.0
        if self.governor is not None:
            by_wait = 1.0 / max(1.0 - self.governor.wait_share, 1e-3)
        return max(by_steps, by_wait)

    def step(self, seconds: float) -> str | None:
        """Record one step; the one-line warning the first time the fit has been slow for ``min_s`` seconds."""
        self.recent.append(float(seconds))
        if self.governor is not None:
            note = self.governor.tick()
            if note:
                self.notes.append(note)
        if self.warned:
            return None
        now = self.clock()
        slow = self.slowdown()
        if slow < self.factor:
            self.slow_since = None
            return None
        if self.slow_since is None:
            self.slow_since = now
        if now - self.slow_since < self.min_s:
            return None
        self.warned = True
        load = self.load()
        where = f"load average {load:.1f} on {self.cores} cores" if load is not None else f"{self.cores} cores"
        threads = self.threads() if self.threads else None
        used = f", {threads} thread{'' if threads == 1 else 's'}" if threads else ""
        return (f"the machine is busy: this fit runs about {slow:.0f}x slower than its expected speed "
                f"({where}{used}); other processes hold the CPU, it continues at its share")

    def new_baseline(self) -> None:
        """Steps of a different cost follow (NIRVANA's next group): forget the fastest window seen."""
        self.recent.clear()
        self.best, self.slow_since = None, None

    def take_notes(self) -> list[str]:
        notes, self.notes = self.notes, []
        return notes


def for_device(device):
    """The watch for a fit on ``device`` (with the thread governor), or None off the CPU, where steps are
    asynchronous and the cores are not what a step waits for."""
    if getattr(device, "type", str(device)) != "cpu":
        return None
    import torch

    from .. import threads
    return SpeedWatch(governor=threads.Governor(), cores=threads.cores(), threads=torch.get_num_threads)


def report(watch, seconds: float, *, log, phase: str, bar=None) -> None:
    """One step through the watch: the governor's thread changes go to the log, the busy-machine line to
    the log and, above the progress bar, to the terminal."""
    if watch is None:
        return
    line = watch.step(seconds)
    for note in watch.take_notes():
        log.info("%s: %s", phase, note)
    if line:
        from . import distributed  # under torchrun rank 0 says it (in fit.log and above the bar); the others log it
        log.log(logging.WARNING if distributed.is_main() else logging.INFO, "%s: %s", phase, line)
        if bar is not None and not bar.disable:
            bar.write(f"inrcodec: {line}", file=sys.stderr)  # above the bar, on the bar's stream
            bar.set_description(f"{phase} (busy machine)")
