"""Per-channel symmetric uniform quantization: the one definition of the scales.

With ``qmax = 2**(bits-1) - 1`` and one scale per channel ``c`` (the index along ``axis``)::

    scale_c  = float32(max|w_c| / qmax)                 (0 for an all-zero channel)
    symbol   = clip(rint(w / scale_c), -qmax, qmax)     (0 where scale_c == 0)
    value    = float32(symbol) * scale_c                (one float32 multiply: the same bits
                                                         on every machine)

``axis == -1`` means one scale for the whole tensor; tensors with ndim 0 or 1 (biases)
always get one scale.

``channel_scales`` is the only place the scale is computed: ``quantize`` (numpy, the file)
and quantization-aware training (``qat.FakeQuant``, torch on any device) both call it, so
the symbols training sees are exactly the ones the file stores.
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


def qmax(bits: int) -> int:
    """The largest symbol magnitude at ``bits`` (symmetric: −qmax..qmax)."""
    return 2 ** (int(bits) - 1) - 1


def channel_scales(w, bits: int, axis: int):
    """``max|w_c| / qmax`` per channel along ``axis`` (one value for ``channel_axis`` -1), shaped to
    broadcast against ``w``. ``w`` is a float32 numpy array or a (detached) torch tensor; the result
    is of the same kind and on the same device. The float32 division is correctly rounded on every
    IEEE machine, so both kinds give the same bits."""
    ax = channel_axis(w.ndim, axis)
    dims = tuple(i for i in range(w.ndim) if i != ax) if ax != -1 else tuple(range(w.ndim))
    if isinstance(w, np.ndarray):
        amax = np.max(np.abs(w), axis=dims, keepdims=True, initial=0.0)
    elif w.ndim == 0:
        amax = w.abs()
    else:  # torch: the reduction stays on the tensor's device
        amax = w.abs().amax(dim=dims, keepdim=True)
    return amax / qmax(bits)


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
    q = qmax(bits)
    if scales is None:
        view = channel_scales(w, bits, axis).astype(np.float32)
        # rounding up to float32 must not let qmax * scale overflow (the container checks it)
        too_big = view.astype(np.float64) * q > np.finfo(np.float32).max
        view = np.where(too_big, np.nextafter(view, np.float32(0)), view).astype(np.float32)
    else:
        ax = channel_axis(w.ndim, axis)
        channels = 1 if ax == -1 else w.shape[ax]
        scales = np.asarray(scales, dtype=np.float32).reshape(-1)
        if scales.size != channels:
            raise ValueError(f"{scales.size} scales given for {channels} channels")
        view = scales.reshape(_broadcast_shape(w.ndim, ax) if ax != -1 else (1,) * w.ndim)
    divisor = np.where(view > 0, view, np.float32(1))
    with np.errstate(over="ignore"):
        symbols = np.rint(w / divisor)
    symbols = np.clip(symbols, -q, q).astype(np.int32)
    symbols = np.where(view > 0, symbols, 0).astype(np.int32)
    return symbols.reshape(w.shape), view.reshape(-1)


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
