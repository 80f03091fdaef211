"""The training rates of ``laplace.rate_bits`` and laplace_nb's ``rate_bits`` in one C pass each, with the
gradients computed in the same pass (``train/native``): the same formulas as the torch code, whose
graph of about 40 elementwise operations a level, each reading and writing a full tensor, took a third of a
CPU training step (docs/experiments.md, B6). Each function returns None where the kernel is not
available, and the caller runs its torch path. tests/unit/test_native_rate.py compares the two.
"""
from __future__ import annotations

import ctypes

import torch

from ...train import native

SOURCE = native.VECTOR_MATH + r"""
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* -log2 P(x) of the discretised Laplace of scale b (laplace.rate_bits) and its derivatives in x and b. Where
   torch clamps, its gradient passes only strictly inside (clamp_min's at the bound is 0): so here, which
   matters where values are multiples of 1/8 (straight-through rounding), |x| = 1/2 included. */
static inline float lap(float x, float b, float *gx, float *gb) {
    float a = fabsf(x), s = (float)((x > 0.f) - (x < 0.f));
    float ib = 1.f / b, logp, dla, dlb;
    if (a >= 0.5f) {
        logp = -0.6931471805599453f - (a - 0.5f) * ib + logf(-expm1f(-ib));
        dla = a > 0.5f ? -ib : 0.f;
        dlb = (a - 0.5f) * ib * ib - ib * ib / expm1f(ib);
    } else {
        float e1 = expf(-(0.5f + a) * ib), e2 = expf(-(0.5f - a) * ib);
        float p = 1.f - 0.5f * (e1 + e2);
        if (p <= 1e-12f) {
            logp = logf(1e-12f); dla = 0.f; dlb = 0.f;
        } else {
            float ip = 1.f / p;
            logp = logf(p);
            dla = 0.5f * (e1 - e2) * ib * ip;
            dlb = -0.5f * (e1 * (0.5f + a) + e2 * (0.5f - a)) * ib * ib * ip;
        }
    }
    if (logp <= -60.f) { logp = -60.f; dla = 0.f; dlb = 0.f; }
    const float k = -1.4426950408889634f;  /* -1 / ln 2 */
    *gx = k * dla * s;
    *gb = k * dlb;
    return k * logp;
}

/* sum of lap(y[i], max(b[i], 1e-3)); gy, gb: its gradients. */
double laplace_rate(const float *y, const float *b, int64_t n, float *gy, float *gb) {
    double total = 0.0;
    for (int64_t i = 0; i < n; i++) {
        float bi = b[i] < 1e-3f ? 1e-3f : b[i], gx, g;
        total += lap(y[i], bi, &gx, &g);
        gy[i] = gx;
        gb[i] = b[i] > 1e-3f ? g : 0.f;
    }
    return total;
}

/* lap() on eight lanes, both sides computed and one selected (b >= 0.01: 1 / b <= 100). */
static inline v8f vlap(v8f x, v8f b, v8f *gx, v8f *gb) {
    const v8f a = vabs(x), s = vsign(x), ib = 1.f / b;
    /* far: em = -expm1(-1/b), a series where 1 - exp(-1/b) would cancel */
    const v8f series = ib * (1.f - ib * (0.5f - ib * (1.f / 6 - ib * (1.f / 24 - ib * (1.f / 120 - ib * (1.f / 720))))));
    const v8f em = SEL(ib < 0.25f, series, 1.f - vexp(-ib));
    const v8f af = vmax(a, SPLAT(0.5f)) - 0.5f;
    const v8f far = -0.6931471805599453f - af * ib + vlog(em);
    const v8f far_db = af * ib * ib - ib * ib * (1.f - em) / em;
    /* near */
    const v8f an = vmin(a, SPLAT(0.5f));
    const v8f e1 = vexp(-(0.5f + an) * ib), e2 = vexp(-(0.5f - an) * ib);
    const v8f p = 1.f - 0.5f * (e1 + e2), pc = vmax(p, SPLAT(1e-12f)), ip = 1.f / pc;
    const v8i live = p > 1e-12f;
    const v8f near = vlog(pc);
    const v8f near_da = SEL(live, 0.5f * (e1 - e2) * ib * ip, SPLAT(0.f));
    const v8f near_db = SEL(live, -0.5f * (e1 * (0.5f + an) + e2 * (0.5f - an)) * ib * ib * ip, SPLAT(0.f));
    const v8i is_far = a >= 0.5f;
    v8f logp = SEL(is_far, far, near), dla = SEL(is_far, SEL(a > 0.5f, -ib, SPLAT(0.f)), near_da);
    v8f dlb = SEL(is_far, far_db, near_db);
    const v8i above = logp > -60.f;
    logp = SEL(above, logp, SPLAT(-60.f));
    const float k = -1.4426950408889634f;
    *gx = SEL(above, k * dla * s, SPLAT(0.f));
    *gb = SEL(above, k * dlb, SPLAT(0.f));
    return k * logp;
}

static const int DY[13] = {-1, -1, -1, 0, 0, 0, 1, 1, 1, -1, 1, 0, 0};
static const int DX[13] = {-1, 0, 1, -1, 0, 1, -1, 0, 1, 0, 0, -1, 1};

static double dot(const float *a, const float *b, int absb, int64_t H, int64_t W, int64_t W2, int64_t off) {
    double total = 0.0;
    for (int64_t i = 1; i <= H; i++) {
        const float *ar = a + i * W2 + 1, *br = b + i * W2 + 1 + off;
        float acc = 0.f;
        if (absb) {
            #pragma omp simd reduction(+:acc)
            for (int64_t j = 0; j < W; j++) acc += ar[j] * fabsf(br[j]);
        } else {
            #pragma omp simd reduction(+:acc)
            for (int64_t j = 0; j < W; j++) acc += ar[j] * br[j];
        }
        total += acc;
    }
    return total;
}

/* laplace_nb's training bits of slices ts[0..nt) of y (S, H, W), each given its rounded predecessor, times
   scale; adds the gradients to gy (S, H, W), gaux (44) and gfloor (2). aux: the 22 mean coefficients (9
   of pass A, 13 of pass B), then the 22 activity weights (used as |w|); floor: the passes' floors.
   Per slice, on maps padded by one zero (rows padded to whole vectors): (1) every position's mean and
   activity (each lane's pass by its parity, so per row the lanes' coefficients alternate; pass A's current
   taps are zero), its bits and the derivatives in its mean and scale, split by pass; (2) the
   coefficients' gradients as dot products; (3) the features' gradients as the transposed sums. */
double nb_rate(const float *y, int64_t H, int64_t W, const int64_t *ts, int64_t nt, const float *aux,
               const float *floor, float scale, float bmin, float *gy, double *gaux, double *gfloor) {
    const int64_t Wp = (W + 7) & ~(int64_t)7, W2 = Wp + 2, N2 = (H + 2) * W2, HW = H * W;
    float cA[13] = {0}, cB[13], dA[13] = {0}, dB[13], sdA[13] = {0}, sdB[13];
    int64_t off[13];
    for (int k = 0; k < 13; k++) {
        cB[k] = aux[9 + k];
        dB[k] = fabsf(aux[31 + k]);
        sdB[k] = (float)((aux[31 + k] > 0.f) - (aux[31 + k] < 0.f));
        if (k < 9) {
            cA[k] = aux[k];
            dA[k] = fabsf(aux[22 + k]);
            sdA[k] = (float)((aux[22 + k] > 0.f) - (aux[22 + k] < 0.f));
        }
        off[k] = DY[k] * W2 + DX[k];
    }
    /* per row parity (even, odd): each lane's coefficients, floor and pass masks */
    v8f cv[2][13], dv[2][13], fv[2], isA[2], isB[2];
    for (int par = 0; par < 2; par++)
        for (int l = 0; l < 8; l++) {
            const int pb = (par + l) & 1;
            for (int k = 0; k < 13; k++) {
                cv[par][k][l] = pb ? cB[k] : cA[k];
                dv[par][k][l] = pb ? dB[k] : dA[k];
            }
            fv[par][l] = floor[pb];
            isA[par][l] = pb ? 0.f : 1.f;
            isB[par][l] = pb ? 1.f : 0.f;
        }
    float *buf = calloc((size_t)(6 * N2 + 3 * Wp), sizeof(float));
    if (!buf) return NAN;
    float *P = buf, *C = buf + N2, *MA = buf + 2 * N2, *MB = buf + 3 * N2, *AA = buf + 4 * N2, *AB = buf + 5 * N2;
    float *yrow = buf + 6 * N2, *grow = yrow + Wp, *dummy = grow + Wp;  /* dummy: the first slice's predecessor */
    const v8f vscale = SPLAT(scale), vbmin = SPLAT(bmin);
    double total = 0.0;
    for (int64_t n = 0; n < nt; n++) {
        const int64_t t = ts[n];
        const float *cur = y + t * HW;
        float *gcur = gy + t * HW;
        for (int64_t i = 0; i < H; i++)
            for (int64_t j = 0; j < W; j++) {
                P[(i + 1) * W2 + j + 1] = t > 0 ? nearbyintf(cur[i * W + j - HW]) : 0.f;
                C[(i + 1) * W2 + j + 1] = ((i + j) & 1) ? 0.f : nearbyintf(cur[i * W + j]);
            }
        for (int64_t i = 0; i < H; i++) {
            const int par = (int)(i & 1);
            const v8f *c = cv[par], *d = dv[par];
            for (int64_t j = 0; j < W; j++) yrow[j] = cur[i * W + j];
            v8f acc = SPLAT(0.f);
            for (int64_t j0 = 0; j0 < Wp; j0 += 8) {
                const int64_t q = (i + 1) * W2 + 1 + j0;
                v8f mu = SPLAT(0.f), act = fv[par];
                for (int k = 0; k < 13; k++) {
                    const v8f f = vload((k < 9 ? P : C) + q + off[k]);
                    mu += c[k] * f;
                    act += d[k] * vabs(f);
                }
                const v8f mur = vround(mu * 8.f) * 0.125f;
                v8f valid;
                for (int l = 0; l < 8; l++) valid[l] = j0 + l < W ? 1.f : 0.f;
                v8f gx, gb;
                acc += valid * vlap(vload(yrow + j0) - mur, vmax(act, vbmin), &gx, &gb);
                gx *= vscale * valid;
                const v8f dact = SEL(act > vbmin, gb * vscale * valid, SPLAT(0.f));
                vstore(grow + j0, gx);
                vstore(MA + q, -gx * isA[par]);
                vstore(MB + q, -gx * isB[par]);
                vstore(AA + q, dact * isA[par]);
                vstore(AB + q, dact * isB[par]);
            }
            for (int64_t j = 0; j < W; j++) gcur[i * W + j] += grow[j];
            double row = 0.0;
            for (int l = 0; l < 8; l++) row += acc[l];
            total += row;
        }
        for (int k = 0; k < 13; k++) {
            const float *src = k < 9 ? P : C;
            if (k < 9) {
                gaux[k] += dot(MA, src, 0, H, W, W2, off[k]);
                gaux[22 + k] += sdA[k] * dot(AA, src, 1, H, W, W2, off[k]);
            }
            gaux[9 + k] += dot(MB, src, 0, H, W, W2, off[k]);
            gaux[31 + k] += sdB[k] * dot(AB, src, 1, H, W, W2, off[k]);
        }
        for (int64_t i = 1; i <= H; i++)
            for (int64_t j = 1; j <= W; j++) {
                gfloor[0] += AA[i * W2 + j];
                gfloor[1] += AB[i * W2 + j];
            }
        /* the transposed sums: a feature at p fed position p - offset, through that offset's tap */
        for (int64_t i = 0; i < H; i++) {
            const int64_t r = (i + 1) * W2 + 1;
            float *gp = t > 0 ? gcur - HW + i * W : dummy, *gc = gcur + i * W;
            const float *p = P + r, *c = C + r;
            const float *mau = MA + r - W2, *mam = MA + r, *mad = MA + r + W2;
            const float *mbu = MB + r - W2, *mbm = MB + r, *mbd = MB + r + W2;
            const float *aau = AA + r - W2, *aam = AA + r, *aad = AA + r + W2;
            const float *abu = AB + r - W2, *abm = AB + r, *abd = AB + r + W2;
            #pragma omp simd
            for (int64_t j = 0; j < W; j++) {
                /* tap k = (dy, dx) of position p - (dy, dx): rows d, m, u of the maps for dy = -1, 0, 1 */
                #define T(k, row, dj) m = fmaf(cA[k], ma##row[j + dj], fmaf(cB[k], mb##row[j + dj], m)); \
                                      a = fmaf(dA[k], aa##row[j + dj], fmaf(dB[k], ab##row[j + dj], a));
                float m = 0.f, a = 0.f;
                T(0, d, 1) T(1, d, 0) T(2, d, -1) T(3, m, 1) T(4, m, 0) T(5, m, -1) T(6, u, 1) T(7, u, 0) T(8, u, -1)
                #undef T
                const float mc = cB[9] * mbd[j] + cB[10] * mbu[j] + cB[11] * mbm[j + 1] + cB[12] * mbm[j - 1];
                const float ac = dB[9] * abd[j] + dB[10] * abu[j] + dB[11] * abm[j + 1] + dB[12] * abm[j - 1];
                const float sp = (float)((p[j] > 0.f) - (p[j] < 0.f)), sc = (float)((c[j] > 0.f) - (c[j] < 0.f));
                gp[j] += m + sp * a;
                gc[j] += mc + sc * ac;
            }
        }
    }
    free(buf);
    return total * scale;
}
"""


