"""One latent level's motion fetch (grid_motion.warped_levels) in C, forward and backward (``train/native``).

For frame b the level blends two of its slices, each read bilinearly along the velocity:

    out[b] = w0[b] * bilerp(g[i0[b]], still + o0[b] * v[b]) + w1[b] * bilerp(g[i1[b]], still + o1[b] * v[b])

with positions in grid_sample's units and exactly ``F.grid_sample(mode="bilinear", padding_mode="border",
align_corners=False)``'s arithmetic: x = (p + 1) * w / 2 - 0.5 clipped to [0, w - 1], a zero gradient
where clipped (the border itself counts as clipped, as torch's). torch ran it as two slice copies, two
grid_samples, an addcmul and a blend a slice, and their backward passes: 12 grid_sampler calls of about
1-3 ms for a step of two 256x144 frames. Here one pass over the pixels a direction: the gradient wrt the
slices scattered into the level's own (T, h, w), the velocity's summed over both slices.

``fetch`` returns None where the kernel does not apply (not fp32 on the CPU, no compiler,
``INRCODEC_NATIVE=0``): the caller runs torch. tests/unit/test_warp_native.py compares the two.
"""
from __future__ import annotations


import torch

from ..train import native

SOURCE = r"""
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* One axis of a position p (grid units) on n >= 2 samples, as grid_sample (bilinear, border, align_corners
   False): u = clip((p + 1) * n / 2 - 0.5, 0, n - 1), the taps i and i + 1 with i = min(floor(u), n - 2)
   (at u = n - 1 the pair below, weight 1 on its second tap: the same sums as torch's masked tap) and the
   second's weight f = u - i; d = du / dp: n / 2 inside, 0 where clipped (the border included, as torch). */
#define AXIS(p, sf, mx, lim, i, f, d) \
    float i##_u = ((p) + 1.f) * (sf) - 0.5f; \
    const float d = (i##_u > 0.f && i##_u < (mx)) ? (sf) : 0.f; \
    i##_u = i##_u > 0.f ? i##_u : 0.f; \
    i##_u = i##_u < (mx) ? i##_u : (mx); \
    float i##_f = floorf(i##_u); \
    i##_f = i##_f < (lim) ? i##_f : (lim); \
    const float f = i##_u - i##_f; \
    const int32_t i = (int32_t)i##_f;

typedef struct {
    const float *g, *still, *v;
    int64_t h, w, HW, cells, copies;
    float sfx, sfy, mx, my, lx, ly;
} Level;

static Level level(const float *g, int64_t h, int64_t w, const float *still, const float *v, int64_t HW) {
    Level L = {g, still, v, h, w, HW, h * w, 1, (float)w / 2, (float)h / 2, (float)(w - 1), (float)(h - 1),
               (float)(w - 2), (float)(h - 2)};
    return L;
}

/* Pixels [p0, p1) of frame b: out = w0 * fetch(g0, o0) + w1 * fetch(g1, o1). */
static void forward_pixels(const Level *L, const float *g0, const float *g1, float w0, float w1, float o0, float o1,
                           const float *vb, float *ob, int64_t p0, int64_t p1) {
    const int32_t W = (int32_t)L->w;
    const float *still = L->still;
    for (int64_t p = p0; p < p1; p++) {
        const float vx = vb[2 * p], vy = vb[2 * p + 1], sx = still[2 * p], sy = still[2 * p + 1];
        float acc[2];
        for (int k = 0; k < 2; k++) {
            const float o = k ? o1 : o0;
            const float *gk = k ? g1 : g0;
            const float px = sx + o * vx, py = sy + o * vy;
            AXIS(px, L->sfx, L->mx, L->lx, xw, fx, dx)
            AXIS(py, L->sfy, L->my, L->ly, yn, fy, dy)
            (void)dx; (void)dy;
            const float ex = 1.f - fx, sy_ = 1.f - fy;
            const int32_t c = yn * W + xw;
            acc[k] = gk[c] * (sy_ * ex) + gk[c + 1] * (sy_ * fx) + gk[c + W] * (fy * ex) + gk[c + W + 1] * (fy * fx);
        }
        ob[p] = acc[0] * w0 + acc[1] * w1;
    }
}

/* Pixels [p0, p1) of one (frame, slice) pass of the backward pass: the slice's gradient into the scratch
   (4 sums a cell: the weights of the cell's nw, ne, sw, se roles), the velocity's into gvb. */
static void backward_pixels(const Level *L, const float *gk, float *scratch, float wk, float o, const float *vb,
                            const float *gob, float *gvb, int64_t p0, int64_t p1) {
    const int32_t W = (int32_t)L->w;
    const float *still = L->still;
    for (int64_t p = p0; p < p1; p++) {
        const float gout = gob[p] * wk;
        const float px = still[2 * p] + o * vb[2 * p], py = still[2 * p + 1] + o * vb[2 * p + 1];
        AXIS(px, L->sfx, L->mx, L->lx, xw, fx, dx)
        AXIS(py, L->sfy, L->my, L->ly, yn, fy, dy)
        const float ex = 1.f - fx, sy_ = 1.f - fy;
        const int32_t c = yn * W + xw;
        if (scratch) {
            float *s = scratch + (int64_t)c * 4;
            s[0] += sy_ * ex * gout;
            s[1] += sy_ * fx * gout;
            s[2] += fy * ex * gout;
            s[3] += fy * fx * gout;
        }
        if (gvb) {
            const float vnw = gk[c], vne = gk[c + 1], vsw = gk[c + W], vse = gk[c + W + 1];
            const float gx = ((vne - vnw) * sy_ + (vse - vsw) * fy) * gout * dx;
            const float gy = ((vsw - vnw) * ex + (vse - vne) * fx) * gout * dy;
            gvb[2 * p] += gx * o;
            gvb[2 * p + 1] += gy * o;
        }
    }
}

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define VEC 8
/* Eight pixels a step. Interleaved (x, y) pairs split into lanes in the order 0 1 4 5 2 3 6 7 (two shuffles,
   no permute); per-pixel planes are permuted to it and back. The taps: 64-bit loads of horizontal pairs, on
   this CPU three times faster than AVX2's gathers. */
static inline void split(const float *xy, __m256 *x, __m256 *y) {
    const __m256 lo = _mm256_loadu_ps(xy), hi = _mm256_loadu_ps(xy + 8);
    *x = _mm256_shuffle_ps(lo, hi, 0x88);
    *y = _mm256_shuffle_ps(lo, hi, 0xDD);
}
static inline __m256 swap_mid(__m256 a) {  /* pixel order <-> lane order (an involution) */
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(a), 0xD8));
}
static inline __m128 pair2(const float *g, int64_t a, int64_t b) {
    return _mm_castpd_ps(_mm_loadh_pd(_mm_load_sd((const double *)(g + a)), (const double *)(g + b)));
}
/* the 8 lanes' cells out of the vector (two per 64-bit extract: a store and reloads stalled on forwarding) */
static inline void cells8(__m256i ci, int64_t *c) {
    const __m128i lo = _mm256_castsi256_si128(ci), hi = _mm256_extracti128_si256(ci, 1);
    const uint64_t q0 = (uint64_t)_mm_cvtsi128_si64(lo), q1 = (uint64_t)_mm_extract_epi64(lo, 1),
                   q2 = (uint64_t)_mm_cvtsi128_si64(hi), q3 = (uint64_t)_mm_extract_epi64(hi, 1);
    c[0] = (uint32_t)q0, c[1] = (int64_t)(q0 >> 32), c[2] = (uint32_t)q1, c[3] = (int64_t)(q1 >> 32);
    c[4] = (uint32_t)q2, c[5] = (int64_t)(q2 >> 32), c[6] = (uint32_t)q3, c[7] = (int64_t)(q3 >> 32);
}
/* lane i: g[c[i]] into *a, g[c[i] + 1] into *b */
static inline void pairs8(const float *g, const int64_t *c, __m256 *a, __m256 *b) {
    const __m256 lo = _mm256_insertf128_ps(_mm256_castps128_ps256(pair2(g, c[0], c[1])), pair2(g, c[4], c[5]), 1);
    const __m256 hi = _mm256_insertf128_ps(_mm256_castps128_ps256(pair2(g, c[2], c[3])), pair2(g, c[6], c[7]), 1);
    *a = _mm256_shuffle_ps(lo, hi, 0x88);
    *b = _mm256_shuffle_ps(lo, hi, 0xDD);
}
typedef struct { __m256 f, e, d; __m256i i; } Axis8;
static inline Axis8 axis8(__m256 p, float sf, float mx, float lim) {
    const __m256 vsf = _mm256_set1_ps(sf), vmx = _mm256_set1_ps(mx), zero = _mm256_setzero_ps();
    __m256 u = _mm256_fmsub_ps(_mm256_add_ps(p, _mm256_set1_ps(1.f)), vsf, _mm256_set1_ps(0.5f));
    Axis8 a;
    a.d = _mm256_and_ps(_mm256_and_ps(_mm256_cmp_ps(u, zero, _CMP_GT_OQ), _mm256_cmp_ps(u, vmx, _CMP_LT_OQ)), vsf);
    u = _mm256_min_ps(_mm256_max_ps(u, zero), vmx);
    const __m256 fl = _mm256_min_ps(_mm256_floor_ps(u), _mm256_set1_ps(lim));
    a.f = _mm256_sub_ps(u, fl);
    a.e = _mm256_sub_ps(_mm256_set1_ps(1.f), a.f);
    a.i = _mm256_cvttps_epi32(fl);
    return a;
}
/* the north-west cells (into c) and the weights of 8 pixels at positions (px, py) */
static inline void locate8(const Level *L, __m256 px, __m256 py, int64_t *c, Axis8 *ax, Axis8 *ay) {
    *ax = axis8(px, L->sfx, L->mx, L->lx);
    *ay = axis8(py, L->sfy, L->my, L->ly);
    const __m256i ci = _mm256_add_epi32(_mm256_mullo_epi32(ay->i, _mm256_set1_epi32((int32_t)L->w)), ax->i);
    cells8(ci, c);
}
static inline __m256 bilerp8(const float *g, int64_t w, const int64_t *c, const Axis8 *ax, const Axis8 *ay) {
    __m256 nw, ne, sw, se;
    pairs8(g, c, &nw, &ne);
    pairs8(g + w, c, &sw, &se);
    __m256 r = _mm256_mul_ps(nw, _mm256_mul_ps(ay->e, ax->e));
    r = _mm256_fmadd_ps(ne, _mm256_mul_ps(ay->e, ax->f), r);
    r = _mm256_fmadd_ps(sw, _mm256_mul_ps(ay->f, ax->e), r);
    return _mm256_fmadd_ps(se, _mm256_mul_ps(ay->f, ax->f), r);
}

static int64_t forward_vec(const Level *L, const float *g0, const float *g1, float w0, float w1, float o0, float o1,
                           const float *vb, float *ob) {
    const int64_t n = L->HW / VEC * VEC;
    int64_t c[VEC];
    const __m256 vo0 = _mm256_set1_ps(o0), vo1 = _mm256_set1_ps(o1), vw0 = _mm256_set1_ps(w0), vw1 = _mm256_set1_ps(w1);
    for (int64_t p = 0; p < n; p += VEC) {
        __m256 vx, vy, sx, sy;
        split(vb + 2 * p, &vx, &vy);
        split(L->still + 2 * p, &sx, &sy);
        Axis8 ax, ay;
        locate8(L, _mm256_fmadd_ps(vo0, vx, sx), _mm256_fmadd_ps(vo0, vy, sy), c, &ax, &ay);
        const __m256 a0 = bilerp8(g0, L->w, c, &ax, &ay);
        locate8(L, _mm256_fmadd_ps(vo1, vx, sx), _mm256_fmadd_ps(vo1, vy, sy), c, &ax, &ay);
        const __m256 a1 = bilerp8(g1, L->w, c, &ax, &ay);
        _mm256_storeu_ps(ob + p, swap_mid(_mm256_fmadd_ps(a1, vw1, _mm256_mul_ps(a0, vw0))));
    }
    return n;
}

static inline void add4(float *dst, __m128 x) { _mm_storeu_ps(dst, _mm_add_ps(_mm_loadu_ps(dst), x)); }

/* Both slices k of frame b (the level's slice gk[k], its scratch sk[k] or NULL, weight wk[k], offset o[k]). */
static int64_t backward_vec(const Level *L, const float *const *gk, float *const *sk, const float *wk, const float *o,
                            const float *vb, const float *gob, float *gvb) {
    const int64_t n = L->HW / VEC * VEC, w = L->w, stride = L->cells * 4;
    const int64_t mask = L->copies - 1;  /* lane i adds into copy i & mask: chains of adds to one cell broken */
    int64_t c[VEC];
    for (int64_t p = 0; p < n; p += VEC) {
        __m256 vx, vy, sx, sy;
        split(vb + 2 * p, &vx, &vy);
        split(L->still + 2 * p, &sx, &sy);
        const __m256 go8 = swap_mid(_mm256_loadu_ps(gob + p));
        __m256 accx = _mm256_setzero_ps(), accy = _mm256_setzero_ps();
        for (int k = 0; k < 2; k++) {
            const __m256 vo = _mm256_set1_ps(o[k]), gout = _mm256_mul_ps(go8, _mm256_set1_ps(wk[k]));
            Axis8 ax, ay;
            locate8(L, _mm256_fmadd_ps(vo, vx, sx), _mm256_fmadd_ps(vo, vy, sy), c, &ax, &ay);
            float *const s = sk[k];
            if (s) {
                const __m256 qnw = _mm256_mul_ps(_mm256_mul_ps(ay.e, ax.e), gout), qne = _mm256_mul_ps(_mm256_mul_ps(ay.e, ax.f), gout),
                             qsw = _mm256_mul_ps(_mm256_mul_ps(ay.f, ax.e), gout), qse = _mm256_mul_ps(_mm256_mul_ps(ay.f, ax.f), gout);
                const __m256 t0 = _mm256_unpacklo_ps(qnw, qne), t1 = _mm256_unpackhi_ps(qnw, qne),
                             t2 = _mm256_unpacklo_ps(qsw, qse), t3 = _mm256_unpackhi_ps(qsw, qse);
                const __m256 q0 = _mm256_shuffle_ps(t0, t2, 0x44), q1 = _mm256_shuffle_ps(t0, t2, 0xEE),
                             q2 = _mm256_shuffle_ps(t1, t3, 0x44), q3 = _mm256_shuffle_ps(t1, t3, 0xEE);
                add4(s + (0 & mask) * stride + c[0] * 4, _mm256_castps256_ps128(q0));
                add4(s + (1 & mask) * stride + c[1] * 4, _mm256_castps256_ps128(q1));
                add4(s + (2 & mask) * stride + c[2] * 4, _mm256_castps256_ps128(q2));
                add4(s + (3 & mask) * stride + c[3] * 4, _mm256_castps256_ps128(q3));
                add4(s + (4 & mask) * stride + c[4] * 4, _mm256_extractf128_ps(q0, 1));
                add4(s + (5 & mask) * stride + c[5] * 4, _mm256_extractf128_ps(q1, 1));
                add4(s + (6 & mask) * stride + c[6] * 4, _mm256_extractf128_ps(q2, 1));
                add4(s + (7 & mask) * stride + c[7] * 4, _mm256_extractf128_ps(q3, 1));
            }
            if (gvb) {
                __m256 nw, ne, sw, se;
                pairs8(gk[k], c, &nw, &ne);
                pairs8(gk[k] + w, c, &sw, &se);
                const __m256 gx = _mm256_mul_ps(_mm256_mul_ps(_mm256_fmadd_ps(_mm256_sub_ps(se, sw), ay.f,
                                      _mm256_mul_ps(_mm256_sub_ps(ne, nw), ay.e)), gout), ax.d);
                const __m256 gy = _mm256_mul_ps(_mm256_mul_ps(_mm256_fmadd_ps(_mm256_sub_ps(se, ne), ax.f,
                                      _mm256_mul_ps(_mm256_sub_ps(sw, nw), ax.e)), gout), ay.d);
                accx = _mm256_fmadd_ps(gx, vo, accx);
                accy = _mm256_fmadd_ps(gy, vo, accy);
            }
        }
        if (gvb) {
            float *d = gvb + 2 * p;
            _mm256_storeu_ps(d, _mm256_add_ps(_mm256_loadu_ps(d), _mm256_unpacklo_ps(accx, accy)));
            _mm256_storeu_ps(d + 8, _mm256_add_ps(_mm256_loadu_ps(d + 8), _mm256_unpackhi_ps(accx, accy)));
        }
    }
    return n;
}
#else
static int64_t forward_vec(const Level *L, const float *g0, const float *g1, float w0, float w1, float o0, float o1,
                           const float *vb, float *ob) {
    (void)L; (void)g0; (void)g1; (void)w0; (void)w1; (void)o0; (void)o1; (void)vb; (void)ob;
    return 0;
}
static int64_t backward_vec(const Level *L, const float *const *gk, float *const *sk, const float *wk, const float *o,
                            const float *vb, const float *gob, float *gvb) {
    (void)L; (void)gk; (void)sk; (void)wk; (void)o; (void)vb; (void)gob; (void)gvb;
    return 0;
}
#endif

/* out (B, HW) = sum over the two slices k of wt[2b+k] * bilerp(g[sl[2b+k]], still + off[2b+k] * v[b]).
   g: (T, h, w) with h, w >= 2; still: (HW, 2); v: (B, HW, 2), x then y, in grid_sample's units. */
void warp_forward(const float *g, int64_t h, int64_t w, const int64_t *sl, const float *wt, const float *off,
                  const float *still, const float *v, int64_t B, int64_t HW, float *out) {
    const Level L = level(g, h, w, still, v, HW);
    for (int64_t b = 0; b < B; b++) {
        const float *g0 = g + sl[2 * b] * h * w, *g1 = g + sl[2 * b + 1] * h * w, *vb = v + b * HW * 2;
        float *ob = out + b * HW;
        const int64_t done = forward_vec(&L, g0, g1, wt[2 * b], wt[2 * b + 1], off[2 * b], off[2 * b + 1], vb, ob);
        forward_pixels(&L, g0, g1, wt[2 * b], wt[2 * b + 1], off[2 * b], off[2 * b + 1], vb, ob, done, HW);
    }
}

/* The backward pass of warp_forward for the output's gradient go (B, HW): adds into gg (T, h, w) (when not
   NULL) the slices' gradients and into gv (B, HW, 2) (when not NULL) the velocity's. A slice's gradient goes
   through a scratch of 4 sums a cell (one 16-byte add a pixel), in `copies` (1, 2, 4 or 8) copies where
   consecutive pixels share cells, one scratch per slice read, summed into the slice at the end. */
void warp_backward(const float *g, int64_t h, int64_t w, const int64_t *sl, const float *wt, const float *off,
                   const float *still, const float *v, int64_t B, int64_t HW, const float *go, float *gg,
                   float *gv, int64_t copies) {
    Level L = level(g, h, w, still, v, HW);
    const int64_t cells = h * w;
    int64_t *slot = malloc((size_t)(4 * B + 1) * sizeof(int64_t)), *uniq = slot + 2 * B, m = 0;
    for (int64_t j = 0; j < 2 * B; j++) {
        int64_t u = 0;
        while (u < m && uniq[u] != sl[j]) u++;
        if (u == m) uniq[m++] = sl[j];
        slot[j] = u;
    }
    float *scratch = 0;
    if (gg) {
        scratch = malloc((size_t)(m * copies * cells * 4) * sizeof(float));
        if (!scratch) copies = 1, scratch = malloc((size_t)(m * cells * 4) * sizeof(float));
        L.copies = copies;
        memset(scratch, 0, (size_t)(m * copies * cells * 4) * sizeof(float));
    }
    const int64_t per_slice = copies * cells * 4;
    for (int64_t b = 0; b < B; b++) {
        const float *gk[2] = {g + sl[2 * b] * cells, g + sl[2 * b + 1] * cells}, *vb = v + b * HW * 2, *gob = go + b * HW;
        float *sk[2] = {scratch ? scratch + slot[2 * b] * per_slice : 0, scratch ? scratch + slot[2 * b + 1] * per_slice : 0};
        float *gvb = gv ? gv + b * HW * 2 : 0;
        const int64_t done = backward_vec(&L, gk, sk, wt + 2 * b, off + 2 * b, vb, gob, gvb);
        for (int k = 0; k < 2; k++)  /* the scalar tail: copy 0 */
            backward_pixels(&L, gk[k], sk[k], wt[2 * b + k], off[2 * b + k], vb, gob, gvb, done, HW);
    }
    for (int64_t u = 0; gg && u < m; u++) {
        float *S = scratch + u * per_slice;
        for (int64_t c = 1; c < copies; c++) {
            const float *src = S + c * cells * 4;
            for (int64_t j = 0; j < cells * 4; j++) S[j] += src[j];
        }
        float *dst = gg + uniq[u] * cells;
        for (int64_t y = 0; y < h; y++) {
            const float *r = S + y * w * 4, *up = y ? S + (y - 1) * w * 4 : 0;
            dst[y * w] += r[0] + (up ? up[2] : 0.f);
            for (int64_t x = 1; x < w; x++)
                dst[y * w + x] += r[4 * x] + r[4 * x - 3] + (up ? up[4 * x + 2] + up[4 * x - 1] : 0.f);
        }
    }
    free(scratch);
    free(slot);
}
"""


