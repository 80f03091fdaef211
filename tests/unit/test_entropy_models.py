"""Learned entropy models: round trips, the estimate against the payload, integer tables, containers 1.2 and 1.3."""
from fractions import Fraction

import numpy as np
import pytest
import torch

from inr_codec.compress import learned_quant
from inr_codec.compress.codec import code_symbols, decode_symbols
from inr_codec.compress.entropy_models import MODELS, laplace, zero_laplace
from inr_codec.container import from_bytes, to_bytes
from inr_codec.container.records import CompressedModel, VideoMeta
from inr_codec.errors import ContainerError

RNG = np.random.default_rng(7)
WEIGHTS = np.round(RNG.laplace(0, 3, size=(40, 24, 3, 3))).astype(np.int32)
SPARSE = (np.round(RNG.laplace(0, 4, size=(40, 24, 3, 3))) * (RNG.random((40, 24, 3, 3)) > 0.85)).astype(np.int32)
LATENTS = np.cumsum(np.round(RNG.laplace(0, 1.5, size=(30, 8, 2, 4))), axis=0).astype(np.int32)


def _model(tensors):
    return CompressedModel(video=VideoMeta(8, 8, 30, Fraction(25), 8, 8), model={"name": "x"}, tensors=tensors)


@pytest.mark.parametrize("coder,q,axis", [("laplace", WEIGHTS, 0), ("laplace_prev", LATENTS, 1),
                                          ("laplace", np.zeros((5, 3), np.int32), 0),
                                          ("laplace", np.array([3], np.int32), -1),
                                          ("laplace0", SPARSE, 0), ("laplace0", WEIGHTS, -1),
                                          ("laplace0", np.zeros((5, 3), np.int32), 0),
                                          ("laplace0", np.array([-2], np.int32), -1)])
def test_round_trip_and_estimate(coder, q, axis):
    scales = np.ones(q.shape[axis] if axis >= 0 else 1, np.float32)
    ct = code_symbols("t", q, scales, axis, MODELS[coder])
    assert np.array_equal(decode_symbols(ct), q)
    est = MODELS[coder].estimate_bits(q, ct.params) / 8
    if q.size > 100:  # the range coder's payload is within 1% (and a word) of the estimate
        assert abs(len(ct.payload) - est) <= 0.01 * est + 8
    back = from_bytes(to_bytes(_model([ct])))
    assert np.array_equal(decode_symbols(back.tensors[0]), q)


def test_training_rate_matches_the_file():
    """The differentiable rate of rounded symbols at the fitted scale is the integer table's code length."""
    ct = code_symbols("t", WEIGHTS, np.ones(40, np.float32), 0, MODELS["laplace"])
    b = laplace.best_b(WEIGHTS)
    float_bits = float(MODELS["laplace"].rate_bits(torch.from_numpy(WEIGHTS).double(), torch.tensor(np.log(b))))
    assert float_bits == pytest.approx(MODELS["laplace"].estimate_bits(WEIGHTS, ct.params), rel=0.01)
    assert float_bits / 8 == pytest.approx(len(ct.payload), rel=0.02)


def test_zero_inflated_training_rate_matches_the_file_and_beats_laplace_on_sparse_weights():
    ct = code_symbols("t", SPARSE, np.ones(1, np.float32), -1, MODELS["laplace0"])
    Z, S, K = ct.params
    b, p0 = -1 / np.log(S / 2**32), Z / 2**16
    float_bits = float(MODELS["laplace0"].rate_bits(torch.from_numpy(SPARSE).double(), torch.tensor(np.log(b)),
                                                    torch.logit(torch.tensor(p0, dtype=torch.float64))))
    assert float_bits == pytest.approx(MODELS["laplace0"].estimate_bits(SPARSE, ct.params), rel=1e-3)
    assert float_bits / 8 == pytest.approx(len(ct.payload), rel=0.02)
    plain = code_symbols("t", SPARSE, np.ones(1, np.float32), -1, MODELS["laplace"])
    assert len(ct.payload) < 0.9 * len(plain.payload)
    # continuous in y where the centre ends (|y| = 1), so noise training sees no step
    at = [float(zero_laplace.rate_bits(torch.tensor(y, dtype=torch.float64), torch.tensor(b, dtype=torch.float64),
                                       torch.tensor(p0, dtype=torch.float64))) for y in (1 - 1e-9, 1 + 1e-9)]
    assert at[0] == pytest.approx(at[1], abs=1e-6)


