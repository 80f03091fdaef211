"""compress.entropy (range coder / raw packing) and compress.codec (quantize + code)."""
import numpy as np
import pytest

from inr_codec.compress import entropy
from inr_codec.compress.codec import code_tensor, decode_symbols, decode_tensor
from inr_codec.compress.quantize import dequantize, quantize
from inr_codec.errors import ContainerError


def _round_trip(symbols, bits):
    coder, lo, freqs, payload = entropy.encode(symbols, bits)
    assert freqs.dtype == np.uint32 and isinstance(payload, bytes)
    out = entropy.decode(coder, lo, freqs, payload, symbols.size, bits)
    assert out.dtype == np.int32
    np.testing.assert_array_equal(out, symbols.reshape(-1))
    return coder, lo, freqs, payload


@pytest.mark.parametrize("bits", range(1, 17))
def test_laplacian_symbols_round_trip(bits):
    qmax = 2 ** (bits - 1) - 1
    rng = np.random.default_rng(bits)
    symbols = np.clip(np.rint(rng.laplace(0, max(qmax, 1) / 6, 5000)), -qmax, qmax).astype(np.int32)
    coder, lo, freqs, payload = _round_trip(symbols, bits)
    if 4 <= bits <= 12:  # peaked distributions beat fixed width (above 12 bits the table
        # of 5000 samples spread over thousands of symbols costs more than it saves)
        assert coder == "range"
        assert len(payload) < 5000 * bits / 8


@pytest.mark.parametrize("bits", [8, 16])
def test_uniform_symbols_fall_back_to_raw(bits):
    qmax = 2 ** (bits - 1) - 1
    symbols = np.random.default_rng(0).integers(-qmax, qmax + 1, 3000).astype(np.int32)
    coder, lo, freqs, payload = _round_trip(symbols, bits)
    assert coder == "raw" and freqs.size == 0
    assert len(payload) == (3000 * bits + 7) // 8


def test_extremes_of_the_symbol_range():
    for bits in (2, 9, 16):
        qmax = 2 ** (bits - 1) - 1
        _round_trip(np.array([-qmax, qmax, 0, qmax, -qmax], np.int32), bits)


def test_empty_and_constant():
    coder, lo, freqs, payload = _round_trip(np.zeros(0, np.int32), 8)
    assert payload == b""
    coder, lo, freqs, payload = _round_trip(np.full(100_000, -3, np.int32), 8)
    assert coder == "range" and lo == -3 and freqs.size == 1 and payload == b""
    _round_trip(np.full(1, 5, np.int32), 8)


def test_table_covers_only_used_range_with_nonzero_ends():
    symbols = np.array([-5, -5, 0, 3, 3, 3, 3, 3, 3, 3] * 200, np.int32)
    coder, lo, freqs, payload = _round_trip(symbols, 8)
    assert coder == "range" and lo == -5 and freqs.size == 9
    assert freqs[0] > 0 and freqs[-1] > 0 and freqs[1] == 0


def test_choice_is_the_smaller_one():
    rng = np.random.default_rng(3)
    symbols = np.clip(np.rint(rng.laplace(0, 2, 20000)), -127, 127).astype(np.int32)
    coder, lo, freqs, payload = entropy.encode(symbols, 8)
    table_bytes = entropy.table_bytes(freqs)
    assert coder == "range"
    assert len(payload) + table_bytes < 20000
    # the size is close to the empirical entropy
    assert len(payload) * 8 < entropy.estimate_bits(symbols) * 1.02 + 64


def _uvar(x):
    out = bytearray()
    while True:
        out.append((x & 0x7F) | (0x80 if x >> 7 else 0))
        x >>= 7
        if not x:
            return bytes(out)


def test_estimate_bits():
    assert entropy.estimate_bits(np.zeros(0, np.int32)) == 0
    assert entropy.estimate_bits(np.full(10, 3)) == 0
    assert entropy.estimate_bits(np.array([0, 1] * 8)) == pytest.approx(16)


def test_encode_rejects_out_of_range_and_float_symbols():
    with pytest.raises(ValueError):
        entropy.encode(np.array([128], np.int32), 8)
    with pytest.raises(ValueError):
        entropy.encode(np.array([1.5]), 8)


def test_decode_rejects_inconsistent_records():
    with pytest.raises(ValueError):
        entropy.decode("raw", 0, np.zeros(0, np.uint32), b"\x00", 9, 8)  # too short
    with pytest.raises(ValueError):
        entropy.decode("raw", 100, np.zeros(0, np.uint32), b"\xff", 1, 8)  # 100 + 255 > 127
    with pytest.raises(ValueError):
        entropy.decode("range", 0, np.zeros(0, np.uint32), b"", 4, 8)
    with pytest.raises(ValueError):
        entropy.decode("huffman", 0, np.ones(2, np.uint32), b"", 4, 8)


def test_garbage_range_payload_gives_in_range_symbols_or_value_error():
    rng = np.random.default_rng(1)
    for _ in range(50):
        payload = rng.integers(0, 256, 4 * int(rng.integers(0, 5)), dtype=np.uint8).tobytes()
        try:
            out = entropy.decode("range", -2, np.array([1, 0, 5, 2], np.uint32), payload, 40, 4)
        except ValueError:
            continue
        assert out.min() >= -2 and out.max() <= 1


@pytest.mark.parametrize("shape,axis", [((8, 4, 3, 3), 0), ((8, 4, 3, 3), 1), ((16,), 0), ((), 0),
                                        ((5, 7), -1), ((0, 3), 0), ((4, 0), 1)])
@pytest.mark.parametrize("bits", [2, 6, 8, 16])
def test_code_tensor_round_trip(shape, axis, bits):
    w = (np.random.default_rng(0).standard_normal(shape) * 0.2).astype(np.float32)
    ct = code_tensor("w", w, bits, axis)
    symbols, scales = quantize(w, bits, axis)
    np.testing.assert_array_equal(decode_symbols(ct), symbols)
    got = decode_tensor(ct)
    assert got.dtype == np.float32 and got.shape == w.shape
    np.testing.assert_array_equal(got.view(np.uint32), dequantize(symbols, scales, ct.axis).view(np.uint32))
    assert ct.axis == (-1 if len(shape) <= 1 else axis)


def test_code_tensor_constant():
    ct = code_tensor("c", np.full((32, 32), 0.25, np.float32), 8, 0)
    assert ct.payload == b""
    np.testing.assert_array_equal(decode_tensor(ct), 0.25)


def test_decode_tensor_reports_container_error():
    ct = code_tensor("w", np.random.default_rng(0).uniform(-1, 1, (4, 64)).astype(np.float32), 8, 0)
    assert ct.coder == "raw"
    ct.payload = ct.payload[:-1]
    with pytest.raises(ContainerError, match="'w'"):
        decode_tensor(ct)
