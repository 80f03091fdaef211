"""The latent synthesis's last stage, sigmoid(x + conv3x3(x)) on 3 channels, forward and backward in C
(``train/native``): oneDNN's 3x3 convolution of 3 channels and its backward pass took about 4 ms of a CPU
training step of two 256x144 frames for 0.5 M multiply-adds. The input comes channels first over the
batch, (3, B, H, W) as the tiled MLP writes it, and its gradient goes back in that layout (no transposes);
the output is (B, 3, H, W). ``refine`` returns None where the kernel is not available (the caller runs the
convolution). tests/unit/test_native_refine.py compares the two.
"""
from __future__ import annotations


import torch

from ..train import native

SOURCE = native.VECTOR_MATH + r"""
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* x: (3, B, H, W); w: (3, 3, 3, 3); out: (B, 3, H, W) = sigmoid(x + b + conv(x)), zero padding. */
void refine_forward(const float *x, const float *w, const float *bias, int64_t B, int64_t H, int64_t W,
                    float *out) {
    const int64_t W2 = W + 2, P2 = (H + 2) * W2, HW = H * W;
    float *xp = calloc((size_t)(3 * P2 + W), sizeof(float));
    float *z = xp + 3 * P2;
    for (int64_t b = 0; b < B; b++) {
        for (int c = 0; c < 3; c++)
            for (int64_t i = 0; i < H; i++)
                memcpy(xp + c * P2 + (i + 1) * W2 + 1, x + (c * B + b) * HW + i * W, W * sizeof(float));
        for (int co = 0; co < 3; co++)
            for (int64_t i = 0; i < H; i++) {
                const float *xr = x + (co * B + b) * HW + i * W;
                for (int64_t j = 0; j < W; j++) z[j] = xr[j] + bias[co];
                for (int ci = 0; ci < 3; ci++)
                    for (int ky = 0; ky < 3; ky++) {
                        const float *row = xp + ci * P2 + (i + ky) * W2;
                        const float w0 = w[((co * 3 + ci) * 3 + ky) * 3], w1 = w[((co * 3 + ci) * 3 + ky) * 3 + 1],
                                    w2 = w[((co * 3 + ci) * 3 + ky) * 3 + 2];
                        #pragma omp simd
                        for (int64_t j = 0; j < W; j++) z[j] += w0 * row[j] + w1 * row[j + 1] + w2 * row[j + 2];
                    }
                float *o = out + (b * 3 + co) * HW + i * W;
                int64_t j = 0;
                for (; j + 8 <= W; j += 8) vstore(o + j, 1.f / (1.f + vexp(-vload(z + j))));
                for (; j < W; j++) o[j] = 1.f / (1.f + expf(-z[j]));
            }
    }
    free(xp);
}

/* g, out: (B, 3, H, W); gx: (3, B, H, W), written; gw (81), gb (3): accumulated in double. */
void refine_backward(const float *x, const float *w, const float *out, const float *g, int64_t B, int64_t H,
                     int64_t W, float *gx, double *gw, double *gb) {
    const int64_t W2 = W + 2, P2 = (H + 2) * W2, HW = H * W;
    float *xp = calloc((size_t)(6 * P2), sizeof(float));
    float *zp = xp + 3 * P2;  /* the gradient before the sigmoid, padded */
    for (int64_t b = 0; b < B; b++) {
        for (int c = 0; c < 3; c++)
            for (int64_t i = 0; i < H; i++) {
                memcpy(xp + c * P2 + (i + 1) * W2 + 1, x + (c * B + b) * HW + i * W, W * sizeof(float));
                const float *o = out + (b * 3 + c) * HW + i * W, *gr = g + (b * 3 + c) * HW + i * W;
                float *zr = zp + c * P2 + (i + 1) * W2 + 1;
                float s = 0.f;
                #pragma omp simd reduction(+:s)
                for (int64_t j = 0; j < W; j++) {
                    zr[j] = gr[j] * o[j] * (1.f - o[j]);
                    s += zr[j];
                }
                gb[c] += s;
            }
        /* the weights' gradients row by row (81 dot products while the rows are in the cache) */
        for (int64_t i = 0; i < H; i++)
            for (int co = 0; co < 3; co++) {
                const float *zr = zp + co * P2 + (i + 1) * W2 + 1;
                for (int ci = 0; ci < 3; ci++)
                    for (int ky = 0; ky < 3; ky++) {
                        const float *xr = xp + ci * P2 + (i + ky) * W2;
                        float s0 = 0.f, s1 = 0.f, s2 = 0.f;
                        #pragma omp simd reduction(+:s0, s1, s2)
                        for (int64_t j = 0; j < W; j++) {
                            s0 += zr[j] * xr[j];
                            s1 += zr[j] * xr[j + 1];
                            s2 += zr[j] * xr[j + 2];
                        }
                        double *gk = gw + ((co * 3 + ci) * 3 + ky) * 3;
                        gk[0] += s0;
                        gk[1] += s1;
                        gk[2] += s2;
                    }
            }
        /* gx = z (the residual) + the transposed convolution of z */
        for (int ci = 0; ci < 3; ci++)
            for (int64_t i = 0; i < H; i++) {
                float *o = gx + (ci * B + b) * HW + i * W;
                const float *zr = zp + ci * P2 + (i + 1) * W2 + 1;
                for (int64_t j = 0; j < W; j++) o[j] = zr[j];
                for (int co = 0; co < 3; co++)
                    for (int ky = 0; ky < 3; ky++) {
                        /* x[i] fed z[i + 1 - ky] through tap ky */
                        const float *row = zp + co * P2 + (i + 2 - ky) * W2;
                        const float *wk = w + ((co * 3 + ci) * 3 + ky) * 3;
                        const float w0 = wk[0], w1 = wk[1], w2 = wk[2];
                        #pragma omp simd
                        for (int64_t j = 0; j < W; j++) o[j] += w0 * row[j + 2] + w1 * row[j + 1] + w2 * row[j];
                    }
            }
    }
    free(xp);
}
"""


