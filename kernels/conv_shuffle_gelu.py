"""One HNeRV/NeRV upsampling block in one kernel: conv k×k (C_in → C_out·s²) + bias → PixelShuffle(s) → GELU.

Implicit GEMM, activations NHWC (channels last):

    M = B·H·W input pixels (the conv's output pixels before the shuffle), tiled by BLOCK_M
    N = s·s·C_out, ordered (sy, sx, c_out): the weight is re-packed once so that column n of the GEMM
        lands at output pixel (h·s + sy, w·s + sx), channel c_out; the pre-shuffle tensor never exists
    K = k·k·C_in, ordered (ky, kx, c_in), tiled by BLOCK_K; ``tl.dot`` with fp32 accumulation

Why NHWC: for a fixed tap (ky, kx) the C_in values of a pixel are contiguous, and the input address
splits into m·C_in + ((ky−p)·W + (kx−p))·C_in + c_in, a row term plus a column term (no div/mod in the
inner loop beyond decomposing K once per step). On the output side, for a fixed sy the (w, sx, c_out)
run of a row is contiguous, so a tile whose N covers s·C_out writes whole contiguous row segments.
With NCHW the shuffle would scatter every output element with stride s, and each K step would gather
C_in values that lie H·W apart.

K is flattened over (tap, c_in) rather than looping taps × padded channel blocks, so a layer with
C_in = 33 and k = 5 pads K = 825 to 832, not 25 × 64. Zero padding (k // 2) and the ragged edges of
M, N and K are masks; any odd k, any stride, any H, W and channel count work.
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

from ._common import check_nhwc, configs, conv_tile, dot_precision, upcast_dot

_CONFIGS = configs(
    gpu=[
        dict(BLOCK_M=128, BLOCK_N=128, BLOCK_K=32),
        dict(BLOCK_M=128, BLOCK_N=64, BLOCK_K=32),
        dict(BLOCK_M=64, BLOCK_N=128, BLOCK_K=64),
        dict(BLOCK_M=256, BLOCK_N=128, BLOCK_K=32),
        dict(BLOCK_M=128, BLOCK_N=256, BLOCK_K=32),
    ],
    warps=[4, 4, 4, 8, 8],
    stages=[3, 4, 3, 3, 3],
    interp=dict(BLOCK_M=64, BLOCK_N=32, BLOCK_K=32),
)


@triton.autotune(configs=_CONFIGS, key=["M", "N", "K", "W", "KS", "S"])
@triton.jit
def _conv_shuffle_gelu_kernel(
    x_ptr, w_ptr, b_ptr, y_ptr,
    M, H, W, C_in, C_out, N, K,
    KS: tl.constexpr, S: tl.constexpr, PRECISION: tl.constexpr, UPCAST: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
):
    pid = tl.program_id(0)
    num_n = tl.cdiv(N, BLOCK_N)
    pid_m = pid // num_n  # N tiles of one M tile run next to each other: they share the input tile in L2
    pid_n = pid % num_n

    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    m_ok = offs_m < M
    n_ok = offs_n < N
    w_pix = offs_m % W
    h_pix = (offs_m // W) % H
    m64 = offs_m.to(tl.int64)
    acc = conv_tile(x_ptr, w_ptr, m64 * C_in, h_pix, w_pix, m_ok, offs_n, n_ok, H, W, C_in, N, K,
                    KS, PRECISION, UPCAST, BLOCK_M, BLOCK_N, BLOCK_K)

    acc += tl.load(b_ptr + offs_n, mask=n_ok, other=0.0).to(tl.float32)[None, :]
    out = 0.5 * acc * (1.0 + tl.math.erf(acc * 0.7071067811865476))  # exact (erf) GELU, as F.gelu

    # out[b, h·S + sy, w·S + sx, co] with m = (b·H + h)·W + w and n = (sy·S + sx)·C_out + co
    WS = W * S
    row = ((m64 // W) * S * WS + w_pix * S) * C_out
    sy = offs_n // (S * C_out)
    sx = (offs_n // C_out) % S
    co = offs_n % C_out
    col = (sy * WS + sx) * C_out + co
    tl.store(y_ptr + row[:, None] + col[None, :], out.to(y_ptr.dtype.element_ty),
             mask=m_ok[:, None] & n_ok[None, :])


def pack_weight(weight: torch.Tensor, bias: torch.Tensor, stride: int, dtype: torch.dtype
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """A Conv2d weight (C_out·s², C_in, k, k) and bias → the kernel's (K, N) matrix in ``dtype`` and fp32 bias.

    Done once per model: K = (ky, kx, c_in), N = (sy, sx, c_out), matching PixelShuffle's
    channel order c_out·s² + sy·s + sx.
    """
    cs2, c_in, k, k2 = weight.shape
    if k != k2 or k % 2 == 0 or cs2 % (stride * stride):
        raise ValueError(f"weight {tuple(weight.shape)} is not an odd square conv with {stride}x{stride} shuffle")
    c_out = cs2 // (stride * stride)
    w = weight.detach().reshape(c_out, stride, stride, c_in, k, k).permute(4, 5, 3, 1, 2, 0)
    b = bias.detach().reshape(c_out, stride, stride).permute(1, 2, 0)
    return (w.reshape(k * k * c_in, stride * stride * c_out).to(dtype).contiguous(),
            b.reshape(-1).to(torch.float32).contiguous())


def conv_shuffle_gelu(x: torch.Tensor, w_kn: torch.Tensor, bias_n: torch.Tensor, kernel: int, stride: int,
                      out: torch.Tensor | None = None) -> torch.Tensor:
    """GELU(PixelShuffle(conv(x) + bias)) for NHWC ``x`` (B, H, W, C_in) → NHWC (B, H·s, W·s, C_out).

    ``w_kn``, ``bias_n`` come from :func:`pack_weight`; the output has ``x``'s dtype. ``out``, if given,
    is written in place (a launch plan keeps its buffers).
    """
    check_nhwc(x, "x")
    bsz, h, w, c_in = x.shape
    k_dim, n_dim = w_kn.shape
    if k_dim != kernel * kernel * c_in or n_dim % (stride * stride):
        raise ValueError(f"packed weight {tuple(w_kn.shape)} does not fit C_in={c_in}, k={kernel}, s={stride}")
    c_out = n_dim // (stride * stride)
    shape = (bsz, h * stride, w * stride, c_out)
    if out is None:
        out = torch.empty(shape, device=x.device, dtype=x.dtype)
    elif tuple(out.shape) != shape or not out.is_contiguous() or out.dtype != x.dtype:
        raise ValueError(f"out must be a contiguous {shape} {x.dtype} tensor")
    m = bsz * h * w

    def grid(meta):
        return (triton.cdiv(m, meta["BLOCK_M"]) * triton.cdiv(n_dim, meta["BLOCK_N"]),)

    _conv_shuffle_gelu_kernel[grid](
        x, w_kn, bias_n, out, m, h, w, c_in, c_out, n_dim, k_dim,
        KS=kernel, S=stride, PRECISION=dot_precision(x.dtype), UPCAST=upcast_dot(x.dtype))
    return out
