"""laplace_nb with a motion-compensated context (coder laplace_nbm, format 1.8): each slice's predecessor read
at a stored whole-latent shift; the encoder's choice where it codes shorter."""
from fractions import Fraction

import numpy as np
import pytest

from inr_codec import api, container
from inr_codec.compress import learned_quant as lq
from inr_codec.compress.codec import code_symbols, decode_symbols
from inr_codec.compress.entropy_models import MODELS
from inr_codec.compress.entropy_models import latent_neighbours_mc as mc
from inr_codec.compress.entropy_models.slice_coding import previous, shift_slice
from inr_codec.container import format as fmt
from inr_codec.container import to_bytes
from inr_codec.decode import latent_cpu
from inr_codec.decode.reference import decode_frames
from inr_codec.io import Video, write_video
from tests.conftest import panning_texture
from tests.unit.test_latent_context import _model, check_coder_minor, check_grid_round_trip

NB, NBM = MODELS["laplace_nb"], MODELS["laplace_nbm"]
ONES = np.ones(1, np.float32)


def _panning_grid(slices=5, h=20, w=28, dy=2, dx=-3, seed=7) -> np.ndarray:
    """Sparse integer latents whose slice t is slice t - 1 moved by (dy, dx), a few symbols changed."""
    rng = np.random.default_rng(seed)
    big = (rng.random((h + slices * abs(dy), w + slices * abs(dx))) < 0.3) * rng.integers(-3, 4, (h + slices * abs(dy),
                                                                                             w + slices * abs(dx)))
    out = []
    for t in range(slices):
        y0 = slices * abs(dy) - t * dy if dy >= 0 else -t * dy
        x0 = slices * abs(dx) - t * dx if dx >= 0 else -t * dx
        s = big[y0:y0 + h, x0:x0 + w].copy()
        s[rng.random((h, w)) < 0.03] += 1
        out.append(s)
    return np.stack(out).astype(np.int32)


PANNING = _panning_grid()


def test_shift_slice_moves_content_and_fills_zeros():
    a = np.arange(1, 13).reshape(3, 4)
    assert np.array_equal(shift_slice(a, 0, 0), a)
    assert np.array_equal(shift_slice(a, 1, 0), [[0, 0, 0, 0], [1, 2, 3, 4], [5, 6, 7, 8]])
    assert np.array_equal(shift_slice(a, 0, -1), [[2, 3, 4, 0], [6, 7, 8, 0], [10, 11, 12, 0]])
    assert np.array_equal(shift_slice(a, -1, 2), [[0, 0, 5, 6], [0, 0, 9, 10], [0, 0, 0, 0]])
    assert not shift_slice(a, 3, 0).any() and not shift_slice(a, 0, -4).any()  # moved out entirely
    q = np.stack([a, 2 * a])
    assert np.array_equal(previous(q, [(0, 0), (1, 0)]), np.stack([0 * a, shift_slice(a, 1, 0)]))
    assert np.array_equal(previous(q, [(0, 0), (0, 0)]), previous(q))


def test_search_finds_the_panning_shift_and_leaves_still_or_empty_slices_in_place():
    assert mc.search_shifts(PANNING) == [(0, 0)] + [(2, -3)] * 4
    still = np.repeat(PANNING[:1], 3, axis=0)
    assert mc.search_shifts(still) == [(0, 0)] * 3
    empty = PANNING.copy()
    empty[2] = 0
    assert mc.search_shifts(empty)[2:4] == [(0, 0), (0, 0)]
    assert mc.search_shifts(PANNING[:, :1, :1]) == [(0, 0)] * 5  # a 1x1 grid has nowhere to move