P, I64, F32 = native.PTR, native.I64, native.F32
SIGNATURES = (("laplace_rate", ctypes.c_double, (P, P, I64, P, P)),
              ("nb_rate", ctypes.c_double, (P, I64, I64, P, I64, P, P, F32, F32, P, P, P)))


def _lib():
    return native.library("rate", SOURCE, SIGNATURES)


def _usable(*tensors) -> bool:
    return all(t.device.type == "cpu" and t.dtype == torch.float32 for t in tensors)


class _LaplaceRate(torch.autograd.Function):
    @staticmethod
    def forward(ctx, y, b, lib):
        y, b = y.contiguous(), b.contiguous()
        gy, gb = torch.empty_like(y), torch.empty_like(b)
        total = lib.laplace_rate(native.ptr(y), native.ptr(b), y.numel(), native.ptr(gy), native.ptr(gb))
        ctx.save_for_backward(gy, gb)
        return y.new_tensor(total)

    @staticmethod
    def backward(ctx, g):
        gy, gb = ctx.saved_tensors
        return gy * g, gb * g, None


def laplace_rate_sum(y: torch.Tensor, b: torch.Tensor) -> torch.Tensor | None:
    """``laplace.rate_bits(y, b).sum()`` for ``y`` and ``b`` of one shape, or None without the kernel."""
    lib = _lib()
    if lib is None or y.shape != b.shape or not _usable(y, b):
        return None
    return _LaplaceRate.apply(y, b, lib)


