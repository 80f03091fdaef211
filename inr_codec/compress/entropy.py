"""Entropy coding of integer symbols: constriction's range coder with a stored integer table.

Two coders; ``encode`` picks whichever gives fewer bytes (payload + frequency table):

* ``"range"``: symbols ``s`` become indices ``s - min_symbol`` into an integer frequency
  table ``f`` covering ``[min_symbol, max_symbol]`` (used symbols only, so both ends are
  non-zero). The model is ``constriction.stream.model.Categorical(f / sum(f), perfect=False)``
  with the probabilities computed in float64 as ``f.astype(float64) / float(sum(f))``, the
  same on encode and decode; constriction turns them into fixed point deterministically.
  The payload is the range coder's uint32 words, little-endian. A table with a single
  entry (one distinct symbol) has an empty payload: every symbol is ``min_symbol``.
  The table is either the exact counts or the counts rescaled to a smaller total
  ``2**k`` (``max(1, round(count * 2**k / n))`` for used symbols): the file stores the
  table bit-packed at the width of its largest entry, so smaller numbers cost fewer
  bytes, at a small cost in coded size. The encoder tries
  each and keeps the smallest estimate; the decoder only ever sees the table.
* ``"raw"``: each symbol stored as ``s - min_symbol`` in exactly ``bits`` bits, most
  significant bit first (``container.format.pack_bits``), no table.
"""
from __future__ import annotations

import math

import constriction
import heapq

import numpy as np

from ..container import format as fmt

RAW, RANGE = "raw", "range"


def table_bytes(frequencies: np.ndarray) -> int:
    """Bytes the table takes in the file: its length (uvar) and its packed entries."""
    n = len(frequencies)
    head = len(fmt.uvar_bytes(n))
    return head if n == 0 else head + 1 + (n * fmt.packed_width(frequencies) + 7) // 8


def estimate_bits(symbols: np.ndarray) -> float:
    """Empirical entropy of the symbols times their count, in bits (no table, no framing)."""
    symbols = np.asarray(symbols).reshape(-1)
    if symbols.size == 0:
        return 0.0
    _, counts = np.unique(symbols, return_counts=True)
    p = counts / symbols.size
    return float(-np.sum(counts * np.log2(p)))


def huffman_bits(symbols: np.ndarray) -> int:
    """Bits a Huffman code built for these symbols would take (the table not counted), for comparison."""
    _, counts = np.unique(np.asarray(symbols).reshape(-1), return_counts=True)
    if counts.size <= 1:
        return int(counts.sum())  # one distinct symbol: one bit each in a Huffman code
    # Each merge of the two lightest nodes adds one bit to every symbol beneath: total = sum of merged weights.
    heap = [int(c) for c in counts]
    heapq.heapify(heap)
    total = 0
    while len(heap) > 1:
        merged = heapq.heappop(heap) + heapq.heappop(heap)
        total += merged
        heapq.heappush(heap, merged)
    return total


def _check_symbols(symbols: np.ndarray, bits: int) -> np.ndarray:
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or not 1 <= bits <= 16:
        raise ValueError(f"bits must be an integer in 1..16, got {bits!r}")
    symbols = np.asarray(symbols)
    if symbols.size and symbols.dtype.kind not in "iu":
        raise ValueError(f"symbols must be integers, got dtype {symbols.dtype}")
    symbols = symbols.reshape(-1).astype(np.int64)
    qmax = 2 ** (int(bits) - 1) - 1
    if symbols.size and (symbols.min() < -qmax or symbols.max() > qmax):
        raise ValueError(f"symbols lie outside [-{qmax}, {qmax}] for {bits} bits")
    return symbols


def _model(frequencies: np.ndarray):
    f = np.asarray(frequencies, dtype=np.float64)
    return constriction.stream.model.Categorical(f / float(np.sum(f)), perfect=False)


