"""Small C kernels for the CPU training step, compiled on first use and loaded with ctypes.

The kernels are plain C over float pointers (no torch headers), so gcc builds one in about a second; the
shared object is cached under ``$XDG_CACHE_HOME/inrcodec/native`` (``~/.cache`` by default) by a hash of
its source, the flags and the compiler. Where no C compiler exists, or the build fails, ``library`` says
so in one line (once) and returns None: the callers then run their torch reference path, the same math.
``INRCODEC_NATIVE=0`` turns the kernels off (a reference run, or a comparison).
"""
from __future__ import annotations

import ctypes
import functools
import hashlib
import logging
import os
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path

log = logging.getLogger("inr_codec.train")

# -O3 with FMA contraction; no -ffast-math (the kernels test for NaN-free branches and clamp as torch does).
FLAGS = ["-O3", "-march=native", "-fno-math-errno", "-fno-trapping-math", "-fopenmp-simd", "-shared", "-fPIC", "-std=gnu11"]


def enabled() -> bool:
    return os.environ.get("INRCODEC_NATIVE", "1") not in ("0", "false", "no", "off")


def _compiler() -> str | None:
    for cc in (os.environ.get("CC"), "gcc", "cc", "clang"):
        if cc and shutil.which(cc):
            return cc
    return None


def _cpu() -> str:
    """What -march=native compiles for: the CPU's model and flags (Linux), else the machine's name."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        return "".join(sorted({ln for ln in lines if ln.startswith(("model name", "flags"))}))
    except OSError:
        return platform.machine() + platform.processor()


def _cache_dir() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(root) / "inrcodec" / "native"


@functools.lru_cache(maxsize=None)
def library(name: str, source: str) -> ctypes.CDLL | None:
    """The compiled ``source`` (C), built once per source and machine; None (one logged line) where it
    cannot be built or ``INRCODEC_NATIVE=0``."""
    if not enabled():
        return None
    cc = _compiler()
    if cc is None:
        log.warning("no C compiler found (gcc, cc or clang; or set CC): the training step runs its slower "
                    "torch path")
        return None
    key = hashlib.sha256("\0".join([source, cc, *FLAGS, _cpu()]).encode()).hexdigest()[:16]
    path = _cache_dir() / f"{name}-{key}.so"
    try:
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
                src, out = Path(tmp) / f"{name}.c", Path(tmp) / f"{name}.so"
                src.write_text(source)
                subprocess.run([cc, *FLAGS, str(src), "-o", str(out), "-lm"], check=True, capture_output=True,
                               text=True, timeout=120)
                os.replace(out, path)  # atomic: another process may build the same file
        return ctypes.CDLL(str(path))
    except (OSError, subprocess.SubprocessError) as e:
        detail = getattr(e, "stderr", None) or str(e)
        log.warning("the C kernel %s failed to build with %s (%s): the training step runs its slower torch path",
                    name, cc, detail.strip().splitlines()[0][:200] if detail.strip() else type(e).__name__)
        return None


def ptr(t) -> ctypes.c_void_p:
    """A contiguous CPU tensor's data pointer for a kernel."""
    return ctypes.c_void_p(t.data_ptr())