class _NbRate(torch.autograd.Function):
    @staticmethod
    def forward(ctx, y, aux, floor, ts, scale, bmin, lib):
        y = y.contiguous()
        a, fl = aux.detach().contiguous(), floor.detach().contiguous()
        gy = torch.zeros_like(y)
        gaux = torch.zeros(aux.numel(), dtype=torch.float64)
        gfloor = torch.zeros(2, dtype=torch.float64)
        total = lib.nb_rate(native.ptr(y), y.shape[1], y.shape[2], native.ptr(ts), ts.numel(), native.ptr(a),
                            native.ptr(fl), scale, bmin, native.ptr(gy), native.ptr(gaux), native.ptr(gfloor))
        ctx.save_for_backward(gy, gaux.float(), gfloor.float())
        return y.new_tensor(total)

    @staticmethod
    def backward(ctx, g):
        gy, gaux, gfloor = ctx.saved_tensors
        return gy * g, gaux * g, gfloor * g, None, None, None, None


def nb_rate(y: torch.Tensor, aux: torch.Tensor, floor: torch.Tensor, frames: torch.Tensor | None,
            bmin: float) -> torch.Tensor | None:
    """laplace_nb's training rate of grid ``y`` (slices, h, w) (``LatentNeighbours.rate_bits``), or None."""
    lib = _lib()
    if lib is None or y.dim() != 3 or aux.numel() != 44 or not _usable(y, aux, floor):
        return None
    if frames is None:
        ts, scale = torch.arange(y.shape[0]), 1.0
    else:
        ts = torch.unique(frames.to("cpu", torch.int64))
        scale = y.shape[0] / len(ts)
    return _NbRate.apply(y, aux, floor, ts.contiguous(), float(scale), float(bmin), lib)