P, I64 = native.PTR, native.I64
SIGNATURES = (("warp_forward", None, (P, I64, I64, P, P, P, P, P, I64, I64, P)),
              ("warp_backward", None, (P, I64, I64, P, P, P, P, P, I64, I64, P, P, P, I64)))


def _lib(name: str = "warp", source: str = SOURCE):
    """The kernel (``name`` and ``source``: another build of it, as the tests' portable one)."""
    return native.library(name, source, SIGNATURES)


def _copies(w: int, width: int) -> int:
    """The scratch's copies for a level w samples wide read over ``width`` pixels: about as many as
    consecutive pixels share a cell (a power of two, at most 8)."""
    copies = 1
    while copies < 8 and copies * w < width:
        copies *= 2
    return copies


class _Fetch(torch.autograd.Function):
    """The strided levels of one call at once: the velocity's gradient accumulates in one tensor."""

    @staticmethod
    def forward(ctx, v, still, metas, lib, *grids):
        b, hh, ww, _ = v.shape
        outs = []
        for g, (sl, wt, off) in zip(grids, metas):
            out = g.new_empty(b, hh, ww)
            lib.warp_forward(native.ptr(g), g.shape[1], g.shape[2], native.ptr(sl), native.ptr(wt), native.ptr(off),
                             native.ptr(still), native.ptr(v), b, hh * ww, native.ptr(out))
            outs.append(out)
        ctx.save_for_backward(v, still, *grids)
        ctx.metas, ctx.lib = metas, lib
        ctx.set_materialize_grads(False)
        return tuple(outs)

    @staticmethod
    def backward(ctx, *gos):
        v, still, *grids = ctx.saved_tensors
        b, hh, ww, _ = v.shape
        gv = torch.zeros_like(v) if ctx.needs_input_grad[0] else None
        ggs = []
        for j, (g, (sl, wt, off), go) in enumerate(zip(grids, ctx.metas, gos)):
            gg = torch.zeros_like(g) if ctx.needs_input_grad[4 + j] else None
            ggs.append(gg)
            if go is None or (gg is None and gv is None):
                continue
            go = go.contiguous()
            ctx.lib.warp_backward(native.ptr(g), g.shape[1], g.shape[2], native.ptr(sl), native.ptr(wt),
                                  native.ptr(off), native.ptr(still), native.ptr(v), b, hh * ww, native.ptr(go),
                                  None if gg is None else native.ptr(gg), None if gv is None else native.ptr(gv),
                                  _copies(g.shape[2], ww))
        return (gv, None, None, None, *ggs)


