"""The tiled MLP's backward glue in C (``train/native``): the parts of ``pixel_mlp``'s backward pass that are
not big matrix products. torch ran them as a product with an edge of 3 (the layer to RGB's gradient), one
with a reduction over pixels into 3 rows, the ReLU's mask and the biases' sums: four passes over a tile's
hidden activations where one does. ``lib()`` is None where the kernel is not available (the caller runs
torch's operations); hidden widths must be multiples of 8 (``fits``). tests/unit/test_fast_latent_step.py
compares the tiled MLP with and without it.
"""
from __future__ import annotations


import torch

from ..train import native

SOURCE = native.VECTOR_MATH + r"""
/* The last layer's backward over a tile of P pixels: go (K, P) with row stride gs, the tile's last hidden
   activations h (P, C), the layer's weights w (K, C). Adds go @ h to dw (K, C) and go's row sums to db (K);
   writes g = (go^T @ w) * (h > 0) (P, C) and adds its column sums to dbh (C). C: a multiple of 8, K <= 8. */
void out_backward(const float *go, int64_t gs, const float *h, const float *w, int64_t P, int64_t C, int64_t K,
                  float *dw, float *db, float *dbh, float *g) {
    const int64_t nv = C / 8;
    v8f wv[8 * 16], dwa[8 * 16], dba[16];
    for (int64_t v = 0; v < nv; v++) {
        dba[v] = SPLAT(0.f);
        for (int64_t r = 0; r < K; r++) {
            wv[r * nv + v] = vload(w + r * C + 8 * v);
            dwa[r * nv + v] = SPLAT(0.f);
        }
    }
    for (int64_t r = 0; r < K; r++) {
        float s = 0.f;
        for (int64_t p = 0; p < P; p++) s += go[r * gs + p];
        db[r] += s;
    }
    for (int64_t p = 0; p < P; p++) {
        float gp[8];
        for (int64_t r = 0; r < K; r++) gp[r] = go[r * gs + p];
        const float *hr = h + p * C;
        float *gr = g + p * C;
        for (int64_t v = 0; v < nv; v++) {
            const v8f hv = vload(hr + 8 * v);
            v8f acc = SPLAT(0.f);
            for (int64_t r = 0; r < K; r++) {
                acc += gp[r] * wv[r * nv + v];
                dwa[r * nv + v] += gp[r] * hv;
            }
            acc = SEL(hv > 0.f, acc, SPLAT(0.f));
            vstore(gr + 8 * v, acc);
            dba[v] += acc;
        }
    }
    for (int64_t v = 0; v < nv; v++) {
        for (int l = 0; l < 8; l++) dbh[8 * v + l] += dba[v][l];
        for (int64_t r = 0; r < K; r++)
            for (int l = 0; l < 8; l++) dw[r * C + 8 * v + l] += dwa[r * nv + v][l];
    }
}

/* g (P, C) *= (h > 0) in place; adds its column sums to db (C). C: a multiple of 8, at most 128. */
void relu_backward(float *g, const float *h, int64_t P, int64_t C, float *db) {
    const int64_t nv = C / 8;
    v8f acc[16];
    for (int64_t v = 0; v < nv; v++) acc[v] = SPLAT(0.f);
    for (int64_t p = 0; p < P; p++)
        for (int64_t v = 0; v < nv; v++) {
            const v8f m = SEL(vload(h + p * C + 8 * v) > 0.f, vload(g + p * C + 8 * v), SPLAT(0.f));
            vstore(g + p * C + 8 * v, m);
            acc[v] += m;
        }
    for (int64_t v = 0; v < nv; v++)
        for (int l = 0; l < 8; l++) db[8 * v + l] += acc[v][l];
}
"""


P, I64 = native.PTR, native.I64
SIGNATURES = (("out_backward", None, (P, I64, P, P, I64, I64, I64, P, P, P, P)),
              ("relu_backward", None, (P, P, I64, I64, P)))


def lib():
    return native.library("mlp", SOURCE, SIGNATURES)


def fits(ws) -> bool:
    """Whether the kernels take these layers (fp32 on the CPU, hidden widths multiples of 8 up to 128, at
    most 8 outputs)."""
    return len(ws) >= 2 and all(w.device.type == "cpu" and w.dtype == torch.float32 for w in ws) and \
        all(w.shape[0] % 8 == 0 and w.shape[0] <= 128 for w in ws[:-1]) and ws[-1].shape[0] <= 8
