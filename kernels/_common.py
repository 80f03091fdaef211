"""What the kernels share: interpreter detection, autotune configs, dtype mapping, the conv tile loop."""
from __future__ import annotations

import os

import torch
import triton
import triton.language as tl


def interpreted() -> bool:
    """True when ``@triton.jit`` builds interpreter functions (TRITON_INTERPRET=1 when the kernels were imported).

    Triton 3.x reads TRITON_INTERPRET when a kernel is *decorated*, i.e. when the kernel module is imported,
    so this is fixed for the life of the process once ``inr_codec.kernels`` is imported.
    """
    return os.environ.get("TRITON_INTERPRET", "0").lower() in ("1", "true", "on", "yes")


INTERPRETED = interpreted()

SUPPORTED_DTYPES = (torch.float32, torch.float16, torch.bfloat16)


def configs(gpu: list[dict], interp: dict, warps: list[int] | None = None, stages: list[int] | None = None):
    """Autotune configs: a few on the GPU; one small one under the interpreter (it runs every config)."""
    if INTERPRETED:
        return [triton.Config(interp, num_warps=1, num_stages=1)]
    warps = warps or [4] * len(gpu)
    stages = stages or [3] * len(gpu)
    return [triton.Config(c, num_warps=w, num_stages=s) for c, w, s in zip(gpu, warps, stages)]


def dot_precision(dtype: torch.dtype) -> str:
    """fp32 operands: full-precision products ('ieee'), not tf32, so fp32 matches the reference to ~1e-5."""
    return "ieee" if dtype == torch.float32 else "tf32"


def upcast_dot(dtype: torch.dtype) -> bool:
    """The interpreter's dot is numpy matmul, which cannot multiply bf16 (stored as uint16): upcast there.

    bf16 values are exact in fp32 and the GPU accumulates bf16 products in fp32, so the numbers agree.
    """
    return INTERPRETED and dtype == torch.bfloat16


def check_nhwc(x: torch.Tensor, name: str) -> None:
    if x.dim() != 4 or not x.is_contiguous():
        raise ValueError(f"{name} must be a contiguous NHWC (B, H, W, C) tensor, got shape {tuple(x.shape)}")
    if x.dtype not in SUPPORTED_DTYPES:
        raise ValueError(f"{name} has dtype {x.dtype}; the kernels take float32, float16 or bfloat16")


@triton.jit
def conv_tile(x_ptr, w_ptr, base, hp, wp, m_ok, offs_n, n_ok, HB, WB, C, N, K,
              KS: tl.constexpr, PRECISION: tl.constexpr, UPCAST: tl.constexpr,
              BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr):
    """One (BLOCK_M, BLOCK_N) tile of a k×k 'same' convolution as an implicit GEMM, fp32 accumulator.

    Rows are output pixels at (hp, wp) of an NHWC input of HB×WB pixels and C channels, whose first
    channel sits at ``base``; K = (ky, kx, c) runs over the taps, and the packed weight is (K, N)
    row-major. Taps outside the HB×WB frame read zeros (the conv's zero padding).
    """
    PAD: tl.constexpr = KS // 2
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for k0 in range(0, K, BLOCK_K):
        offs_k = k0 + tl.arange(0, BLOCK_K)
        k_ok = offs_k < K
        tap = offs_k // C
        ci = offs_k % C
        dy = tap // KS - PAD
        dx = tap % KS - PAD
        hh = hp[:, None] + dy[None, :]
        ww = wp[:, None] + dx[None, :]
        a_mask = m_ok[:, None] & k_ok[None, :] & (hh >= 0) & (hh < HB) & (ww >= 0) & (ww < WB)
        a = tl.load(x_ptr + base[:, None] + ((dy * WB + dx) * C + ci)[None, :], mask=a_mask, other=0.0)
        b = tl.load(w_ptr + offs_k[:, None] * N + offs_n[None, :], mask=k_ok[:, None] & n_ok[None, :], other=0.0)
        if UPCAST:
            a = a.to(tl.float32)
            b = b.to(tl.float32)
        acc = tl.dot(a, b, acc, input_precision=PRECISION)
    return acc