def _range_encode(indices: np.ndarray, frequencies: np.ndarray) -> bytes:
    if frequencies.size == 1:
        return b""
    encoder = constriction.stream.queue.RangeEncoder()
    encoder.encode(indices.astype(np.int32), _model(frequencies))
    return encoder.get_compressed().astype("<u4").tobytes()


def _best_table(counts: np.ndarray) -> np.ndarray:
    """Among the exact counts and rescalings to 2**k, the table with the fewest estimated bytes."""
    n = int(counts.sum())
    used = counts > 0
    candidates = [counts]
    k = 2
    while (1 << k) < n:
        f = np.where(used, np.maximum(1, (counts * (1 << k) * 2 + n) // (2 * n)), 0)
        candidates.append(f)
        k += 1
    best, best_cost = counts, math.inf
    for f in candidates:
        p = f[used] / f.sum()
        coded = float(-np.sum(counts[used] * np.log2(p)))
        cost = table_bytes(f) + coded / 8
        if cost < best_cost:
            best, best_cost = f, cost
    return best.astype(np.uint32)


def encode(symbols: np.ndarray, bits: int) -> tuple[str, int, np.ndarray, bytes]:
    """-> (coder, min_symbol, frequencies uint32, payload); symbols in [-(2**(bits-1)-1), 2**(bits-1)-1]."""
    symbols = _check_symbols(symbols, bits)
    bits = int(bits)
    if symbols.size == 0:
        return RAW, 0, np.zeros(0, dtype=np.uint32), b""
    lo = int(symbols.min())
    indices = symbols - lo
    raw = fmt.pack_bits(indices, bits)
    counts = np.bincount(indices).astype(np.int64)
    table = _best_table(counts)
    payload = _range_encode(indices, table)
    if len(payload) + table_bytes(table) < len(raw) + table_bytes(table[:0]):
        return RANGE, lo, table, payload
    return RAW, lo, np.zeros(0, dtype=np.uint32), raw


def decode(coder: str, min_symbol: int, frequencies: np.ndarray, payload: bytes, count: int,
           bits: int) -> np.ndarray:
    """Inverse of ``encode``: ``count`` int32 symbols. ``bits`` is needed by the raw coder.

    Raises ValueError when the inputs are inconsistent (a corrupted or hand-made record).
    """
    frequencies = np.asarray(frequencies, dtype=np.uint32).reshape(-1)
    qmax = 2 ** (int(bits) - 1) - 1
    if count < 0:
        raise ValueError(f"negative symbol count {count}")
    if coder == RAW:
        if frequencies.size:
            raise ValueError("raw coder with a frequency table")
        if len(payload) != (count * bits + 7) // 8:
            raise ValueError(f"raw payload has {len(payload)} bytes, {(count * bits + 7) // 8} expected")
        symbols = fmt.unpack_bits(payload, count, bits).astype(np.int64) + min_symbol
    elif coder == RANGE:
        if count == 0:
            return np.zeros(0, dtype=np.int32)
        if frequencies.size == 0 or int(frequencies.sum(dtype=np.uint64)) == 0:
            raise ValueError("range coder with an empty frequency table")
        if frequencies.size == 1:
            symbols = np.full(count, min_symbol, dtype=np.int64)
        else:
            if len(payload) % 4:
                raise ValueError("range payload length is not a multiple of 4")
            words = np.frombuffer(payload, dtype="<u4").astype(np.uint32)
            try:
                indices = constriction.stream.queue.RangeDecoder(words).decode(_model(frequencies), count)
            except Exception as e:  # constriction reports invalid data with various types
                raise ValueError(f"range decoding failed ({e})") from None
            symbols = np.asarray(indices, dtype=np.int64) + min_symbol
    else:
        raise ValueError(f"unknown coder {coder!r}")
    if symbols.size and (symbols.min() < -qmax or symbols.max() > qmax):
        raise ValueError(f"decoded symbols lie outside [-{qmax}, {qmax}]")
    return symbols.astype(np.int32)