def test_the_shifted_context_codes_a_panning_grid_shorter_and_round_trips():
    check_grid_round_trip(PANNING, NBM, "laplace_nbm", fmt.MINOR_LATENT_MC)
    shifted = code_symbols("g", PANNING, ONES, -1, NBM)
    in_place = code_symbols("g", PANNING, ONES, -1, NB)
    assert NBM.shifts(shifted.params, PANNING.shape) == mc.search_shifts(PANNING)
    assert lq._record_bytes(shifted) < 0.8 * lq._record_bytes(in_place)


def test_learned_quant_writes_the_smallest_record_and_keeps_laplace_nb_on_a_still_grid():
    import torch
    from omegaconf import OmegaConf
    still = np.repeat(PANNING[:1], 4, axis=0)
    decoder = torch.nn.Module()
    decoder.latents = torch.nn.Module()
    for i, g in enumerate((PANNING, still)):
        decoder.latents.register_parameter(f"level{i}", torch.nn.Parameter(torch.from_numpy(g).float()))
    lq.attach(decoder, OmegaConf.create({"latent_model": "nb", "bits": 8, "bias_bits": 8}))
    moving, kept = lq.code(decoder)
    assert moving.coder == "laplace_nbm" and np.array_equal(decode_symbols(moving), PANNING)
    assert kept.coder != "laplace_nbm" and np.array_equal(decode_symbols(kept), still)


def test_container_refuses_coder_7_before_1_8_bad_shifts_and_a_wrong_count():
    ct = code_symbols("g", PANNING, ONES, -1, NBM)
    check_coder_minor(ct, fmt.MINOR_LATENT_MC)
    good = list(ct.params)
    ct.params = good[:-1] + [fmt.zigzag(mc.MAX_SHIFT + 1)]
    with pytest.raises(ValueError, match="context shift"):
        to_bytes(_model([ct]))
    ct.params = good[:-2]  # one slice's shift missing
    with pytest.raises(ValueError, match="models"):
        to_bytes(_model([ct]))


def test_a_panning_video_fits_with_the_shifted_context_and_decodes_to_the_psnr_it_measured(tmp_path):
    clip = tmp_path / "pan.mkv"
    write_video(Video(panning_texture(), Fraction(25)), str(clip), pix_fmt="rgb")
    out = tmp_path / "m.bin"
    summary = api.fit(clip, ["model=latent", "model.motion=false", "model.levels=3", "model.hidden=8",
                             "model.t_strides=[2,2,4]", "compress=latent", "train.epochs=20", "compress.qat_epochs=2",
                             "compress.lmbda=0.0002", "train.lr=2e-2"],
                      out=out, outputs_root=tmp_path / "o", show_progress=False)
    cm = container.read(out)
    assert "laplace_nbm" in {t.coder for t in cm.tensors} and out.read_bytes()[5] == fmt.MINOR_LATENT_MC
    assert api.evaluate(out, clip, metrics=["psnr"])["psnr"] == pytest.approx(summary["psnr"], abs=1e-6)
    frames = decode_frames(cm)
    fused = np.concatenate(list(latent_cpu.decode_batches(cm)))
    assert np.abs(fused.astype(int) - frames.astype(int)).max() <= 1


# ---------------------------------------------------------------- fuzzing the 1.8 sections
from hypothesis import given, seed, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from tests.conftest import FUZZ_SEED  # noqa: E402
from tests.unit.test_container import FUZZ, mutation, sections_of  # noqa: E402
from tests.unit.test_entropy_models import _mutated_section_gives_one_line_error  # noqa: E402

MC_SECTIONS = sections_of(_model([code_symbols("latents.level0", PANNING, ONES, -1, NBM)]))


@seed(FUZZ_SEED)
@settings(max_examples=300, **FUZZ)
@given(which=st.integers(2, len(MC_SECTIONS) - 1), mutations=st.lists(mutation, min_size=1, max_size=3))
def test_mutated_shifted_context_sections_behind_a_valid_crc(which, mutations):
    _mutated_section_gives_one_line_error(MC_SECTIONS, which, mutations, fmt.MINOR_LATENT_MC)