def fits(g: torch.Tensor, v: torch.Tensor) -> bool:
    """Whether the kernel takes a level ``g`` (T, h, w) read along ``v`` (B, H, W, 2): fp32 on the CPU, h and
    w at least 2, and the library built."""
    return g.dim() == 3 and v.dim() == 4 and v.shape[-1] == 2 and g.shape[1] >= 2 and g.shape[2] >= 2 and \
        g.numel() < 1 << 31 and all(x.device.type == "cpu" and x.dtype == torch.float32 for x in (g, v)) and \
        _lib() is not None


def _rows(pair, dtype) -> torch.Tensor:
    """(B, 2) from two sequences of B numbers (tensors or lists): one small tensor, no torch operations (a
    frame's decode asks for 6 levels)."""
    return torch.tensor(list(zip(*(x.tolist() if torch.is_tensor(x) else x for x in pair))), dtype=dtype)


def fetch_levels(levels: list, still: torch.Tensor, v: torch.Tensor) -> list[torch.Tensor]:
    """Each level (g, slices, weights, offsets), ``fits``, the last three pairs of B numbers each (tensors or
    lists; python floats are rounded to fp32 once), read as ``grid_motion.warped_levels`` reads a level
    with a stride: (B, H, W) = sum over k of weights[k][b] * grid_sample(g[slices[k][b]], still + offsets[k][b]
    * v[b]) (bilinear, border, align_corners=False); ``still`` (H, W, 2) and ``v`` (B, H, W, 2) in
    grid_sample's units."""
    if not levels:
        return []
    metas, grids = [], []
    for g, slices, weights, offsets in levels:
        sl = _rows(slices, torch.int64)  # (B, 2)
        if sl.numel() and (int(sl.min()) < 0 or int(sl.max()) >= g.shape[0]):
            raise IndexError(f"slice out of range for a level of {g.shape[0]}")
        metas.append((sl, _rows(weights, torch.float32), _rows(offsets, torch.float32)))
        grids.append(g.contiguous())
    return list(_Fetch.apply(v.contiguous(), still.detach().contiguous(), metas, _lib(), *grids))


def fetch(g: torch.Tensor, slices: tuple[torch.Tensor, torch.Tensor], weights: tuple[torch.Tensor, torch.Tensor],
          offsets: tuple[torch.Tensor, torch.Tensor], still: torch.Tensor, v: torch.Tensor) -> torch.Tensor | None:
    """``fetch_levels`` for one level; None where the kernel does not take it (the caller runs torch)."""
    if not fits(g, v) or tuple(still.shape) != (*v.shape[1:3], 2) or still.dtype != torch.float32:
        return None
    return fetch_levels([(g, slices, weights, offsets)], still, v)[0]
