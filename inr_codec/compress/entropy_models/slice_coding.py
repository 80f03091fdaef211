"""What the latent grids' context models share: coding a (slices, height, width) grid slice by slice, each
slice in two checkerboard passes (the anchors, (y + x) even, then the others), each pass given the
previous slice (zeros before the first) and, in pass B, the slice's decoded anchors.

A model states ``coefficient_count`` and ``stream_count`` and supplies ``check_coefficients(params)``,
``_setup(params)`` (whatever its passes need, built once) and the two halves of a pass:
``_encode_pass(enc, setup, i, prev, cur, mask)`` and ``_decode_pass(dec, setup, i, prev, cur, mask)``, the
latter returning the pass's symbols at ``mask`` (``i`` 0 for pass A, 1 for pass B; ``cur`` is (1, H, W),
in pass B with its anchors decoded). The decoder's checks are here, once: the payload's length, the
parameters, an exhausted decoder, no overflow, and the symbols coding back to the payload exactly.
"""
from __future__ import annotations

import functools

import numpy as np
import torch

from .base import EntropyModel


def anchors(h: int, w: int) -> np.ndarray:
    return (np.add.outer(np.arange(h), np.arange(w)) % 2) == 0


@functools.lru_cache(maxsize=64)
def anchor_mask(h: int, w: int, device) -> torch.Tensor:
    """``anchors`` as a bool tensor on ``device``, built once per size (the training side asks every step)."""
    return torch.from_numpy(anchors(h, w)).to(device)


def previous(q: np.ndarray, shifts=None) -> np.ndarray:
    """Each slice's predecessor, zeros before the first; with ``shifts`` (a (dy, dx) per slice) slice t's
    predecessor moved by shifts[t] (``shift_slice``)."""
    if shifts is None or not len(q):
        return np.concatenate([np.zeros_like(q[:1]), q[:-1]], axis=0)
    return np.stack([np.zeros_like(q[0])] + [shift_slice(q[t - 1], *shifts[t]) for t in range(1, q.shape[0])])


def shift_slice(a: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """``a`` (…, H, W) moved down by dy and right by dx, zeros where nothing moves in:
    out[y, x] = a[y - dy, x - dx]."""
    h, w = a.shape[-2:]
    out = np.zeros_like(a)
    if abs(dy) < h and abs(dx) < w:
        out[..., max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
            a[..., max(-dy, 0):h - max(dy, 0), max(-dx, 0):w - max(dx, 0)]
    return out


def training_slices(y, frames=None):
    """The training side's view of continuous latents ``y`` (slices, h, w): ``(y, yr, prev, scale)``, yr
    rounded straight-through, prev each slice's rounded predecessor (zeros before the first); with
    ``frames`` (a batch's slice indices) only those slices, and ``scale`` = slices / their count, so their
    bits estimate the whole tensor's."""
    yr = y + (torch.round(y) - y).detach()
    prev = torch.cat([torch.zeros_like(yr[:1]), yr[:-1]], dim=0)
    scale = 1.0
    if frames is not None:
        frames = torch.unique(frames.to(y.device))
        scale = y.shape[0] / len(frames)
        y, yr, prev = y[frames], yr[frames], prev[frames]
    return y, yr, prev, scale


def pass_least_squares(features: list[np.ndarray], y: np.ndarray) -> list[float]:
    """The coefficients of ``features`` (one array per feature, the pass's positions) minimising the squared
    residual against ``y``, slightly regularised; zeros for an empty pass."""
    x = np.stack([f.reshape(-1) for f in features], axis=1)
    y = y.reshape(-1)
    if not y.size:
        return list(np.zeros(x.shape[1]))
    return list(np.linalg.lstsq(x.T @ x + 1e-6 * np.eye(x.shape[1]), x.T @ y, rcond=None)[0])


class SliceCoded(EntropyModel):
    """Parameters: ``coefficient_count`` integers of the model's prediction, then S, K per stream."""
    frame_sampled = True  # rate_bits can count a batch's slices only
    zero_inflated = False
    coefficient_count = 0
    stream_count = 0

    def model_count(self, shape):
        return self.stream_count

    def split(self, params):
        rest = params[self.coefficient_count:]
        return [tuple(rest[i:i + 2]) for i in range(0, len(rest), 2)]

    def check_coefficients(self, params) -> str | None:
        raise NotImplementedError

    def check(self, params, shape):
        if len(shape) != 3:
            return f"a {self.coder} tensor needs 3 dimensions (frames, height, width), not {len(shape)}"
        expected = self.coefficient_count + 2 * self.stream_count
        if len(params) != expected:
            return f"{len(params)} model parameters, {expected} expected"
        problem = self.check_coefficients(params)
        for p in self.split(params):
            problem = problem or self.check_model(p)
        return problem

    def _setup(self, params):
        raise NotImplementedError

    def _encode_pass(self, enc, setup, i: int, prev: np.ndarray, cur: np.ndarray, mask: np.ndarray) -> None:
        raise NotImplementedError

    def _decode_pass(self, dec, setup, i: int, prev: np.ndarray, cur: np.ndarray, mask: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def shifts(self, params, shape) -> list[tuple[int, int]] | None:
        """Each slice's (dy, dx): where its predecessor is read from (``previous``); None: in place."""
        return None

    def encode(self, q, params):
        return self._encode(q, self._setup(params), self.shifts(params, np.shape(q)))

    def _encode(self, q, setup, shifts=None) -> bytes:
        import constriction
        q = np.asarray(q, dtype=np.int64)
        mask = anchors(*q.shape[-2:])
        enc = constriction.stream.queue.RangeEncoder()
        prev = np.zeros_like(q[:1])
        for t in range(q.shape[0]):
            cur = q[t:t + 1]
            for i, m in enumerate((mask, ~mask)):
                self._encode_pass(enc, setup, i, prev, cur, m)
            prev = _next_context(cur, shifts, t)
        return enc.get_compressed().astype("<u4").tobytes()

    def decode(self, payload, params, shape):
        import constriction
        if len(payload) % 4:
            raise ValueError("range payload length is not a multiple of 4")
        problem = self.check(params, shape)
        if problem:
            raise ValueError(problem)
        dec = constriction.stream.queue.RangeDecoder(np.frombuffer(payload, dtype="<u4").astype(np.uint32))
        setup, shifts = self._setup(params), self.shifts(params, shape)
        T, H, W = shape
        mask = anchors(H, W)
        q = np.zeros((T, H, W), dtype=np.int64)
        prev = np.zeros((1, H, W), dtype=np.int64)
        try:
            for t in range(T):
                cur = q[t:t + 1]
                for i, m in enumerate((mask, ~mask)):
                    cur[0][m] = self._decode_pass(dec, setup, i, prev, cur, m)
                prev = _next_context(cur, shifts, t)
        except Exception as e:  # constriction reports invalid data with various types
            raise ValueError(f"range decoding failed ({e})") from None
        if not dec.maybe_exhausted():
            raise ValueError("the payload holds more data than its symbols")
        if q.size and np.abs(q).max() > 2 ** 31 - 1:
            raise ValueError("decoded latents overflow")
        q = q.astype(np.int32)
        if self._encode(q, setup, shifts) != bytes(payload):  # see EntropyModel.decode
            raise ValueError("the payload does not agree with its entropy model")
        return q


def _next_context(cur: np.ndarray, shifts, t: int) -> np.ndarray:
    """Slice t + 1's predecessor as its passes read it."""
    return cur if shifts is None or t + 1 >= len(shifts) else shift_slice(cur, *shifts[t + 1])
