"""The latent grids' wider context model (coder laplace_nb, format 1.5): a weight per neighbour, a learned
scale rule, a mean kept to an eighth; and compress.latent_model=nb end to end."""
import math

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from inr_codec import api, container
from inr_codec.compress import learned_quant as lq
from inr_codec.compress.codec import code_symbols, decode_symbols
from inr_codec.compress.entropy_models import MODELS, laplace, latent_neighbours as nb
from inr_codec.container import format as fmt
from inr_codec.container import to_bytes
from inr_codec.decode.reference import decode_frames
from inr_codec.errors import ContainerError
from tests.unit.test_latent_context import GRID, _model, check_coder_minor, check_grid_round_trip

NB = MODELS["laplace_nb"]
ONES = np.ones(1, np.float32)
# A smooth field that drifts from slice to slice, rounded: its neighbours predict fractional means.
_T, _Y, _X = np.meshgrid(np.arange(6), np.arange(16), np.arange(24), indexing="ij")
SMOOTH = np.round(3 * np.sin(0.4 * _X + 0.3 * _Y + 0.5 * _T) + 2 * np.cos(0.25 * _X - 0.35 * _Y)
                  + np.random.default_rng(5).laplace(0, 0.3, _T.shape)).astype(np.int32)


def _trained(q, steps=150):
    """Coefficients trained on ``q`` by the differentiable rate, as a fit trains them."""
    y = torch.from_numpy(q.astype(np.float32))
    floor, aux = NB.initial(y)
    log_b, aux = torch.nn.Parameter(floor.log()), torch.nn.Parameter(aux)
    opt = torch.optim.Adam([log_b, aux], 3e-2)
    for _ in range(steps):
        loss = NB.rate_bits(y, log_b, aux)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return NB.hint(log_b, aux)


@pytest.mark.parametrize("q", [GRID, np.zeros((3, 5, 7), np.int32), GRID[:1, :1, :1] + 4, GRID[:, :3, :1],
                               -GRID[:, ::-1] * 7])
def test_round_trip_estimate_and_container(q):
    q = np.ascontiguousarray(q)
    check_grid_round_trip(q, NB, "laplace_nb", fmt.MINOR_LATENT_NEIGHBOURS, _trained(q, 40))


def test_phase_tables_are_the_laplace_about_a_fractional_mean():
    S, K = laplace.fixed_s(0.7), 6
    ks = np.arange(-K, K + 1)
    for j, f in enumerate(laplace.phase_frequencies(S, K)):
        exact = torch.exp(-laplace.rate_bits(torch.tensor(ks - j / 8, dtype=torch.float64),
                                             torch.tensor(0.7, dtype=torch.float64)) * math.log(2)).numpy()
        assert np.abs(f / 2.0 ** 32 - exact).max() < 1e-4
    assert np.array_equal(laplace.phase_frequencies(S, K)[0] > 0, np.ones(2 * K + 1, bool))


def test_a_fractional_mean_codes_smooth_latents_shorter_than_the_first_context_model():
    trained = code_symbols("g", SMOOTH, ONES, -1, NB, _trained(SMOOTH))
    first = code_symbols("g", SMOOTH, ONES, -1, MODELS["laplace_ctx"])
    assert len(trained.payload) < 0.9 * len(first.payload)


def test_trained_coefficients_are_used_when_they_code_shorter(monkeypatch):
    hint = _trained(SMOOTH)
    assert NB.estimate_bits(SMOOTH, NB.fit(SMOOTH, hint)) <= NB.estimate_bits(SMOOTH, NB.fit(SMOOTH))  # never worse
    monkeypatch.setattr(nb, "least_squares", lambda q, shifts=None: [0.0] * nb.MEAN_COEFFS)  # a poor start without them
    with_hint, without = NB.fit(SMOOTH, hint), NB.fit(SMOOTH)
    assert NB.mean_coefficients(with_hint) == nb.fixed_coeffs(hint[:nb.MEAN_COEFFS])
    assert NB.estimate_bits(SMOOTH, with_hint) < 0.8 * NB.estimate_bits(SMOOTH, without)


