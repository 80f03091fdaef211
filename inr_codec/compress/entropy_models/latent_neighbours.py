"""A wider context model for latent grids (coder ``laplace_nb``, format 1.5; ``compress.latent_model=nb``).

As ``latent_context`` (the previous slice of the level, ``q[-1] = 0``, and a checkerboard of the current
one, decoded in two parallel passes), but every neighbour has a weight of its own, and the Laplace's
scale is predicted by a learned linear rule instead of a fixed activity:

* features of pass A (the anchors, (y + x) even): the previous slice's 3x3 neighbourhood of (y, x),
  ``f_0 … f_8`` in raster order (zero outside); pass B adds the current slice's four anchors around
  (y, x), ``f_9 … f_12`` (north, south, west, east);
* the mean, an integer linear prediction with stored fixed-point coefficients (9 for pass A, 13 for B),
  kept to an eighth (a fractional mean: most of this model's gain over laplace_ctx)::

      m8 = (sum_i c_i * f_i + 2**(P-4)) >> (P-3)        (int64, arithmetic shift: floor)
      base = m8 >> 3,  phase j = m8 & 7                 (the mean is base + j/8)

* the activity, a predicted scale in fixed point with stored non-negative coefficients
  (a floor ``d_floor`` and 9 / 13 weights of the features' magnitudes)::

      act = d_floor + sum_i d_i * |f_i|

  and the bucket ``k`` = the number of ``THRESHOLDS`` (half octaves of scale from ``B0``) at or below
  ``act``; the residual ``q - base`` is coded under the discretised Laplace (S, K) of (pass, bucket) about
  the mean ``j/8`` (``laplace.phase_frequencies``).

Every quantity is an integer the decoder holds exactly, so the tables and symbols are identical on every
machine, thread count and dtype by construction. Stored parameters: the 22 mean coefficients (zigzagged),
the 2 floors and 22 activity weights (plain), then S, K of each of the 2 x BUCKETS streams. Coding order:
slice by slice, pass A then B, bucket by bucket, phase by phase, positions in raster order within.

Training (``rate_bits``) evaluates the same rule in float with the learned coefficients (``aux``: the 22
mean coefficients, then the 22 activity weights; ``log_b``: the two floors), rounding the neighbours to
integers and the mean to eighths straight-through, each residual under a Laplace of scale ``act``
itself; the file then fits each bucket's Laplace to its residuals.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ...container.format import unzigzag, zigzag
from . import laplace, rate_native
from .base import CODER_PRECISION, categorical
from .laplace import PHASES
from .latent_context import MAX_COEFF, P, fixed_coeffs
from .slice_coding import SliceCoded, anchor_mask, anchors, pass_least_squares, previous, training_slices

FEATURES_A, FEATURES_B = 9, 13
MEAN_COEFFS = FEATURES_A + FEATURES_B           # 22
ACT_COEFFS = 2 + FEATURES_A + FEATURES_B        # floors of pass A and B, then the weights: 24
COEFFS = MEAN_COEFFS + ACT_COEFFS
BUCKETS = 16
STREAMS = 2 * BUCKETS
B0 = 0.08                                       # the first bucket's upper scale; then half octaves
# round(B0 * 2**(k/2) * 2**P), k = 0 .. 14, written out: the decoder's integers, not a float expression's
THRESHOLDS = [328, 463, 655, 927, 1311, 1854, 2621, 3707, 5243, 7415, 10486, 14829, 20972, 29658, 41943]
MAX_K = 4095  # residuals beyond it: the grid is written with laplace_ctx (and a table stays cheap to build)
OFFSETS = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
CURRENT = [(-1, 0), (1, 0), (0, -1), (0, 1)]    # north, south, west, east
_CURRENT_TAPS = [OFFSETS.index(o) for o in CURRENT]  # their places in a 3x3 kernel


def _shift(p: np.ndarray, dy: int, dx: int, h: int, w: int) -> np.ndarray:
    return p[..., 1 + dy:1 + dy + h, 1 + dx:1 + dx + w]


def features(prev: np.ndarray, cur_anchors: np.ndarray | None) -> list[np.ndarray]:
    """The features of every position of a (…, H, W) slice: pass A's 9 (``cur_anchors`` None), else 13."""
    h, w = prev.shape[-2:]
    pad = [(0, 0)] * (prev.ndim - 2) + [(1, 1), (1, 1)]
    p = np.pad(prev, pad)
    out = [_shift(p, dy, dx, h, w) for dy, dx in OFFSETS]
    if cur_anchors is not None:
        c = np.pad(np.where(anchors(h, w), cur_anchors, 0), pad)
        out += [_shift(c, dy, dx, h, w) for dy, dx in CURRENT]
    return out