def test_zero_inflated_tables_come_from_integers_alone():
    f = zero_laplace.frequencies(50_000, 2_000_000_000, 30)
    assert f.dtype == np.uint64 and f.size == 61 and f.min() >= 1 and np.array_equal(f, f[::-1])
    assert f[30] == 50_000 << 16
    for bad in ((0, 5, 3), (1 << 16, 5, 3), (5, 0, 3), (5, 5, 70000)):
        with pytest.raises(ValueError):
            zero_laplace.frequencies(*bad)


def test_tables_come_from_integers_alone():
    f = laplace.frequencies(3_000_000_000, 40)
    assert f.dtype == np.uint64 and f.size == 81 and f.min() >= 1
    assert np.array_equal(f, f[::-1])  # symmetric
    assert f[40] == 2**32 - 3_000_000_000
    # the same integers, whatever torch's thread count or dtype was while training
    torch.set_num_threads(1)
    a = laplace.frequencies(laplace.fixed_s(2.5), 100)
    torch.set_num_threads(2)
    assert np.array_equal(a, laplace.frequencies(laplace.fixed_s(2.5), 100))


def test_rate_is_identical_across_threads_and_dtypes_for_coding():
    """What decides the file (the symbols and integer parameters) does not depend on threads or dtype."""
    w = torch.randn(16, 8, 3, 3) * 0.05
    out = []
    for threads, dtype in ((1, torch.float32), (2, torch.float32), (1, torch.bfloat16)):
        torch.set_num_threads(threads)
        lq = learned_quant.LearnedQuant(w, 0, MODELS["laplace"], 8, stream=0)
        with torch.autocast("cpu", dtype=dtype, enabled=dtype != torch.float32):
            lq.mode = "ste"
            lq(w)
        q, steps = learned_quant.symbols_and_steps(lq, w)
        out.append((q.tobytes(), steps.tobytes(), MODELS["laplace"].fit(q)))
    assert out[0] == out[1] == out[2]


def test_a_model_that_disagrees_with_its_payload_is_one_error():
    ct = code_symbols("t", WEIGHTS, np.ones(40, np.float32), 0, MODELS["laplace"])
    wrong = code_symbols("t", WEIGHTS, np.ones(40, np.float32), 0, MODELS["laplace"])
    wrong.params = [ct.params[0], ct.params[1] + 5]  # another table: the payload no longer fits it
    with pytest.raises(ContainerError, match="cannot decode tensor 't'"):
        decode_symbols(wrong)
    extra = code_symbols("t", WEIGHTS, np.ones(40, np.float32), 0, MODELS["laplace"])
    extra.payload = ct.payload + b"\x01\x02\x03\x04"
    with pytest.raises(ContainerError, match="corrupted"):
        decode_symbols(extra)


def test_container_rejects_bad_model_parameters():
    ct = code_symbols("t", WEIGHTS, np.ones(40, np.float32), 0, MODELS["laplace"])
    data = bytearray(to_bytes(_model([ct])))
    assert data[5] == 2  # learned coders make a 1.2 file
    data[5] = 1  # claimed 1.1: the reader refuses the learned coder (CRC covers the preamble, so re-frame)
    with pytest.raises(ContainerError):
        from_bytes(bytes(data))
    ct.params = [0, 3]
    with pytest.raises(ValueError, match="Laplace parameter"):
        to_bytes(_model([ct]))
    z = code_symbols("t", SPARSE, np.ones(40, np.float32), 0, MODELS["laplace0"])
    data = bytearray(to_bytes(_model([z])))
    assert data[5] == 3  # the zero-inflated Laplace makes a 1.3 file
    z.params = [0] + list(z.params[1:])
    with pytest.raises(ValueError, match="zero probability"):
        to_bytes(_model([z]))