def test_training_rate_of_rounded_latents_matches_the_file():
    """After training, the differentiable rate is near the integer tables' code length at the trained
    coefficients (the file refits each bucket's scale, so it is no longer)."""
    hint = _trained(SMOOTH, 300)
    mean, act = nb.fixed_coeffs(hint[:nb.MEAN_COEFFS]), nb.fixed_act(hint[nb.MEAN_COEFFS:])
    params = [nb.zigzag(c) for c in mean] + act + \
        [x for st in nb.residual_streams(SMOOTH, mean, act) for x in NB._fit_stream(st)]
    h = torch.from_numpy(hint)
    aux = torch.cat([h[:nb.MEAN_COEFFS], h[nb.MEAN_COEFFS + 2:]])
    bits = float(NB.rate_bits(torch.from_numpy(SMOOTH).double(), h[nb.MEAN_COEFFS:nb.MEAN_COEFFS + 2].log(), aux))
    assert NB.estimate_bits(SMOOTH, params) == pytest.approx(bits, rel=0.05)
    assert NB.estimate_bits(SMOOTH, params) <= bits * 1.01
    assert NB.estimate_bits(SMOOTH, NB.fit(SMOOTH, hint)) <= NB.estimate_bits(SMOOTH, params)  # fit: never worse


def test_a_batch_of_slices_estimates_the_whole_rate_without_bias():
    y = torch.from_numpy(GRID).float() + 0.3 * torch.rand(GRID.shape)
    floor, aux = NB.initial(y)
    whole = float(NB.rate_bits(y, floor.log(), aux))
    per_slice = [float(NB.rate_bits(y, floor.log(), aux, torch.tensor([t]))) for t in range(len(y))]
    assert np.mean(per_slice) == pytest.approx(whole, rel=1e-4)


def test_symbols_do_not_depend_on_torchs_threads_or_default_dtype():
    """Coding is integer arithmetic in numpy: a torch setting that changes float results changes nothing."""
    hint = _trained(GRID)

    def coded():
        ct = code_symbols("g", GRID, ONES, -1, NB, hint)
        return ct.payload, tuple(ct.params), decode_symbols(ct).tobytes()
    first = coded()
    threads, dtype = torch.get_num_threads(), torch.get_default_dtype()
    try:
        torch.set_num_threads(2)
        torch.set_default_dtype(torch.float64)
        assert coded() == first
    finally:
        torch.set_num_threads(threads)
        torch.set_default_dtype(dtype)


def test_a_payload_that_disagrees_with_its_model_is_one_error():
    ct = code_symbols("g", GRID, ONES, -1, NB, _trained(GRID, 40))
    ct.params = list(ct.params)
    ct.params[nb.MEAN_COEFFS] += 4000  # pass A's floor: other buckets, the payload no longer fits them
    with pytest.raises(ContainerError, match="cannot decode tensor 'g'"):
        decode_symbols(ct)


def test_container_refuses_coder_6_before_1_5_and_bad_coefficients():
    ct = code_symbols("g", GRID, ONES, -1, NB)
    check_coder_minor(ct, fmt.MINOR_LATENT_NEIGHBOURS)
    good = list(ct.params)
    for at, value, needle in ((nb.MEAN_COEFFS, nb.MAX_COEFF + 1, "activity coefficient"),
                              (0, nb.zigzag(-nb.MAX_COEFF - 1), "prediction coefficient"),
                              (nb.COEFFS + 1, nb.MAX_K + 1, "laplace_nb range")):
        ct.params = good[:at] + [value] + good[at + 1:]
        with pytest.raises(ValueError, match=needle):
            to_bytes(_model([ct]))


def test_residuals_beyond_its_range_leave_the_grid_to_laplace_ctx_and_a_bad_file_fails_fast():
    q = GRID.copy()
    q[3, 5, 5] = 3 * nb.MAX_K  # a residual no laplace_nb table covers
    with pytest.raises(ValueError, match="beyond laplace_nb's range"):
        NB.fit(q)
    decoder = torch.nn.Module()
    decoder.latents = torch.nn.Module()
    decoder.latents.register_parameter("level0", torch.nn.Parameter(torch.from_numpy(q).float()))
    lq.attach(decoder, OmegaConf.create({"latent_model": "nb", "bits": 8, "bias_bits": 8}))
    (ct,) = lq.code(decoder)
    assert ct.coder == "laplace_ctx" and np.array_equal(decode_symbols(ct), q)
    # a 1x1x1 grid whose every model claims the largest range: refused within a second, not after
    # building 256 tables of 8,191 entries
    import time
    params = [0] * nb.COEFFS + [2 ** 31, nb.MAX_K] * nb.STREAMS
    start = time.perf_counter()
    with pytest.raises(ValueError):
        NB.decode(b"\x01\x02\x03\x04", params, (1, 1, 1))
    assert time.perf_counter() - start < 1.0


