"""laplace_nb with a motion-compensated context (coder ``laplace_nbm``, format 1.8).

A latent level's slices are the picture at times a stride apart; where the camera moves, slice t's content
sits displaced from slice t - 1's, and laplace_nb's context (the previous slice's 3x3 neighbourhood at the
same place) misses it. This model reads slice t's predecessor moved by a whole-latent shift (dy, dx) of its
own (``slice_coding.shift_slice``: out[y, x] = prev[y - dy, x - dx], zeros where nothing moves in); every
rule after that is laplace_nb's. The shifts are stored after laplace_nb's parameters, zigzagged, dy then dx
for slices 1 … T - 1 (slice 0 has no predecessor).

The encoder finds each slice's shift by the integer correlation of the two slices' symbols over
|dy|, |dx| <= ``SEARCH`` (ties: the smaller |dy| + |dx|, then the first in raster order), so the shifts,
as every other quantity here, are integers every machine derives alike. It is an encoder's choice among
records (``learned_quant.code`` writes whichever of laplace_nb, this one, laplace_ctx and one Laplace is
smallest): training's rate is laplace_nb's, in place.
"""
from __future__ import annotations

import numpy as np

from ...container.format import unzigzag, zigzag
from .latent_neighbours import COEFFS, STREAMS, LatentNeighbours
from .slice_coding import shift_slice

SEARCH = 8                 # latents each way
MAX_SHIFT = 255            # what a file may store (|dy|, |dx|)


def search_shifts(q: np.ndarray, radius: int = SEARCH) -> list[tuple[int, int]]:
    """Each slice's (dy, dx) that best aligns its predecessor with it: the largest sum of products of the
    moved predecessor and the slice (int64, exact); (0, 0) for slice 0 and where either slice is all zero."""
    q = np.asarray(q, dtype=np.int64)
    out = [(0, 0)]
    for t in range(1, q.shape[0]):
        prev, cur = q[t - 1], q[t]
        best = (0, 0)
        if prev.any() and cur.any():
            ry, rx = min(radius, prev.shape[0] - 1), min(radius, prev.shape[1] - 1)
            key = None
            for dy in range(-ry, ry + 1):
                for dx in range(-rx, rx + 1):
                    k = (int((shift_slice(prev, dy, dx) * cur).sum()), -(abs(dy) + abs(dx)))
                    if key is None or k > key:
                        key, best = k, (dy, dx)
        out.append(best)
    return out


class LatentNeighboursMC(LatentNeighbours):
    coder = "laplace_nbm"

    def shift_count(self, shape) -> int:
        return 2 * max(int(shape[0]) - 1, 0)

    def shifts(self, params, shape):
        tail = [unzigzag(int(u)) for u in params[COEFFS + 2 * STREAMS:]]
        return [(0, 0)] + [(tail[i], tail[i + 1]) for i in range(0, len(tail), 2)]

    def split(self, params):
        return super().split(params[:COEFFS + 2 * STREAMS])

    def check(self, params, shape):
        if len(shape) == 3 and len(params) != COEFFS + 2 * STREAMS + self.shift_count(shape):
            return f"{len(params)} model parameters, {COEFFS + 2 * STREAMS + self.shift_count(shape)} expected"
        problem = super().check(params[:COEFFS + 2 * STREAMS], shape)
        if problem is None and any(abs(d) > MAX_SHIFT for s in self.shifts(params, shape) for d in s):
            return f"a context shift is outside -{MAX_SHIFT}..{MAX_SHIFT}"
        return problem

    def fit(self, q, hint=None):
        """laplace_nb's ``fit`` with each slice's predecessor read at ``search_shifts(q)``, the shifts after.
        ValueError where no slice moved: laplace_nb's own record is then the same code, shorter."""
        q = np.asarray(q, dtype=np.int64)
        shifts = search_shifts(q)
        if not any(shifts[1:]):
            raise ValueError("no slice moved against its predecessor")
        return self._fit(q, hint, shifts) + [zigzag(d) for s in shifts[1:] for d in s]