def test_learned_quant_noise_then_ste_gives_the_file_values():
    w = torch.randn(6, 4, 3, 3) * 0.1
    lq = learned_quant.LearnedQuant(w, 0, MODELS["laplace"], 6, stream=1)
    lq.train()
    noisy = lq(w)
    assert not torch.equal(noisy, w) and lq.rate_bits().requires_grad
    lq.mode = "ste"
    hard = lq(w)
    q, steps = learned_quant.symbols_and_steps(lq, w)
    assert torch.equal(hard, torch.from_numpy(q.astype(np.float32)) * torch.from_numpy(steps).reshape(-1, 1, 1, 1))


# ---------------------------------------------------------------- fuzzing the 1.2 sections
from hypothesis import given, seed, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from inr_codec.container import format as fmt  # noqa: E402
from tests.conftest import FUZZ_SEED  # noqa: E402
from tests.unit.test_container import FUZZ, mutate, mutation, parse_or_one_line_error, sections_of  # noqa: E402

LEARNED = _model([code_symbols("w", WEIGHTS[:6], np.full(6, 0.01, np.float32), 0, MODELS["laplace"]),
                  code_symbols("embeddings", LATENTS[:5], np.full(8, 0.1, np.float32), 1, MODELS["laplace_prev"])])
LEARNED_SECTIONS = sections_of(LEARNED)
ZERO = _model([code_symbols("w", SPARSE[:6], np.full(1, 0.01, np.float32), -1, MODELS["laplace0"]),
               code_symbols("b", SPARSE[0, 0, 0], np.full(1, 0.01, np.float32), -1, MODELS["laplace0"])])
ZERO_SECTIONS = sections_of(ZERO)


def _build(sections, minor=fmt.MINOR_LEARNED) -> bytes:
    out, prefix = [], fmt.preamble(len(sections), minor)
    for kind, name, payload in sections:
        out.append(fmt.frame(kind, name, payload, prefix=prefix))
        prefix = b""
    return b"".join(out)


def test_learned_sections_build_like_the_writer():
    assert _build(LEARNED_SECTIONS) == to_bytes(LEARNED)
    parse_or_one_line_error(_build(LEARNED_SECTIONS, minor=1), decode=True)  # a 1.1 file may not hold them
    with pytest.raises(ContainerError, match="1.2"):
        from_bytes(_build(LEARNED_SECTIONS, minor=1))
    assert _build(ZERO_SECTIONS, minor=fmt.MINOR_ZERO_LAPLACE) == to_bytes(ZERO)
    with pytest.raises(ContainerError, match="1.3"):
        from_bytes(_build(ZERO_SECTIONS, minor=fmt.MINOR_LEARNED))  # a 1.2 file may not hold laplace0


@seed(FUZZ_SEED)
@settings(max_examples=600, **FUZZ)
@given(which=st.integers(2, len(LEARNED_SECTIONS) - 1), mutations=st.lists(mutation, min_size=1, max_size=3))
def test_mutated_learned_sections_behind_a_valid_crc(which, mutations):
    _mutated_section_gives_one_line_error(LEARNED_SECTIONS, which, mutations, fmt.MINOR_LEARNED)


def _mutated_section_gives_one_line_error(sections, which, mutations, minor):
    secs = list(sections)
    k, n, payload = secs[which]
    secs[which] = (k, n, mutate(payload, mutations))
    parse_or_one_line_error(_build(secs, minor=minor), decode=True)


@seed(FUZZ_SEED)
@settings(max_examples=300, **FUZZ)
@given(which=st.integers(2, len(ZERO_SECTIONS) - 1), mutations=st.lists(mutation, min_size=1, max_size=3))
def test_mutated_zero_inflated_sections_behind_a_valid_crc(which, mutations):
    _mutated_section_gives_one_line_error(ZERO_SECTIONS, which, mutations, fmt.MINOR_ZERO_LAPLACE)
