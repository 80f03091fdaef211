"""Bridge between float tensors and container records: quantize + entropy-code, and back."""
from __future__ import annotations

import math

import numpy as np

from ..container.records import CodedTensor
from ..errors import ContainerError
from . import entropy
from .entropy_models import MODELS

LEARNED_BITS = 16  # symbols of learned-step tensors lie in [-32767, 32767]
from .quantize import channel_axis, dequantize, quantize


def code_tensor(name: str, array: np.ndarray, bits: int, axis: int = 0, scales: np.ndarray | None = None
                ) -> CodedTensor:
    """Quantize ``array`` (per channel along ``axis``; -1 or ndim <= 1: one scale) and
    entropy-code its symbols (C order); ``scales``: a given grid (see quantize.quantize). The coded symbols are decoded again and compared
    before the record is returned, so the encoder always runs the decoder's code."""
    array = np.asarray(array, dtype=np.float32)
    ax = channel_axis(array.ndim, axis)
    symbols, scales = quantize(array, bits, ax, scales)
    flat = symbols.reshape(-1)
    coder, min_symbol, frequencies, payload = entropy.encode(flat, bits)
    if not np.array_equal(entropy.decode(coder, min_symbol, frequencies, payload, flat.size, bits), flat):
        raise RuntimeError(f"entropy coding of tensor {name!r} did not round-trip (a bug)")
    return CodedTensor(name=name, shape=tuple(int(d) for d in array.shape), bits=int(bits), axis=ax,
                       scales=scales, coder=coder, min_symbol=min_symbol,
                       frequencies=frequencies, payload=payload)


def code_symbols(name: str, symbols: np.ndarray, scales: np.ndarray, axis: int, model, hint=None) -> CodedTensor:
    """Code given symbols (int32, the tensor's shape) under a learned entropy model (``entropy_models``);
    values are ``symbols * scales`` along ``axis``; ``hint``: the model's trained parameters where its fit
    uses them. Decoded again and compared before it is returned."""
    symbols = np.asarray(symbols, dtype=np.int32)
    params = model.fit(symbols, hint)
    payload = model.encode(symbols, params)
    ct = CodedTensor(name=name, shape=tuple(int(d) for d in symbols.shape), bits=LEARNED_BITS, axis=axis,
                     scales=np.asarray(scales, dtype=np.float32).reshape(-1), coder=model.coder, min_symbol=0,
                     frequencies=np.zeros(0, dtype=np.uint32), payload=payload, params=params)
    if not np.array_equal(decode_symbols(ct), symbols):
        raise RuntimeError(f"entropy coding of tensor {name!r} did not round-trip (a bug)")
    return ct


def decode_symbols(ct: CodedTensor) -> np.ndarray:
    """The tensor's int32 symbols in its shape."""
    if ct.coder in MODELS:
        try:
            return MODELS[ct.coder].decode(ct.payload, list(ct.params), tuple(ct.shape))
        except ValueError as e:
            raise ContainerError(f"cannot decode tensor {ct.name!r}: {e}; the model file is corrupted") from None
    try:
        flat = entropy.decode(ct.coder, ct.min_symbol, ct.frequencies, ct.payload,
                              math.prod(ct.shape), ct.bits)
    except ValueError as e:
        raise ContainerError(f"cannot decode tensor {ct.name!r}: {e}; the model file is corrupted") from None
    return flat.reshape(ct.shape)


def decode_tensor(ct: CodedTensor) -> np.ndarray:
    """float32 values of ``ct``: symbols * scales in float32 (see quantize.dequantize)."""
    return dequantize(decode_symbols(ct), ct.scales, ct.axis)
