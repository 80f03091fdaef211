"""The output head in one kernel: conv k×k (C → 3) + bias → sigmoid → ×255, round, clamp → uint8,
written straight into cropped (B, H, W, 3) frames.

Implicit GEMM like ``conv_shuffle_gelu`` with activations NHWC: M = B·H·W pixels of the *cropped*
frame (each maps to padded-frame pixel (h + top, w + left)), K = k·k·C ordered (ky, kx, c), and N = 3
padded to 16 in the tile (``tl.dot`` needs N ≥ 16; the tensor cores still beat 3-wide FMAs).
Rounding is half away from zero (floor(v + 0.5)); the reference's half-to-even differs only on
exact .5 values, which a sigmoid output almost never hits and which stay within one level.
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

from ._common import check_nhwc, configs, conv_tile, dot_precision, upcast_dot

_CONFIGS = configs(
    gpu=[
        dict(BLOCK_M=128, BLOCK_K=32),
        dict(BLOCK_M=256, BLOCK_K=32),
        dict(BLOCK_M=128, BLOCK_K=64),
        dict(BLOCK_M=64, BLOCK_K=64),
    ],
    warps=[4, 8, 4, 4],
    stages=[3, 3, 3, 4],
    interp=dict(BLOCK_M=64, BLOCK_K=32),
)


@triton.autotune(configs=_CONFIGS, key=["M", "K", "Wp", "W", "KS"])
@triton.jit
def _conv_head_uint8_kernel(
    x_ptr, w_ptr, b_ptr, y_ptr,
    M, Hp, Wp, C, H, W, TOP, LEFT, K,
    KS: tl.constexpr, PRECISION: tl.constexpr, UPCAST: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_K: tl.constexpr,
):
    BLOCK_N: tl.constexpr = 16
    pid = tl.program_id(0)
    offs_m = pid * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = tl.arange(0, BLOCK_N)
    m_ok = offs_m < M
    n_ok = offs_n < 3
    w_pix = offs_m % W
    t = offs_m // W
    h_pix = t % H
    b_img = (t // H).to(tl.int64)
    hp = h_pix + TOP
    wp = w_pix + LEFT
    base = ((b_img * Hp + hp) * Wp + wp) * C
    acc = conv_tile(x_ptr, w_ptr, base, hp, wp, m_ok, offs_n, n_ok, Hp, Wp, C, 3, K,
                    KS, PRECISION, UPCAST, BLOCK_M, BLOCK_N, BLOCK_K)

    acc += tl.load(b_ptr + offs_n, mask=n_ok, other=0.0)[None, :]
    v = tl.sigmoid(acc) * 255.0
    v = tl.minimum(tl.maximum(tl.floor(v + 0.5), 0.0), 255.0)
    tl.store(y_ptr + offs_m.to(tl.int64)[:, None] * 3 + offs_n[None, :], v.to(tl.uint8),
             mask=m_ok[:, None] & n_ok[None, :])


def pack_weight(weight: torch.Tensor, bias: torch.Tensor, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """A Conv2d weight (3, C, k, k) and bias → the kernel's (k·k·C, 3) matrix in ``dtype`` and fp32 bias."""
    n, c, k, k2 = weight.shape
    if n != 3 or k != k2 or k % 2 == 0:
        raise ValueError(f"head weight {tuple(weight.shape)} is not an odd square conv to 3 channels")
    w = weight.detach().permute(2, 3, 1, 0).reshape(k * k * c, 3)
    return w.to(dtype).contiguous(), bias.detach().to(torch.float32).contiguous()


def conv_head_uint8(x: torch.Tensor, w_k3: torch.Tensor, bias3: torch.Tensor, kernel: int,
                    crop: tuple[int, int, int, int] | None = None, out: torch.Tensor | None = None) -> torch.Tensor:
    """uint8 frames (B, H, W, 3) = round(255·sigmoid(conv(x) + bias)) for NHWC ``x`` (B, Hp, Wp, C).

    ``crop`` = (top, left, height, width) picks the window of the padded frame to write (default: all).
    """
    check_nhwc(x, "x")
    bsz, hp, wp, c = x.shape
    top, left, h, w = crop if crop is not None else (0, 0, hp, wp)
    if not (0 <= top and 0 <= left and h > 0 and w > 0 and top + h <= hp and left + w <= wp):
        raise ValueError(f"crop {crop} is outside the {hp}x{wp} frame")
    k_dim = kernel * kernel * c
    if tuple(w_k3.shape) != (k_dim, 3):
        raise ValueError(f"packed head weight {tuple(w_k3.shape)} does not fit C={c}, k={kernel}")
    shape = (bsz, h, w, 3)
    if out is None:
        out = torch.empty(shape, device=x.device, dtype=torch.uint8)
    elif tuple(out.shape) != shape or out.dtype != torch.uint8 or not out.is_contiguous():
        raise ValueError(f"out must be a contiguous {shape} uint8 tensor")
    m = bsz * h * w

    def grid(meta):
        return (triton.cdiv(m, meta["BLOCK_M"]),)

    _conv_head_uint8_kernel[grid](
        x, w_k3, bias3, out, m, hp, wp, c, h, w, top, left, k_dim,
        KS=kernel, PRECISION=dot_precision(x.dtype), UPCAST=upcast_dot(x.dtype))
    return out