def bucket_of(act: np.ndarray) -> np.ndarray:
    b = np.zeros(act.shape, dtype=np.int64)
    for t in THRESHOLDS:
        b += act >= t
    return b


def predict(mean, act, prev: np.ndarray, cur_anchors: np.ndarray | None):
    """(base, phase, bucket) at every position of one pass, from the integer coefficients ``mean`` (22)
    and ``act`` (24)."""
    f = features(prev, cur_anchors)
    if cur_anchors is None:
        c, d0, d = mean[:FEATURES_A], act[0], act[2:2 + FEATURES_A]
    else:
        c, d0, d = mean[FEATURES_A:], act[1], act[2 + FEATURES_A:]
    acc = np.zeros(prev.shape, np.int64) + sum(int(ci) * fi for ci, fi in zip(c, f) if ci)
    a = np.zeros(prev.shape, np.int64) + int(d0) + sum(int(di) * np.abs(fi) for di, fi in zip(d, f) if di)
    m8 = (acc + (1 << (P - 4))) >> (P - 3)
    return m8 >> 3, m8 & (PHASES - 1), bucket_of(a)


def residual_streams(q: np.ndarray, mean, act, shifts=None) -> list[tuple[np.ndarray, np.ndarray]]:
    """(residuals, phases) of each (pass, bucket) stream over the whole tensor (for fitting and estimates);
    ``shifts``: where each slice's predecessor is read from (``slice_coding.previous``)."""
    q = np.asarray(q, dtype=np.int64)
    prev = previous(q, shifts)
    mask = anchors(*q.shape[-2:])
    out = []
    for pass_b, m in ((False, mask), (True, ~mask)):
        base, ph, b = predict(mean, act, prev, q if pass_b else None)
        r, ph, b = (q - base)[:, m], ph[:, m], b[:, m]
        out += [(r[b == k], ph[b == k]) for k in range(BUCKETS)]
    return out


def least_squares(q: np.ndarray, shifts=None) -> list[float]:
    """Mean coefficients minimising each pass's squared residual (a start when none was trained)."""
    q = np.asarray(q, dtype=np.float64)
    prev, mask = previous(q, shifts), anchors(*q.shape[-2:])
    return [c for pass_b, m in ((False, mask), (True, ~mask))
            for c in pass_least_squares([f[:, m] for f in features(prev, q if pass_b else None)], q[:, m])]


# Without trained weights: the scale follows the magnitude of the previous slice's latent and of the
# current neighbours, as latent_context's fixed activity does.
DEFAULT_ACT = [0.1, 0.1] + [0.0] * 4 + [0.5] + [0.0] * 4 + [0.0] * 4 + [0.5] + [0.0] * 4 + [0.125] * 4


def fixed_act(a) -> list[int]:
    return [int(min(max(round(abs(float(x)) * (1 << P)), 0), MAX_COEFF)) for x in a]


