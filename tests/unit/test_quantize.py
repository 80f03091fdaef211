"""compress.quantize: per-channel symmetric uniform quantization."""
import numpy as np
import pytest

from inr_codec.compress.quantize import channel_axis, dequantize, quantize


def _reference_dequantize(symbols, scales, axis):
    """Element-by-element float32 formula: float32(symbol) * scales[channel]."""
    out = np.empty(symbols.shape, dtype=np.float32)
    for idx in np.ndindex(symbols.shape):
        s = scales[0] if scales.size == 1 else scales[idx[axis]]
        out[idx] = np.float32(symbols[idx]) * np.float32(s)
    return out


@pytest.mark.parametrize("bits", range(2, 17))
def test_per_channel_round_trip_error_and_range(bits):
    rng = np.random.default_rng(bits)
    w = (rng.standard_normal((6, 5, 3)) * rng.uniform(0.01, 3, (6, 1, 1))).astype(np.float32)
    symbols, scales = quantize(w, bits, axis=0)
    qmax = 2 ** (bits - 1) - 1
    assert symbols.dtype == np.int32 and symbols.shape == w.shape
    assert scales.dtype == np.float32 and scales.shape == (6,)
    assert np.abs(symbols).max() <= qmax
    # every channel's largest magnitude maps to +-qmax
    assert (np.abs(symbols).reshape(6, -1).max(axis=1) == qmax).all()
    np.testing.assert_array_equal(scales, (np.abs(w).reshape(6, -1).max(axis=1).astype(np.float64) / qmax)
                                  .astype(np.float32))
    deq = dequantize(symbols, scales, 0)
    assert deq.dtype == np.float32
    assert np.all(np.abs(deq - w) <= scales[:, None, None] * 0.5 + 1e-6 * np.abs(w))


@pytest.mark.parametrize("axis", [0, 1, 2, -1])
def test_dequantize_is_the_float32_formula_bit_for_bit(axis):
    rng = np.random.default_rng(7)
    w = rng.standard_normal((3, 4, 5)).astype(np.float32) * 0.37
    symbols, scales = quantize(w, 7, axis=axis)
    got = dequantize(symbols, scales, axis)
    want = _reference_dequantize(symbols, scales, axis)
    np.testing.assert_array_equal(got.view(np.uint32), want.view(np.uint32))


def test_axis_selects_channels():
    w = np.array([[1.0, 0.5], [100.0, -50.0]], dtype=np.float32)
    s0, sc0 = quantize(w, 8, axis=0)
    s1, sc1 = quantize(w, 8, axis=1)
    np.testing.assert_array_equal(sc0, np.float32([1 / 127, 100 / 127]))
    np.testing.assert_array_equal(sc1, np.float32([100 / 127, 50 / 127]))
    np.testing.assert_array_equal(s0, [[127, 64], [127, -64]])


@pytest.mark.parametrize("shape", [(), (7,)])
def test_scalars_and_biases_get_one_scale(shape):
    w = np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape) - 3
    symbols, scales = quantize(w, 8, axis=0)
    assert scales.shape == (1,)
    assert channel_axis(len(shape), 0) == -1
    assert dequantize(symbols, scales, -1).shape == shape


def test_all_zero_channel_and_tensor_have_no_nan():
    w = np.zeros((3, 4), dtype=np.float32)
    w[1] = [1, -2, 3, 0.5]
    symbols, scales = quantize(w, 8, axis=0)
    assert scales[0] == 0 and scales[2] == 0
    assert not np.isnan(dequantize(symbols, scales, 0)).any()
    np.testing.assert_array_equal(dequantize(symbols, scales, 0)[[0, 2]], 0)
    symbols, scales = quantize(np.zeros((2, 2), np.float32), 4, axis=-1)
    assert (symbols == 0).all() and scales[0] == 0


@pytest.mark.parametrize("bits", range(2, 17))
def test_tiny_and_huge_magnitudes(bits):
    big = np.finfo(np.float32).max
    w = np.array([[1e-44, -1e-44], [big, -big], [3e38, 1.0]], dtype=np.float32)
    symbols, scales = quantize(w, bits, axis=0)
    qmax = 2 ** (bits - 1) - 1
    assert np.all(scales.astype(np.float64) * qmax <= big)  # what the container requires
    with np.errstate(over="raise"):
        deq = dequantize(symbols, scales, 0)
    assert np.all(np.isfinite(deq))
    assert np.abs(symbols).max() <= qmax


def test_empty_tensor():
    symbols, scales = quantize(np.zeros((0, 4), np.float32), 8, axis=0)
    assert symbols.shape == (0, 4) and scales.shape == (0,)
    assert dequantize(symbols, scales, 0).shape == (0, 4)


@pytest.mark.parametrize("bits", [0, 1, 17, 8.0, True])
def test_bad_bits_rejected(bits):
    with pytest.raises(ValueError):
        quantize(np.ones(3, np.float32), bits)


def test_non_finite_and_bad_axis_rejected():
    with pytest.raises(ValueError, match="NaN"):
        quantize(np.array([1.0, np.nan], np.float32), 8)
    with pytest.raises(ValueError, match="axis"):
        quantize(np.ones((2, 2), np.float32), 8, axis=2)
    with pytest.raises(ValueError):
        dequantize(np.ones((2, 3), np.int32), np.ones(2, np.float32), 1)
