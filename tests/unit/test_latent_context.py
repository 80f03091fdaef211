"""The latent grids' context model (coder laplace_ctx, format 1.4) and model=latent end to end."""
from fractions import Fraction

import numpy as np
import pytest
import torch

from inr_codec import api, container
from inr_codec.compress.codec import code_symbols, decode_symbols
from inr_codec.compress.entropy_models import MODELS, latent_context
from inr_codec.container import format as fmt
from inr_codec.container import from_bytes, to_bytes
from inr_codec.container.records import CompressedModel, VideoMeta
from inr_codec.decode.reference import decode_frames
from inr_codec.errors import ContainerError

RNG = np.random.default_rng(3)
# Frames that mostly repeat the last one (as a video's latents do), with flat regions of zeros.
_BASE = np.round(RNG.laplace(0, 2, (1, 12, 20)))
GRID = np.concatenate([_BASE + (RNG.random((1, 12, 20)) < 0.15) * RNG.integers(-2, 3, (1, 12, 20))
                       for _ in range(9)]).astype(np.int32)
GRID[:, :4] = 0
CTX = MODELS["laplace_ctx"]


def _model(tensors):
    return CompressedModel(video=VideoMeta(8, 8, 9, Fraction(25), 8, 8), model={"name": "x"}, tensors=tensors)


def check_grid_round_trip(q, model, coder: str, minor: int, hint=None) -> None:
    """A grid coded under ``model`` (as ``coder``) decodes to its symbols, alone and through the container
    (whose minor version is ``minor``), and the model's estimate is within 1% + 8 bytes of the payload."""
    ct = code_symbols("latents.level0", q, np.ones(1, np.float32), -1, model, hint)
    assert ct.coder == coder and np.array_equal(decode_symbols(ct), q)
    est = model.estimate_bits(q, ct.params) / 8
    assert abs(len(ct.payload) - est) <= 0.01 * est + 8
    data = to_bytes(_model([ct]))
    assert data[5] == minor
    assert np.array_equal(decode_symbols(from_bytes(data).tensors[0]), q)


@pytest.mark.parametrize("q", [GRID, np.zeros((3, 5, 7), np.int32), GRID[:1, :1, :1] + 4, GRID[:, :3, :1]])
def test_round_trip_estimate_and_container(q):
    check_grid_round_trip(q, CTX, "laplace_ctx", fmt.MINOR_LATENT_CONTEXT)


def test_context_beats_the_plain_laplace_on_video_like_latents():
    ctx = code_symbols("g", GRID, np.ones(1, np.float32), -1, CTX)
    plain = code_symbols("g", GRID, np.ones(1, np.float32), -1, MODELS["laplace"])
    assert len(ctx.payload) < 0.6 * len(plain.payload)


def test_trained_coefficients_are_used_when_they_code_shorter():
    lsq = CTX.fit(GRID)
    hinted = CTX.fit(GRID, hint=np.array([1.0, 0.0, 1.0, 0.0, 0.0]))
    assert CTX.estimate_bits(GRID, hinted) <= CTX.estimate_bits(GRID, lsq)


def test_training_rate_of_rounded_latents_matches_the_file():
    """The differentiable rate at the file's coefficients and fitted scales is the integer tables' code length."""
    params = CTX.fit(GRID)
    coeffs = torch.tensor(CTX.coefficients(params), dtype=torch.float64) / 2 ** latent_context.P
    b = [-0.5 / np.log(S / 2 ** 32) for S, _ in CTX.split(params)]
    bits = float(CTX.rate_bits(torch.from_numpy(GRID).double(), torch.tensor(np.log(b)), coeffs))
    assert bits == pytest.approx(CTX.estimate_bits(GRID, params), rel=0.03)


def test_a_batch_of_frames_estimates_the_whole_rate_without_bias():
    y = torch.from_numpy(GRID).float() + 0.3 * torch.rand(GRID.shape)
    log_b, aux = torch.zeros(latent_context.STREAMS), torch.tensor([1.0, 0.0, 1.0, 0.1, 0.0])
    whole = float(CTX.rate_bits(y, log_b, aux))
    per_frame = [float(CTX.rate_bits(y, log_b, aux, torch.tensor([t]))) for t in range(len(y))]
    assert np.mean(per_frame) == pytest.approx(whole, rel=1e-4)


