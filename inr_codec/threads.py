"""How many intra-op threads each inrcodec process uses, and why (docs/experiments.md, "CPU: threads on a
busy machine").

torch's default is one thread per core. On a machine whose cores are also wanted by other processes
(other jobs, the other fits of a sweep, the other ranks of torchrun), every parallel region ends at a
barrier that waits for a descheduled thread, and a fit ran 7-60x slower than with one thread. So every
entry point (``fit``, each joblib job, each torchrun rank, ``decode``, ``eval``, ``bench``) decides:

1. the user's own ``OMP_NUM_THREADS`` wins (torchrun's and joblib's own defaults are not the user's);
2. else ``threads=N`` (``fit``) or ``--threads N`` (the other commands);
3. else ``auto``: the process's share of the cores, cores // concurrent inrcodec workers (joblib jobs
   running at once, or torchrun's local world size), lowered to the cores the machine has free when
   other processes are already running.

Under ``auto`` a :class:`Governor` then follows the machine during a fit: it halves the threads while
the fit's thread waits for a core, and gives them back once the cores are free again.
"""
from __future__ import annotations

import contextlib
import logging
import os
import statistics
import time
from dataclasses import dataclass

from .errors import InputError

log = logging.getLogger("inr_codec")

ENV = "OMP_NUM_THREADS"
MAX_THREADS = 1024
_context: dict = {}   # set by a sweep job before its fit: {"workers": n, "env": the parent's OMP_NUM_THREADS}
_current = None       # the Choice last applied in this process


@dataclass
class Choice:
    threads: int        # intra-op threads now
    source: str         # "OMP_NUM_THREADS", "threads=", "auto"
    target: int         # what auto aims at when the machine is free (== threads unless auto lowered it)
    cores: int          # cores this process may run on
    workers: int        # inrcodec processes sharing them (joblib jobs at once, torchrun local ranks)
    others: float       # other runnable processes seen when deciding
    why: str            # one clause for the log

    @property
    def auto(self) -> bool:
        return self.source == "auto"

    def describe(self) -> str:
        return f"{self.threads} intra-op thread{'' if self.threads == 1 else 's'}: {self.why}"


def parse(value, what: str = "threads") -> int | None:
    """``auto`` (or None) → None; a whole number 1..1024 → itself; anything else is a one-line InputError."""
    if value is None or (isinstance(value, str) and value.strip().lower() == "auto"):
        return None
    if isinstance(value, bool):
        n = None
    elif isinstance(value, int):
        n = value
    else:
        try:
            n = int(str(value).strip())
        except ValueError:
            n = None
    if n is None or not 1 <= n <= MAX_THREADS:
        raise InputError(f"{what}={value} is invalid: give a whole number of threads from 1 to {MAX_THREADS}, "
                         "or auto")
    return n


def cores() -> int:
    """Cores this process may use: its CPU affinity, capped by a cgroup v2 CPU quota where one is set."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    try:
        quota, period = open("/sys/fs/cgroup/cpu.max").read().split()[:2]
        if quota != "max":
            n = min(n, max(1, -(-int(quota) // int(period))))
    except (OSError, ValueError):
        pass
    return max(1, n)


def set_context(*, workers: int, env: str | None) -> None:
    """A sweep job's circumstances, set in the job's process before its fit: how many jobs run at once,
    and the OMP_NUM_THREADS of the user's own environment (joblib's workers get one of joblib's own)."""
    _context.clear()
    _context.update(workers=max(1, int(workers)), env=env)


def _torchrun_env_default() -> bool:
    """True in a torchrun rank whose OMP_NUM_THREADS was set by torchrun itself (it sets 1 for every rank
    when nproc_per_node > 1 and the variable is unset), not by the user: torchrun's own environment as it
    was started (/proc/PPID/environ) does not hold the variable."""
    if "TORCHELASTIC_RUN_ID" not in os.environ and "LOCAL_WORLD_SIZE" not in os.environ:
        return False
    try:
        start_env = open(f"/proc/{os.getppid()}/environ", "rb").read().split(b"\0")
    except OSError:
        return False  # cannot tell: the variable counts as the user's
    return not any(e.startswith(ENV.encode() + b"=") for e in start_env)


def user_env() -> str | None:
    """The user's own OMP_NUM_THREADS, or None where it is unset or set by joblib or torchrun."""
    if "env" in _context:
        return _context["env"]
    value = os.environ.get(ENV)
    if value is None or _torchrun_env_default():
        return None
    return value


def workers() -> int:
    """inrcodec processes sharing this machine's cores: a joblib sweep's jobs at once or torchrun's local ranks."""
    if _context.get("workers"):
        return _context["workers"]
    try:
        if int(os.environ.get("WORLD_SIZE", "1") or 1) > 1:
            return max(1, int(os.environ.get("LOCAL_WORLD_SIZE", os.environ.get("WORLD_SIZE", "1"))))
    except ValueError:
        pass
    return 1


def running_tasks() -> int | None:
    """Runnable tasks on the machine right now (the kernel's count in /proc/loadavg), this thread included."""
    try:
        return int(open("/proc/loadavg").read().split()[3].split("/")[0])
    except (OSError, ValueError, IndexError):
        return None


def others_running(samples: int = 5, gap_s: float = 0.01, own: int = 1) -> float:
    """Other processes' runnable tasks, the median of a few samples (one sample is noisy); ``own`` of this
    process's threads are counted by the kernel too. Where /proc is missing, the 1-minute load average."""
    seen = []
    for i in range(samples):
        n = running_tasks()
        if n is None:
            break
        seen.append(max(0, n - own))
        if i + 1 < samples:
            time.sleep(gap_s)
    if seen:
        return float(statistics.median(seen))
    try:
        return max(0.0, os.getloadavg()[0] - own)
    except (AttributeError, OSError):
        return 0.0


