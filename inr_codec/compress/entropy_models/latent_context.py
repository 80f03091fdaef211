"""A context model for latent grids (``model=latent``: one level, frames x height x width).

Each symbol is predicted from what the decoder already holds: the previous frame of the same level
(``q[-1] = 0``) and, on a checkerboard, the current frame's already-decoded half. A frame is decoded in
two passes, each over half its positions at once (parallel, no per-symbol loop):

* pass A, the anchors ((y + x) even): features ``f0 = prev[y, x]``, ``f1`` = the sum of ``prev``'s four
  neighbours of (y, x);
* pass B, the others: also ``f2`` = the sum of the current frame's four neighbours, all anchors.

The mean is an integer linear prediction with stored fixed-point coefficients (``COEFFS``: a0, a1 for
pass A, b0, b1, b2 for pass B)::

    mu = (sum_i c_i * f_i + 2**(P-1)) >> P          (int64, arithmetic shift: floor)

and the residual ``q - mu`` is coded under a discretised Laplace (``laplace``: S, K) chosen by the pass
and a bucket of the local activity ``A = 4|f0| + |f1| + |f2|``: bucket ``min(bit_length(A), BUCKETS-1)``.
Flat regions (A = 0, most of a low-rate grid) get their own peaked model. Every quantity is an integer
the decoder holds exactly, so the tables and the symbols are identical on every machine, thread count
and dtype by construction. Stored parameters: the five coefficients (zigzagged), then S, K for each
of the 2 x BUCKETS streams. Coding order: frame by frame, pass A then B, bucket by bucket, positions in
raster order within a bucket.

Training (``rate_bits``) evaluates the same rule in float on the latents over their step (noise or
straight-through rounding): neighbours and the mean are rounded straight-through, buckets come from the
rounded values, and each stream has a learned scale.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ...container.format import unzigzag, zigzag  # the container's own signed-integer mapping
from . import laplace
from .base import categorical
from .slice_coding import SliceCoded, anchors, pass_least_squares, previous, training_slices

P = 12                         # fixed-point bits of the prediction coefficients
COEFFS = 5                     # a0, a1 (pass A); b0, b1, b2 (pass B)
MAX_COEFF = 1 << 16            # |c| <= MAX_COEFF (16 x in real terms)
BUCKETS = 8
STREAMS = 2 * BUCKETS


def _cross(a: np.ndarray) -> np.ndarray:
    """Sum of the four neighbours over the last two axes, zero outside (int64)."""
    p = np.pad(a, [(0, 0)] * (a.ndim - 2) + [(1, 1), (1, 1)])
    return p[..., :-2, 1:-1] + p[..., 2:, 1:-1] + p[..., 1:-1, :-2] + p[..., 1:-1, 2:]


def bucket_of(act: np.ndarray) -> np.ndarray:
    """min(bit_length(act), BUCKETS - 1) for act >= 0, by integer comparisons."""
    b = np.zeros(act.shape, dtype=np.int64)
    for k in range(BUCKETS - 1):
        b += act >= (1 << k)
    return b


def predict(coeffs, prev: np.ndarray, cur_anchors: np.ndarray | None):
    """(mu, bucket) at every position of one pass; ``cur_anchors`` None for pass A, else the current
    frame with its anchors decoded (the other positions are ignored). Works on (..., H, W) arrays."""
    f0 = prev
    f1 = _cross(prev)
    if cur_anchors is None:
        c0, c1 = coeffs[0], coeffs[1]
        acc = c0 * f0 + c1 * f1
        act = 4 * np.abs(f0) + np.abs(f1)
    else:
        f2 = _cross(np.where(anchors(*prev.shape[-2:]), cur_anchors, 0))
        c0, c1, c2 = coeffs[2], coeffs[3], coeffs[4]
        acc = c0 * f0 + c1 * f1 + c2 * f2
        act = 4 * np.abs(f0) + np.abs(f1) + np.abs(f2)
    return (acc + (1 << (P - 1))) >> P, bucket_of(act)


def residual_streams(q: np.ndarray, coeffs) -> list[np.ndarray]:
    """The residuals of each (pass, bucket) stream over the whole tensor (for fitting and estimates)."""
    q = np.asarray(q, dtype=np.int64)
    prev = previous(q)
    mask = anchors(*q.shape[-2:])
    out = []
    for pass_b, m in ((False, mask), (True, ~mask)):
        mu, b = predict(coeffs, prev, q if pass_b else None)
        r, b = (q - mu)[:, m], b[:, m]
        out += [r[b == k] for k in range(BUCKETS)]
    return out


def fixed_coeffs(a) -> list[int]:
    return [int(min(max(round(float(x) * (1 << P)), -MAX_COEFF), MAX_COEFF)) for x in a]


def least_squares(q: np.ndarray) -> list[float]:
    """Coefficients minimising the squared residual of each pass (a starting point when none was trained)."""
    q = np.asarray(q, dtype=np.float64)
    prev = previous(q)
    mask = anchors(*q.shape[-2:])
    fa = [prev[:, mask], _cross(prev)[:, mask]]
    fb = [prev[:, ~mask], _cross(prev)[:, ~mask], _cross(np.where(mask, q, 0))[:, ~mask]]
    return pass_least_squares(fa, q[:, mask]) + pass_least_squares(fb, q[:, ~mask])


class LatentContext(SliceCoded):
    coder = "laplace_ctx"
    coefficient_count, stream_count = COEFFS, STREAMS

    # -- parameters: COEFFS zigzagged coefficients, then S, K per stream ---------------------------
    def coefficients(self, params) -> list[int]:
        return [unzigzag(int(u)) for u in params[:COEFFS]]

    def check_coefficients(self, params):
        if any(abs(c) > MAX_COEFF for c in self.coefficients(params)):
            return f"a prediction coefficient is outside -{MAX_COEFF}..{MAX_COEFF}"
        return None

    def fit(self, q, hint=None):
        """The stored parameters for symbols ``q``: of the trained coefficients (``hint``), the least-squares
        ones and plain zero prediction, whichever codes ``q`` in the fewest bits, each stream's Laplace fitted."""
        q = np.asarray(q, dtype=np.int64)
        candidates = [np.zeros(COEFFS), least_squares(q)] + ([np.asarray(hint, dtype=np.float64)]
                                                              if hint is not None else [])
        best = None
        for a in candidates:
            c = fixed_coeffs(a)
            params = [zigzag(x) for x in c] + [x for s in residual_streams(q, c) for x in self._fit_stream(s)]
            bits = self.estimate_bits(q, params)
            if best is None or bits < best[0]:
                best = (bits, params)
        return best[1]

    def _fit_stream(self, s):
        """A stream's (S, K); one that codes nothing (empty or all zero) stores S = 1, a one-byte uvar."""
        S, K = self.fit_model(s)
        return (S, K) if K > 0 else (1, 0)

    def estimate_bits(self, q, params):
        streams = residual_streams(q, self.coefficients(params))
        return sum(self.stream_bits(s, p) for s, p in zip(streams, self.split(params)))

    # -- coding, frame by frame (slice_coding.SliceCoded) ------------------------------------------
    def _setup(self, params):
        tables = [categorical(self.frequencies(p)) if p[1] > 0 else None for p in self.split(params)]
        return self.coefficients(params), [p[1] for p in self.split(params)], tables

    def _encode_pass(self, enc, setup, i, prev, cur, mask):
        coeffs, ks, tables = setup
        mu, b = predict(coeffs, prev, cur if i else None)
        r, b = (cur - mu)[0][mask], b[0][mask]
        for k in range(BUCKETS):
            s, K = r[b == k], ks[i * BUCKETS + k]
            if s.size and np.abs(s).max() > K:
                raise ValueError("symbols outside the model's range")
            if s.size and K > 0:
                enc.encode((s + K).astype(np.int32), tables[i * BUCKETS + k])

    def _decode_pass(self, dec, setup, i, prev, cur, mask):
        coeffs, ks, tables = setup
        mu, b = predict(coeffs, prev, cur if i else None)
        mu, b = mu[0][mask], b[0][mask]
        r = np.zeros(mu.shape, dtype=np.int64)
        for k in range(BUCKETS):
            sel, K = b == k, ks[i * BUCKETS + k]
            n = int(sel.sum())
            if n and K > 0:
                r[sel] = np.asarray(dec.decode(tables[i * BUCKETS + k], n), dtype=np.int64) - K
        return mu + r

    # -- training ----------------------------------------------------------------------------------
    @staticmethod
    def rate_bits(y: torch.Tensor, log_b: torch.Tensor, aux: torch.Tensor | None = None,
                  frames: torch.Tensor | None = None) -> torch.Tensor:
        """Bits of continuous latents ``y`` (frames, h, w) under the rule above with float coefficients
        ``aux`` (COEFFS) and per-stream scales ``exp(log_b)`` (STREAMS); with ``frames``, the bits of
        those frames (each given its predecessor) times frames / len(frames)."""
        y, yr, prev, scale = training_slices(y, frames)
        cross = torch.tensor([[0., 1., 0.], [1., 0., 1.], [0., 1., 0.]], dtype=y.dtype, device=y.device)

        def cross_sum(a):
            return F.conv2d(a[:, None], cross[None, None], padding=1)[:, 0]

        f0, f1, f2 = prev, cross_sum(prev), cross_sum(yr)  # f2 at a non-anchor sums anchors only
        mask = torch.from_numpy(anchors(*y.shape[-2:])).to(y.device)
        a = aux.to(y.dtype)
        mu = torch.where(mask, a[0] * f0 + a[1] * f1, a[2] * f0 + a[3] * f1 + a[4] * f2)
        mu = mu + (torch.round(mu) - mu).detach()
        with torch.no_grad():
            act = 4 * f0.abs() + f1.abs() + torch.where(mask, torch.zeros_like(f2), f2.abs())
            bucket = torch.zeros(act.shape, dtype=torch.long, device=y.device)
            for k in range(BUCKETS - 1):
                bucket += (act >= (1 << k)).long()
            index = bucket + BUCKETS * (~mask).long()
        b = log_b.exp()[index]
        return laplace.rate_bits(y - mu, b).sum() * scale

    @staticmethod
    def b_shape(shape) -> tuple[int, ...]:
        return (STREAMS,)