def test_symbols_are_identical_across_threads():
    out = []
    for threads in (1, 2):
        torch.set_num_threads(threads)
        ct = code_symbols("g", GRID, np.ones(1, np.float32), -1, CTX)
        out.append((ct.payload, tuple(ct.params), decode_symbols(ct).tobytes()))
    assert out[0] == out[1]


def test_a_payload_that_disagrees_with_its_model_is_one_error():
    ct = code_symbols("g", GRID, np.ones(1, np.float32), -1, CTX)
    ct.params = list(ct.params)
    ct.params[latent_context.COEFFS + 1] += 5  # another table for stream 0: the payload no longer fits it
    with pytest.raises(ContainerError, match="cannot decode tensor 'g'"):
        decode_symbols(ct)


def check_coder_minor(ct, minor: int) -> None:
    """A file holding ``ct`` is written as 1.``minor``, and one claiming 1.``minor - 1`` is refused."""
    from tests.unit.test_container import sections_of
    from tests.unit.test_entropy_models import _build
    sections = sections_of(_model([ct]))
    assert _build(sections, minor=minor) == to_bytes(_model([ct]))
    with pytest.raises(ContainerError, match=f"1.{minor}"):
        from_bytes(_build(sections, minor=minor - 1))


def test_container_refuses_coder_5_before_1_4_and_bad_coefficients():
    ct = code_symbols("g", GRID, np.ones(1, np.float32), -1, CTX)
    check_coder_minor(ct, fmt.MINOR_LATENT_CONTEXT)
    ct.params = [latent_context.zigzag(latent_context.MAX_COEFF + 1)] + list(ct.params[1:])
    with pytest.raises(ValueError, match="prediction coefficient"):
        to_bytes(_model([ct]))


# ---------------------------------------------------------------- fuzzing the 1.4 sections
from hypothesis import given, seed, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from tests.conftest import FUZZ_SEED  # noqa: E402
from tests.unit.test_container import FUZZ, mutation, sections_of  # noqa: E402
from tests.unit.test_entropy_models import _mutated_section_gives_one_line_error  # noqa: E402

CTX_SECTIONS = sections_of(_model([code_symbols("latents.level0", GRID[:3], np.ones(1, np.float32), -1, CTX)]))


@seed(FUZZ_SEED)
@settings(max_examples=300, **FUZZ)
@given(which=st.integers(2, len(CTX_SECTIONS) - 1), mutations=st.lists(mutation, min_size=1, max_size=3))
def test_mutated_context_sections_behind_a_valid_crc(which, mutations):
    _mutated_section_gives_one_line_error(CTX_SECTIONS, which, mutations, fmt.MINOR_LATENT_CONTEXT)


# ---------------------------------------------------------------- model=latent through the file
def test_latent_model_fits_writes_and_decodes_to_the_psnr_it_measured(tmp_path, tiny_clip):
    out = tmp_path / "m.bin"
    summary = api.fit(tiny_clip, ["model=latent", "model.motion=false", "model.levels=3", "model.hidden=8", "compress=rd",
                                  "train.epochs=30", "compress.rd_epochs=2", "compress.qat_epochs=2",
                                  "compress.lmbda=0.001", "train.lr=2e-2"],
                      out=out, outputs_root=tmp_path / "o", show_progress=False)
    cm = container.read(out)
    coders = {t.name: t.coder for t in cm.tensors if t.name.startswith("latents.")}
    # the full-resolution level under the context model; a small one may take one Laplace (the smaller record)
    assert coders["latents.level0"] == "laplace_ctx" and set(coders.values()) <= {"laplace_ctx", "laplace"}
    assert out.read_bytes()[5] == fmt.MINOR_TENSOR_BLOCK and cm.tensor_block  # a rate-distortion file: one tensor block
    assert decode_frames(cm).shape[0] == cm.video.frames == 6
    assert api.evaluate(out, tiny_clip, metrics=["psnr"])["psnr"] == pytest.approx(summary["psnr"], abs=1e-6)
    assert summary["psnr"] > 12