def decide(setting=None, *, what: str = "threads", env: str | None = None, ncores: int | None = None,
           nworkers: int | None = None, others: float | None = None) -> Choice:
    """The thread count for this process (see the module's docstring for the order). The keyword arguments
    stand in for the machine in tests; None reads it."""
    ncores = cores() if ncores is None else ncores
    nworkers = workers() if nworkers is None else nworkers
    env = user_env() if env is None else (env or None)
    share = max(1, ncores // nworkers)
    n = parse(setting, what)  # checked even where the environment wins: a bad value is always an error
    if env is not None:
        e = parse(env.split(",")[0], ENV)  # OpenMP's nested form "4,2": the outer level is ours
        return Choice(e, ENV, e, ncores, nworkers, 0.0, f"{ENV}={env} from the environment")
    if n is not None:
        return Choice(n, f"{what}=", n, ncores, nworkers, 0.0, f"{what}={n}")
    others = others_running() if others is None else others
    # The other workers of our own sweep or torchrun group are part of the share already.
    free = ncores - max(0.0, others - (nworkers - 1))
    if nworkers > 1:
        why = f"{ncores} cores / {nworkers} workers"
    else:
        why = f"{ncores} cores"
    n = share
    if free < share:
        n = max(1, int(free))
        why += f", {others:g} other runnable process(es): the machine is busy"
    return Choice(n, "auto", share, ncores, nworkers, others, f"auto, {why}")


def apply(choice: Choice, *, interop: bool = True) -> Choice:
    """Make torch use ``choice.threads`` (and as many inter-op threads, where torch still allows it)."""
    import torch
    global _current
    torch.set_num_threads(choice.threads)
    if interop:
        try:
            torch.set_num_interop_threads(max(1, choice.threads))
        except RuntimeError:  # only before the first inter-op work; later calls keep the first setting
            pass
    _current = choice
    return choice


def configure(setting=None, *, what: str = "threads", command: str = "inrcodec") -> Choice:
    """decide() and apply() for one command; logs the choice."""
    choice = apply(decide(setting, what=what))
    log.info("%s: %s", command, choice.describe())
    return choice


@contextlib.contextmanager
def kept():
    """Put torch's thread count back as it was afterwards: a command run through the Python API leaves the
    caller's process as it found it (the command line's process ends anyway)."""
    import torch
    before = torch.get_num_threads()
    try:
        yield
    finally:
        torch.set_num_threads(before)


def current() -> Choice | None:
    return _current


def thread_wait_ns() -> tuple[int, int] | None:
    """(ns on a CPU, ns waiting for one) of the calling thread so far (/proc/thread-self/schedstat)."""
    try:
        run, wait = open("/proc/thread-self/schedstat").read().split()[:2]
        return int(run), int(wait)
    except (OSError, ValueError):
        return None


class Governor:
    """Under ``auto``, follows the machine during a fit, called between steps (``tick()``).

    Every ``interval_s`` it reads how long the fit's thread waited for a core (schedstat): above
    ``busy_wait`` of the interval twice in a row, the threads are halved (down to 1); once it stays
    under ``free_wait`` three times in a row and the other processes leave room for ``target``
    threads, the threads go back to ``target``. A choice made by hand (OMP_NUM_THREADS, threads=) is
    never changed. ``probe`` and ``clock`` stand in for the machine in tests."""

    def __init__(self, choice: Choice | None = None, *, interval_s: float = 1.0, busy_wait: float = 0.2,
                 free_wait: float = 0.05, clock=time.monotonic, probe=None, others=None, set_threads=None):
        self.choice = choice if choice is not None else _current
        self.interval_s, self.busy_wait, self.free_wait = interval_s, busy_wait, free_wait
        self.clock, self.probe = clock, probe or thread_wait_ns
        self.others = others or (lambda own: others_running(samples=3, gap_s=0.002, own=own))
        self.set_threads = set_threads or _set_torch_threads
        self.wait_share = 0.0   # the last interval's share of time spent waiting for a core
        self._last = None
        self._busy = self._free = 0

    def tick(self) -> str | None:
        """A note (for the log) when it changed the threads, else None."""
        if self.choice is None or not self.choice.auto:
            return None
        now = self.clock()
        if self._last is not None and now - self._last[0] < self.interval_s:
            return None
        sample = self.probe()
        if sample is None:
            return None
        if self._last is None:
            self._last = (now, sample)
            return None
        (t0, (_, w0)), (_, w1) = self._last, sample
        self._last = (now, sample)
        self.wait_share = max(0.0, min(1.0, (w1 - w0) / 1e9 / max(now - t0, 1e-9)))
        c = self.choice
        if self.wait_share > self.busy_wait:
            self._busy, self._free = self._busy + 1, 0
            if self._busy >= 2 and c.threads > 1:
                self._busy = 0
                return self._set(max(1, c.threads // 2), f"the fit waited for a core {self.wait_share:.0%} of the "
                                                         "time: the machine is busy")
        elif self.wait_share < self.free_wait:
            self._free, self._busy = self._free + 1, 0
            if self._free >= 3 and c.threads < c.target:
                self._free = 0
                others = self.others(c.threads)
                room = c.cores - max(0.0, others - (c.workers - 1))
                if room >= c.target:
                    return self._set(c.target, "the cores are free again")
        else:
            self._busy = self._free = 0
        return None

    def _set(self, n: int, why: str) -> str:
        was = self.choice.threads
        self.set_threads(n)
        self.choice.threads = n
        return f"threads {was} -> {n}: {why}"


def _set_torch_threads(n: int) -> None:
    import torch
    torch.set_num_threads(n)
