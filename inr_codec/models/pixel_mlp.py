"""The latent synthesis's per-pixel MLP for training, tile by tile (``Synthesis`` uses it under autograd).

The 1x1 layers are matmuls over pixels: (pixels, in) @ (in, out). Written as convolutions, every layer
makes a full-frame tensor of 40 channels (12 MB for two 256x144 frames) that the bias, the ReLU and their
backward passes each read and write again from memory; on a CPU that traffic, not the arithmetic, set the
step's time. Here each tile of ``TILE`` pixels runs every layer while it is in the cache: the forward pass
writes each hidden activation once (kept for the backward pass), the backward pass reads it once and
accumulates the weights' gradients tile by tile. Same math as the convolutions, in another summation order.
"""
from __future__ import annotations

import torch

from ..train import native
from . import mlp_native

# Pixels per tile: a 40-channel tile of 4,096 pixels is 640 KB, so a layer's input, output and gradient stay
# in the cache; a tile costs about 35 operations forward and backward, so fewer, larger tiles save their
# dispatch (a step of two 256x144 frames: 18 tiles).
TILE = 4096


class _TiledReluMLP(torch.autograd.Function):
    """x (C0, N) → ReLU(x W1ᵀ + b1) → … → W_k hᵀ + b_k: (C_k, N), pixels along the rows of the hidden
    activations (N, C) in between. Matmuls with an edge of 3 or 6 run several times slower than their
    transposes on the CPU (2.8 against 9 GFLOP/s for the layer to RGB), so the input and the output are
    channels-first, each product taken in the orientation that keeps the long edge long."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, *wb: torch.Tensor) -> torch.Tensor:
        ws, bs = wb[0::2], wb[1::2]
        n = x.shape[1]
        hidden = [x.new_empty(n, w.shape[0]) for w in ws[:-1]]
        out = x.new_empty(ws[-1].shape[0], n)
        wts, b_out = [w.t() for w in ws[:-1]], bs[-1][:, None]
        for s in range(0, n, TILE):
            h = x[:, s:s + TILE].t()
            for w, b, buf in zip(wts, bs, hidden):
                h = torch.addmm(b, h, w, out=buf[s:s + TILE]).relu_()
            torch.addmm(b_out, ws[-1], h.t(), out=out[:, s:s + TILE])
        ctx.save_for_backward(x, *hidden, *ws)
        ctx.layers = len(ws)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        saved = ctx.saved_tensors
        k = ctx.layers
        x, hidden, ws = saved[0], saved[1:k], saved[k:]
        dw_out = torch.zeros_like(ws[-1])
        dwts = [w.new_zeros(w.shape[1], w.shape[0]) for w in ws[:-1]]  # the hidden layers' dW, transposed
        dbs = [w.new_zeros(w.shape[0]) for w in ws]
        dx = torch.empty_like(x) if ctx.needs_input_grad[0] else None
        fast = mlp_native.lib() if mlp_native.fits(ws) and grad.dtype == torch.float32 else None
        if fast is not None:  # the layer to RGB, the ReLU's masks and the biases' sums in C (mlp_native)
            grad, w_out = grad.contiguous(), ws[-1].contiguous()
            g_buf = x.new_empty(min(TILE, x.shape[1]), ws[-2].shape[0])
        for s in range(0, x.shape[1], TILE):
            if fast is not None:
                p = min(TILE, x.shape[1] - s)
                g = g_buf[:p]
                fast.out_backward(native.ptr(grad[:, s:]), grad.stride(0), native.ptr(hidden[-1][s:]),
                                  native.ptr(w_out), p, w_out.shape[1], w_out.shape[0], native.ptr(dw_out),
                                  native.ptr(dbs[-1]), native.ptr(dbs[-2]), native.ptr(g))
            else:
                g_out = grad[:, s:s + TILE]                           # (C_k, P)
                dw_out.addmm_(g_out, hidden[-1][s:s + TILE])
                dbs[-1] += g_out.sum(1)
                g = torch.mm(g_out.t(), ws[-1])                       # (P, C_{k-1})
            for i in range(k - 2, -1, -1):
                if fast is None:
                    g = torch.ops.aten.threshold_backward(g, hidden[i][s:s + TILE], 0.0)  # through the ReLU
                    dbs[i] += g.sum(0)
                elif i < k - 2:  # (out_backward did layer k - 2's)
                    fast.relu_backward(native.ptr(g), native.ptr(hidden[i][s:]), g.shape[0], g.shape[1],
                                       native.ptr(dbs[i]))
                if i > 0:
                    dwts[i].addmm_(hidden[i - 1][s:s + TILE].t(), g)
                    g = torch.mm(g, ws[i])
                else:
                    dwts[0].addmm_(x[:, s:s + TILE], g)
                    if dx is not None:
                        torch.mm(ws[0].t(), g.t(), out=dx[:, s:s + TILE])
        dws = [t.t() for t in dwts] + [dw_out]
        return (dx, *[t for pair in zip(dws, dbs) for t in pair])


def relu_mlp(x: torch.Tensor, weights: list[torch.Tensor], biases: list[torch.Tensor]) -> torch.Tensor:
    """(C0, N) pixels, channels first, through ReLU layers and a last linear one (weights (out, in), biases
    (out,)): (C_k, N)."""
    return _TiledReluMLP.apply(x.contiguous(), *[t for pair in zip(weights, biases) for t in pair])
