"""The interface every learned entropy model of a stored tensor follows.

In the spirit of CompressAI's ``forward / compress / decompress``:

* ``rate_bits(y, log_b)`` (torch, training): bits of the continuous symbols ``y`` (the tensor over its
  quantization step, with noise or straight-through rounding), differentiable in ``y`` and ``log_b``;
* ``fit(q)``: the integer parameters the file stores for the final symbols ``q`` (int32, the
  tensor's shape);
* ``encode(q, params)`` / ``decode(payload, params, shape)``: the range-coded payload and back;
* ``estimate_bits(q, params)``: the ideal code length of ``q`` under the integer tables the
  decoder derives, i.e. what the payload should weigh (``inrcodec info`` shows it beside it).

Parameters are a flat list of unsigned integers (``params_per_model`` per model, e.g. the ``S, K``
of ``laplace.frequencies``), so the decoder's tables come from integers alone. ``MODELS`` maps a container coder name to its model.
"""
from __future__ import annotations

import constriction
import numpy as np

from . import laplace


CODER_PRECISION = 24  # bits of constriction's range coder probabilities (its default models)


def categorical(freq: np.ndarray):
    """The coder's model of an integer table: the same float64 normalisation as the stored-table coder."""
    f = np.asarray(freq, dtype=np.float64)
    return constriction.stream.model.Categorical(f / float(np.sum(f)), perfect=False)


class EntropyModel:
    """A kind of model for a stored tensor. Each of its ``model_count`` models codes one stream under
    an integer table derived from ``params_per_model`` stored integers, the last of which is K, the
    largest magnitude the table covers (the discretised Laplace here: S, K; other families override
    ``frequencies``, ``fit_model`` and ``check_model``)."""
    coder: str = ""
    params_per_model = 2  # S, K

    def model_count(self, shape: tuple[int, ...]) -> int:
        raise NotImplementedError

    def streams(self, q: np.ndarray) -> list[np.ndarray]:
        """The symbol sequences, one per model, in coding order (what the models' tables cover)."""
        raise NotImplementedError

    def unstream(self, streams: list[np.ndarray], shape: tuple[int, ...]) -> np.ndarray:
        raise NotImplementedError

    # -- the family of one model: its table and parameters -------------------------------------
    def frequencies(self, p: tuple[int, ...]) -> np.ndarray:
        return laplace.frequencies(*p)

    def fit_model(self, s: np.ndarray) -> tuple[int, ...]:
        k = int(np.abs(s).max()) if s.size else 0
        if k > laplace.MAX_K:
            raise ValueError(f"symbols reach {k}, beyond the model's range {laplace.MAX_K}")
        return laplace.fixed_s(laplace.best_b(s)), k

    def check_model(self, p: tuple[int, ...]) -> str | None:
        S, K = p
        if not 1 <= S < laplace.ONE:
            return f"Laplace parameter {S} is outside 1..2**32-1"
        if not 0 <= K <= laplace.MAX_K:
            return f"Laplace range {K} is outside 0..{laplace.MAX_K}"
        return None

    # -- the tensor's models ----------------------------------------------------------------------
    def split(self, params) -> list[tuple[int, ...]]:
        n = self.params_per_model
        return [tuple(params[i:i + n]) for i in range(0, len(params), n)]

    def fit(self, q: np.ndarray, hint=None) -> list[int]:
        """The stored parameters for symbols ``q``; ``hint``: what training learned, for models that use it."""
        return [x for s in self.streams(q) for x in self.fit_model(s)]

    def check(self, params, shape) -> str | None:
        n = self.model_count(tuple(shape))
        if len(params) != self.params_per_model * n:
            return f"{len(params)} model parameters, {self.params_per_model * n} expected"
        for p in self.split(params):
            problem = self.check_model(p)
            if problem:
                return problem
        return None

    def encode(self, q: np.ndarray, params: list[int]) -> bytes:
        enc = constriction.stream.queue.RangeEncoder()
        for s, p in zip(self.streams(q), self.split(params)):
            K = p[-1]
            if K == 0 or s.size == 0:
                if s.size and np.any(s != 0):
                    raise ValueError("symbols outside the model's range")
                continue  # a model of symbol 0 alone: nothing to code
            if np.abs(s).max() > K:
                raise ValueError("symbols outside the model's range")
            enc.encode((s + K).astype(np.int32), categorical(self.frequencies(p)))
        return enc.get_compressed().astype("<u4").tobytes()

    def decode(self, payload: bytes, params: list[int], shape: tuple[int, ...]) -> np.ndarray:
        """Symbols of ``shape``; ValueError when the payload does not agree with the models."""
        if len(payload) % 4:
            raise ValueError("range payload length is not a multiple of 4")
        dec = constriction.stream.queue.RangeDecoder(np.frombuffer(payload, dtype="<u4").astype(np.uint32))
        lengths = [s.size for s in self.streams(np.zeros(shape, dtype=np.int32))]
        out = []
        try:
            for n, p in zip(lengths, self.split(params)):
                K = p[-1]
                if K == 0 or n == 0:
                    out.append(np.zeros(n, dtype=np.int64))
                    continue
                idx = dec.decode(categorical(self.frequencies(p)), n)
                out.append(np.asarray(idx, dtype=np.int64) - K)
        except Exception as e:  # constriction reports invalid data with various types
            raise ValueError(f"range decoding failed ({e})") from None
        if not dec.maybe_exhausted():
            raise ValueError("the payload holds more data than its symbols")
        q = self.unstream(out, shape)
        # A range decoder turns any words into some symbols: coding them again must give the payload
        # back exactly, or the payload and its model disagree (never silent garbage).
        if self.encode(q, params) != bytes(payload):
            raise ValueError("the payload does not agree with its entropy model")
        return q

    def estimate_bits(self, q: np.ndarray, params: list[int]) -> float:
        """Ideal code length of ``q`` under the tables as the coder uses them: what the payload should weigh.
        The coder quantizes probabilities to CODER_PRECISION bits and gives every symbol of a table at
        least one unit of it (a leaky quantization), so a rare symbol costs at most that many bits: without
        that floor the estimate of a small stream with far tails (HNeRV's embeddings) was 2% too high."""
        return sum(self.stream_bits(s, p) for s, p in zip(self.streams(q), self.split(params)))

    def stream_bits(self, s: np.ndarray, p: tuple[int, ...]) -> float:
        """Ideal code length of one stream ``s`` under the model of parameters ``p`` (see estimate_bits)."""
        if p[-1] == 0 or not s.size:
            return 0.0
        f = self.frequencies(p).astype(np.float64)
        unit = 2.0 ** -CODER_PRECISION
        prob = f / f.sum() * (1.0 - f.size * unit) + unit
        idx = np.asarray(s, dtype=np.int64).reshape(-1) + p[-1]
        return float(-np.log2(prob[idx]).sum())