P, I64 = native.PTR, native.I64
SIGNATURES = (("refine_forward", None, (P, P, P, I64, I64, I64, P)),
              ("refine_backward", None, (P, P, P, P, I64, I64, I64, P, P, P)))


def _lib():
    return native.library("refine", SOURCE, SIGNATURES)


class _Refine(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, lib):
        _, b, h, w = x.shape
        wt, bt = weight.detach().contiguous(), bias.detach().contiguous()
        out = x.new_empty(b, 3, h, w)
        lib.refine_forward(native.ptr(x), native.ptr(wt), native.ptr(bt), b, h, w, native.ptr(out))
        ctx.save_for_backward(x, wt, out)
        ctx.lib = lib
        return out

    @staticmethod
    def backward(ctx, g):
        x, wt, out = ctx.saved_tensors
        _, b, h, w = x.shape
        g = g.contiguous()
        gx = torch.empty_like(x)
        gw, gb = torch.zeros(81, dtype=torch.float64), torch.zeros(3, dtype=torch.float64)
        ctx.lib.refine_backward(native.ptr(x), native.ptr(wt), native.ptr(out), native.ptr(g), b, h, w,
                                native.ptr(gx), native.ptr(gw), native.ptr(gb))
        return gx, gw.view(3, 3, 3, 3).to(wt.dtype), gb.to(wt.dtype), None


def refine(x: torch.Tensor, conv: torch.nn.Conv2d) -> torch.Tensor | None:
    """sigmoid(x + conv(x)) for ``x`` (3, B, H, W) and a 3x3 convolution of 3 channels with padding 1:
    (B, 3, H, W); None without the kernel. ``conv.weight`` and ``conv.bias`` are read once each, and only
    when the kernel runs (under a rate term each read draws the parameter's quantization noise)."""
    if x.dim() != 4 or x.shape[0] != 3 or x.device.type != "cpu" or x.dtype != torch.float32 or \
            (conv.in_channels, conv.out_channels, conv.kernel_size, conv.padding, conv.groups) != (3, 3, (3, 3), (1, 1), 1) \
            or conv.stride != (1, 1) or conv.dilation != (1, 1) or conv.bias is None:
        return None
    lib = _lib()
    if lib is None:
        return None
    weight, bias = conv.weight, conv.bias
    if weight.dtype != torch.float32 or bias.dtype != torch.float32:
        return None
    return _Refine.apply(x.contiguous(), weight, bias, lib)