def test_each_grid_takes_the_smallest_of_its_model_laplace_ctx_and_one_laplace():
    """A grid trained under laplace_nb is written with whichever of laplace_nb, laplace_ctx and one Laplace
    (a small or all-zero level, where the context models' parameters outweigh the payload) is smallest."""
    grids = [torch.from_numpy(GRID).float(), torch.zeros(2, 3, 4), torch.zeros(3, 8, 8)]
    grids[1][0, 1, 1] = 2.0
    decoder = torch.nn.Module()
    decoder.latents = torch.nn.Module()
    for i, g in enumerate(grids):
        decoder.latents.register_parameter(f"level{i}", torch.nn.Parameter(g))
    quants = lq.attach(decoder, OmegaConf.create({"latent_model": "nb", "bits": 8, "bias_bits": 8}))
    assert all(isinstance(q.model, nb.LatentNeighbours) for q in quants)
    records = lq.code(decoder)
    assert records[0].coder in ("laplace_nb", "laplace_ctx") and [ct.coder for ct in records[1:]] == ["laplace"] * 2
    for ct, g, quant in zip(records, grids, quants):
        q = g.numpy().astype(np.int32)
        assert np.array_equal(decode_symbols(ct), q)
        others = [code_symbols(ct.name, q, ONES, -1, MODELS[k]) for k in ("laplace_ctx", "laplace")]
        others.append(code_symbols(ct.name, q, ONES, -1, NB, NB.hint(quant.log_b, quant.aux)))
        assert lq._record_bytes(ct) == min(lq._record_bytes(o) for o in others)
    assert lq._record_bytes(records[2]) < 8  # an all-zero level: one model's S and K, no payload to speak of


# ---------------------------------------------------------------- fuzzing the 1.5 sections
from hypothesis import given, seed, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from tests.conftest import FUZZ_SEED  # noqa: E402
from tests.unit.test_container import FUZZ, mutation, sections_of  # noqa: E402
from tests.unit.test_entropy_models import _mutated_section_gives_one_line_error  # noqa: E402

NB_SECTIONS = sections_of(_model([code_symbols("latents.level0", GRID[:3], ONES, -1, NB, _trained(GRID[:3], 20))]))


@seed(FUZZ_SEED)
@settings(max_examples=300, **FUZZ)
@given(which=st.integers(2, len(NB_SECTIONS) - 1), mutations=st.lists(mutation, min_size=1, max_size=3))
def test_mutated_neighbour_sections_behind_a_valid_crc(which, mutations):
    _mutated_section_gives_one_line_error(NB_SECTIONS, which, mutations, fmt.MINOR_LATENT_NEIGHBOURS)


# ---------------------------------------------------------------- compress.latent_model=nb through the file
# Per-frame grids at a low lmbda: the full-resolution level is large enough for laplace_nb's parameters.
NB_FIT = ["model=latent", "model.motion=false", "model.levels=3", "model.hidden=8", "model.t_stride_base=1", "model.t_stride_max=1",
          "model.t_stride_first=null", "compress=rd", "compress.latent_model=nb", "train.epochs=30",
          "compress.rd_epochs=2", "compress.qat_epochs=2", "compress.lmbda=0.0001", "train.lr=2e-2"]


def test_latent_model_nb_fits_writes_and_decodes_to_the_psnr_it_measured(tmp_path, tiny_clip):
    out = tmp_path / "m.bin"
    summary = api.fit(tiny_clip, NB_FIT,
                      out=out, outputs_root=tmp_path / "o", show_progress=False)
    cm = container.read(out)
    assert "laplace_nb" in {t.coder for t in cm.tensors if t.name.startswith("latents.")}
    assert out.read_bytes()[5] == fmt.MINOR_TENSOR_BLOCK and cm.tensor_block  # a rate-distortion file: one tensor block
    assert decode_frames(cm).shape[0] == cm.video.frames == 6
    assert api.evaluate(out, tiny_clip, metrics=["psnr"])["psnr"] == pytest.approx(summary["psnr"], abs=1e-6)
    assert summary["psnr"] > 12


def test_the_written_out_thresholds_are_half_octaves_from_b0():
    assert nb.THRESHOLDS == [round(nb.B0 * 2 ** (k / 2) * 2 ** nb.P) for k in range(nb.BUCKETS - 1)]
