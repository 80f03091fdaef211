"""Speed switches of the fitting loop: mixed precision, torch.compile and the fused optimizer.

Each switch is resolved once, before the first step, so an impossible request fails up front
with one line instead of a traceback mid-fit.
"""
from __future__ import annotations

import ctypes
import functools
import logging
import os
import shutil
import sys

import torch

from ..config import PRECISIONS
from ..errors import BackendError, InputError

log = logging.getLogger("inr_codec.train")


def native_bf16(device: torch.device) -> bool:
    """Whether the device computes bf16 convolutions in hardware (so autocast pays off).

    CUDA: compute capability 8.0 (A100) and later. CPU: oneDNN's bf16 kernels need AVX-512 BF16
    or AMX; without them bf16 is emulated and slower than fp32.
    """
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.get_device_capability(device)[0] >= 8
    if device.type == "cpu":
        try:
            return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
        except (AttributeError, RuntimeError):  # pragma: no cover - builds without oneDNN
            return False
    return False


def resolve_precision(name: str, device: torch.device, model: torch.nn.Module | None = None) -> str:
    """``auto`` → bf16 where the device has native bf16, else fp32, and fp32 on the CPU for a model with a
    module that says ``bf16_on_cpu = False`` (measured slower there); ``bf16`` where it has not is an error."""
    if name not in PRECISIONS:
        raise InputError(f"train.precision={name} is not supported; use auto, fp32 or bf16")
    if name == "auto":
        if device.type == "cpu" and model is not None and \
                any(getattr(m, "bf16_on_cpu", True) is False for m in model.modules()):
            return "fp32"
        return "bf16" if native_bf16(device) else "fp32"
    if name == "bf16" and not native_bf16(device):
        log.warning("train.precision=bf16 on %s, which has no native bf16: emulated, likely slower than fp32", device)
    return name


# glibc's mallopt parameters
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_KEEP_BYTES = 1 << 30


@functools.lru_cache(maxsize=None)
def keep_freed_memory() -> bool:
    """Ask glibc to serve allocations up to 1 GiB from its heap and keep freed memory (Linux only; once).

    A CPU step allocates and frees a dozen tensors of several MB; glibc maps each from the kernel and
    unmaps it on free, so every step paid the page faults of zeroing them again (docs/experiments.md, B6).
    A fit holds its peak memory anyway. Returns whether it was applied."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(_M_MMAP_THRESHOLD, _KEEP_BYTES)) and bool(libc.mallopt(_M_TRIM_THRESHOLD, _KEEP_BYTES))
    except (OSError, AttributeError):  # another C library (musl): keep its defaults
        return False


def fused_adam_supported(device: torch.device) -> bool:
    # One kernel for the whole Adam update instead of a handful per tensor (CUDA and, since 2.4, CPU).
    return device.type in ("cuda", "cpu")


def check_compile(device: torch.device) -> None:
    """torch.compile needs a C++ compiler on the CPU and Triton on a GPU; say so up front."""
    if not hasattr(torch, "compile"):  # pragma: no cover - torch < 2.0
        raise BackendError("train.compile=true needs torch 2.0 or later; use train.compile=false")
    if device.type == "cpu":
        cxx = os.environ.get("CXX", "g++")
        if shutil.which(cxx) is None:
            raise BackendError(f"train.compile=true on the CPU needs a C++ compiler ({cxx} not found); "
                               f"install one or use train.compile=false")
    elif device.type == "cuda":
        try:
            import triton  # noqa: F401
        except ImportError:
            raise BackendError("train.compile=true on a GPU needs triton (pip install triton); "
                               "use train.compile=false") from None


def compile_failed(exc: BaseException) -> BackendError:
    """The one-line error for a compilation that failed at the first step."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return BackendError(f"train.compile=true failed to compile the model ({first[:200]}); "
                        f"use train.compile=false")
