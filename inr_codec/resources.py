"""Memory checks made before work starts: refuse up front, with the numbers, what cannot fit.

A fit holds the decoded RGB frames about three times at its peak: the decoded video, the copy
cached (padded) for fitting, and the frames decoded from the written file to measure its PSNR.
``check_fit_memory`` probes the video's size from its headers (``io.probe_video``, no RGB
conversion) and compares that with the memory this process can still get: the smaller of the
kernel's ``MemAvailable`` and what the cgroup (container) limit leaves.
"""
from __future__ import annotations

import os
from pathlib import Path

from .errors import InputError
from .words import plural

COPIES = 3                 # RGB copies of the video alive at the peak of a fit (see module docstring)
OVERHEAD = 512 * 2**20     # the model, optimizer, activations of a batch, torch itself


def _read_int(path: str) -> int | None:
    try:
        text = Path(path).read_text().split()[0]
    except (OSError, IndexError):
        return None
    return int(text) if text.isdigit() else None  # "max" (no limit) is not a number


def _cgroup_headroom() -> int | None:
    """Bytes the cgroup limit still allows (v2, then v1), or None without a limit."""
    for limit_file, usage_file in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                                   ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                                    "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        limit, usage = _read_int(limit_file), _read_int(usage_file)
        if limit is not None and usage is not None and limit < 2**60:
            return max(limit - usage, 0)
    return None


def available_memory() -> int | None:
    """Bytes of RAM this process can still allocate without swapping or being killed; None if unknown."""
    avail = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    avail = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        pass
    if avail is None:
        try:
            import psutil  # optional
            avail = int(psutil.virtual_memory().available)
        except Exception:  # noqa: BLE001 - not installed or not supported here
            return None
    headroom = _cgroup_headroom()
    return avail if headroom is None else min(avail, headroom)


def _gb(n: float) -> str:
    return f"{n / 1e9:.2f} GB" if n < 1e10 else f"{n / 1e9:.0f} GB"


def check_fit_memory(path, frames: int, height: int, width: int, available: int | None = None) -> None:
    """Refuse a fit whose frames cannot be held in memory, naming the sizes and what to do."""
    available = available_memory() if available is None else available
    if available is None:
        return
    frame_bytes = height * width * 3
    need = COPIES * frames * frame_bytes + OVERHEAD
    if need <= available:
        return
    fits = max((available - OVERHEAD) // (COPIES * frame_bytes), 0)
    what = (f"fit at most {plural(fits, 'frame')} with data.max_frames={fits}, or use a smaller video" if fits >= 1 else
            "even one frame is too large; scale the video down first")
    raise InputError(f"{os.fspath(path)}: {plural(frames, 'frame')} of {width}x{height} need about {_gb(need)} of memory "
                     f"({_gb(frames * frame_bytes)} of RGB frames, held {COPIES} times while fitting) but only "
                     f"{_gb(available)} is available; {what}")
