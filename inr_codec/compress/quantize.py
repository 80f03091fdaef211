"""Per-channel symmetric uniform quantization (numpy only).

With ``qmax = 2**(bits-1) - 1`` and one scale per channel ``c`` (the index along ``axis``)::

    scale_c  = float32(max|w_c| / qmax)                 (0 for an all-zero channel)
    symbol   = clip(rint(w / scale_c), -qmax, qmax)     (0 where scale_c == 0)
    value    = float32(symbol) * scale_c                (one float32 multiply: the same bits
                                                         on every machine)

``axis == -1`` means one scale for the whole tensor; tensors with ndim 0 or 1 (biases)
always get one scale.
"""
from __future__ import annotations

import numpy as np

MIN_BITS, MAX_BITS = 2, 16


def channel_axis(ndim: int, axis: int) -> int:
    """The axis the scales run along, or -1 for one scale (ndim 0/1 or axis -1)."""
    if axis == -1 or ndim <= 1:
        return -1
    if not 0 <= axis < ndim:
        raise ValueError(f"axis {axis} is invalid for a {ndim}-d tensor (use 0..{ndim - 1}, or -1 for one scale)")
    return axis


def _broadcast_shape(ndim: int, axis: int) -> tuple[int, ...]:
    return tuple(-1 if i == axis else 1 for i in range(ndim))


def quantize(w: np.ndarray, bits: int, axis: int = 0, scales: np.ndarray | None = None
             ) -> tuple[np.ndarray, np.ndarray]:
    """Return (int32 symbols of w's shape, float32 scales: one per channel along ``axis``, or one).

    ``scales`` given (float32, one per channel or one): quantize on that grid instead of max|w_c| / qmax
    (values beyond ±qmax·scale clip); NIRVANA's residuals use the key group's steps this way."""
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or not MIN_BITS <= bits <= MAX_BITS:
        raise ValueError(f"bits must be an integer in {MIN_BITS}..{MAX_BITS}, got {bits!r}")
    w = np.asarray(w, dtype=np.float32)
    if not np.all(np.isfinite(w)):
        raise ValueError("cannot quantize a tensor with NaN or infinite values (did the fit diverge?)")
    qmax = 2 ** (int(bits) - 1) - 1
    ax = channel_axis(w.ndim, axis)
    if ax == -1:
        amax = np.array([np.max(np.abs(w), initial=0.0)], dtype=np.float32)
        view = ()
    else:
        others = tuple(i for i in range(w.ndim) if i != ax)
        amax = np.max(np.abs(w), axis=others, initial=0.0).astype(np.float32)
        view = _broadcast_shape(w.ndim, ax)
    if scales is None:
        scales = (amax.astype(np.float64) / qmax).astype(np.float32)
        # rounding up to float32 must not let qmax * scale overflow (the container checks it)
        too_big = scales.astype(np.float64) * qmax > np.finfo(np.float32).max
        scales = np.where(too_big, np.nextafter(scales, np.float32(0)), scales).astype(np.float32)
    else:
        scales = np.asarray(scales, dtype=np.float32).reshape(-1)
        if scales.shape != amax.reshape(-1).shape:
            raise ValueError(f"{scales.size} scales given for {amax.size} channels")
    divisor = np.where(scales > 0, scales, np.float32(1)).reshape(view)
    with np.errstate(over="ignore"):
        symbols = np.rint(w / divisor)
    symbols = np.clip(symbols, -qmax, qmax).astype(np.int32)
    symbols = np.where((scales > 0).reshape(view), symbols, 0).astype(np.int32)
    return symbols.reshape(w.shape), scales


def dequantize(symbols: np.ndarray, scales: np.ndarray, axis: int) -> np.ndarray:
    """float32(symbols) * scales, the scales broadcast along ``axis`` (one scale: any axis)."""
    symbols = np.asarray(symbols)
    scales = np.asarray(scales, dtype=np.float32).reshape(-1)
    values = symbols.astype(np.float32)
    if scales.size == 1:
        return np.multiply(values, scales[0], dtype=np.float32)
    ax = channel_axis(symbols.ndim, axis)
    if ax == -1 or symbols.shape[ax] != scales.size:
        raise ValueError(f"{scales.size} scales do not match shape {symbols.shape} along axis {axis}")
    return np.multiply(values, scales.reshape(_broadcast_shape(symbols.ndim, ax)), dtype=np.float32)