class LatentNeighbours(SliceCoded):
    coder = "laplace_nb"
    coefficient_count, stream_count = COEFFS, STREAMS

    def mean_coefficients(self, params) -> list[int]:
        return [unzigzag(int(u)) for u in params[:MEAN_COEFFS]]

    def act_coefficients(self, params) -> list[int]:
        return [int(u) for u in params[MEAN_COEFFS:COEFFS]]

    def check_coefficients(self, params):
        if any(abs(c) > MAX_COEFF for c in self.mean_coefficients(params)) or \
                any(not 0 <= d <= MAX_COEFF for d in self.act_coefficients(params)):
            return f"a context coefficient is outside -{MAX_COEFF}..{MAX_COEFF} (activity: 0..{MAX_COEFF})"
        return None

    def fit(self, q, hint=None):
        """The stored parameters for symbols ``q``: of the mean coefficients (least squares, zero prediction
        and the trained ones of ``hint``: the 22 mean coefficients, then the 24 activity ones) and the
        activity ones (the default and the trained), the pair that codes ``q`` in the fewest bits. A pair
        whose residuals exceed MAX_K is skipped; ValueError when every one does."""
        return self._fit(np.asarray(q, dtype=np.int64), hint, None)

    def _fit(self, q, hint, shifts) -> list[int]:
        """``fit``'s parameters with each slice's predecessor read at ``shifts`` (None: in place), the
        shifts not included."""
        means, acts = [least_squares(q, shifts), np.zeros(MEAN_COEFFS)], [DEFAULT_ACT]
        if hint is not None:
            hint = np.asarray(hint, dtype=np.float64)
            means.append(hint[:MEAN_COEFFS])
            acts.append(hint[MEAN_COEFFS:])
        best, problem = None, None
        for mean_f in means:
            for act_f in acts:
                mean, act = fixed_coeffs(mean_f), fixed_act(act_f)
                try:
                    streams = [self._fit_stream(st) for st in residual_streams(q, mean, act, shifts)]
                except ValueError as e:
                    problem = e
                    continue
                params = [zigzag(x) for x in mean] + act + [x for st in streams for x in st]
                bits = self._bits(q, params, shifts)
                if best is None or bits < best[0]:
                    best = (bits, params)
        if best is None:
            raise problem
        return best[1]

    def _fit_stream(self, stream):
        """A stream's (S, K): the scale that codes its residuals about their means best; one that codes
        nothing (empty or all zero) stores S = 1, a one-byte uvar."""
        r, ph = stream
        k = int(np.abs(r).max()) if r.size else 0
        if k == 0:
            return 1, 0
        if k > MAX_K:
            raise ValueError(f"residuals reach {k}, beyond laplace_nb's range {MAX_K}")
        return laplace.fixed_s(laplace.best_b(r - ph / PHASES)), k

    def check_model(self, p):
        problem = super().check_model(p)
        if problem is None and p[1] > MAX_K:
            return f"Laplace range {p[1]} is outside 0..{MAX_K}"
        return problem

    def estimate_bits(self, q, params):
        return self._bits(q, params, self.shifts(params, np.shape(q)))

    def _bits(self, q, params, shifts) -> float:
        streams = residual_streams(q, self.mean_coefficients(params), self.act_coefficients(params), shifts)
        return sum(self._stream_bits(s, p) for s, p in zip(streams, self.split(params)))

    @staticmethod
    def _stream_bits(stream, p) -> float:
        """Ideal code length under the coder's tables (see ``EntropyModel.estimate_bits``)."""
        (r, ph), (S, K) = stream, p
        if K == 0 or not r.size:
            return 0.0
        unit, total = 2.0 ** -CODER_PRECISION, 0.0
        for j, f in enumerate(laplace.phase_frequencies(S, K)):
            sel = r[ph == j]
            if sel.size:
                f = f.astype(np.float64)
                prob = f / f.sum() * (1.0 - f.size * unit) + unit
                total += float(-np.log2(prob[sel + K]).sum())
        return total

    # -- coding, slice by slice --------------------------------------------------------------------
    def _setup(self, params):
        """The coefficients, each model's K and its phase tables, built when a phase first needs one."""
        models = self.split(params)
        cache: dict[int, list] = {}

        def table(model: int, phase: int):
            if model not in cache:
                cache[model] = [categorical(f) for f in laplace.phase_frequencies(*models[model])]
            return cache[model][phase]
        return self.mean_coefficients(params), self.act_coefficients(params), [p[1] for p in models], table

    def _encode_pass(self, enc, setup, i, prev, cur, mask):
        mean, act, ks, tables = setup
        base, ph, b = predict(mean, act, prev, cur if i else None)
        r, ph, b = (cur - base)[0][mask], ph[0][mask], b[0][mask]
        for k in range(BUCKETS):
            sel, K = b == k, ks[i * BUCKETS + k]
            s, sph = r[sel], ph[sel]
            if s.size and np.abs(s).max() > K:
                raise ValueError("symbols outside the model's range")
            if not s.size or K == 0:
                continue
            for j in range(PHASES):
                sj = s[sph == j]
                if sj.size:
                    enc.encode((sj + K).astype(np.int32), tables(i * BUCKETS + k, j))

    def _decode_pass(self, dec, setup, i, prev, cur, mask):
        mean, act, ks, tables = setup
        base, ph, b = predict(mean, act, prev, cur if i else None)
        base, ph, b = base[0][mask], ph[0][mask], b[0][mask]
        r = np.zeros(base.shape, dtype=np.int64)
        for k in range(BUCKETS):
            K = ks[i * BUCKETS + k]
            if K == 0:
                continue
            for j in range(PHASES):
                sel = (b == k) & (ph == j)
                n = int(sel.sum())
                if n:
                    r[sel] = np.asarray(dec.decode(tables(i * BUCKETS + k, j), n), dtype=np.int64) - K
        return base + r

    # -- training ----------------------------------------------------------------------------------
    @staticmethod
    def rate_bits(y: torch.Tensor, log_b: torch.Tensor, aux: torch.Tensor | None = None,
                  frames: torch.Tensor | None = None) -> torch.Tensor:
        """Bits of continuous latents ``y`` (slices, h, w) under the rule above in float: mean coefficients
        ``aux[:22]``, activity weights ``|aux[22:]|``, floors ``exp(log_b)`` (pass A, B); with ``frames``,
        the bits of those slices (each given its predecessor) times slices / len(frames)."""
        if torch.is_grad_enabled() and y.requires_grad:  # training: one C pass, gradients included
            fast = rate_native.nb_rate(y, aux, log_b.exp(), frames, B0 / 4)
            if fast is not None:
                return fast
        y, yr, prev, scale = training_slices(y, frames)
        mask = anchor_mask(*y.shape[-2:], y.device)
        cur = torch.where(mask, yr, torch.zeros_like(yr))
        # Each weighted sum of shifted neighbours is a 3x3 convolution, and |shift(f)| = shift(|f|) (zeros
        # outside): the passes' means are one convolution of [prev, cur], their activities one of their
        # magnitudes (two groups of one call).
        a = aux.to(y.dtype)
        kernel = y.new_zeros(4, 2, 9)
        kernel[0, 0, :] = a[:FEATURES_A]                                          # pass A's mean
        kernel[1, 0, :] = a[FEATURES_A:FEATURES_A + 9]                            # pass B's mean
        kernel[1, 1, _CURRENT_TAPS] = a[FEATURES_A + 9:MEAN_COEFFS]
        kernel[2, 0, :] = a[MEAN_COEFFS:MEAN_COEFFS + FEATURES_A].abs()           # pass A's activity
        kernel[3, 0, :] = a[MEAN_COEFFS + FEATURES_A:MEAN_COEFFS + FEATURES_A + 9].abs()
        kernel[3, 1, _CURRENT_TAPS] = a[MEAN_COEFFS + FEATURES_A + 9:].abs()
        floor = log_b.exp().to(y.dtype)
        # channels-last: oneDNN's backward pass of this thin convolution ran 2-4x faster than in NCHW (CPU)
        x = torch.stack([prev, cur, prev.abs(), cur.abs()], dim=-1).permute(0, 3, 1, 2)
        out = F.conv2d(x, kernel.view(4, 2, 3, 3), padding=1, groups=2)          # (T, 4, H, W)
        mu = torch.where(mask, out[:, 0], out[:, 1])
        mu = mu + (torch.round(mu * PHASES) / PHASES - mu).detach()
        b = torch.where(mask, out[:, 2] + floor[0], out[:, 3] + floor[1]).clamp_min(B0 / 4)
        return laplace.rate_bits(y - mu, b).sum() * scale

    @staticmethod
    def initial(y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Training's start (log_b's floors, aux): each latent predicted by the previous slice's, as the
        first context model does, the default activity."""
        mean = torch.zeros(MEAN_COEFFS)
        mean[4], mean[FEATURES_A + 4] = 1.0, 1.0
        floor = y.abs().mean().clamp_min(0.05).expand(2).clone()
        act = torch.tensor(DEFAULT_ACT[2:], dtype=torch.float32).clamp_min(0.02)  # |0| would get no gradient
        return floor, torch.cat([mean, act])

    @staticmethod
    def hint(log_b: torch.Tensor, aux: torch.Tensor) -> np.ndarray:
        """What ``fit`` takes from training: the mean coefficients, the floors, the activity weights."""
        a = aux.detach().cpu().double().numpy()
        return np.concatenate([a[:MEAN_COEFFS], log_b.detach().cpu().double().exp().numpy(), a[MEAN_COEFFS:]])
