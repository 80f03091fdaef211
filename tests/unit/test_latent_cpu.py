"""The latent codec's fused CPU decoder (decode/latent_cpu.py, --backend fused) against the reference.

The bound it keeps: uint8 frames within 1 level of the reference's, on at most 1 pixel value in 10^4
(float summation order is its only difference)."""
from pathlib import Path

import numpy as np
import pytest
import torch

from inr_codec import api, container
from inr_codec.bench.synthetic import latent_file as synthetic_latent
from inr_codec.decode import backend_batches, latent_cpu, reference
from inr_codec.errors import BackendError
from inr_codec.io import read_video

GOLDEN = Path(__file__).parents[1] / "golden"
LATENT_FILES = ["v1.4_latent_tiny.bin", "v1.4_latent_3d_relu_tiny.bin", "v1.5_latent_nb_tiny.bin",
                "v1.6_latent_motion_tiny.bin"]


def assert_within_bound(got: np.ndarray, expected: np.ndarray) -> None:
    assert got.shape == expected.shape and got.dtype == np.uint8
    diff = np.abs(got.astype(int) - expected.astype(int))
    assert diff.max() <= 1
    assert (diff > 0).mean() <= 1e-4


@pytest.mark.parametrize("name", LATENT_FILES)
def test_golden_latent_files_match_the_reference(name):
    cm = container.read(GOLDEN / name)
    got = np.concatenate(list(latent_cpu.decode_batches(cm, batch_size=4)))
    assert_within_bound(got, reference.decode_frames(cm))


def _cropped(cm, top: int, left: int, height: int, width: int):
    """The same file with its header's crop moved inside the padded frame."""
    v = cm.video
    video = type(v)(**{**v.__dict__, "crop_top": top, "crop_left": left, "height": height, "width": width})
    return type(cm)(video=video, model=cm.model, tensors=cm.tensors, extra=cm.extra)


@pytest.mark.parametrize("levels,act,tile_rows", [(1, "relu", 16), (3, "gelu", 4), (6, "relu", 5), (4, "relu", 1)])
def test_odd_sizes_levels_activations_tiles_and_crops_match_the_reference(levels, act, tile_rows):
    data = synthetic_latent(5, 29, 43, seed=levels,
                            overrides=(f"model.levels={levels}", f"model.act={act}", "model.hidden=12"))
    full = container.from_bytes(data)
    for cm in (full, _cropped(full, 3, 2, 21, 37), _cropped(full, 0, 5, 29, 38), _cropped(full, 8, 0, 21, 43)):
        plan = latent_cpu.build_plan(cm, tile_rows=tile_rows)
        got = np.concatenate(list(latent_cpu.decode_batches(cm, batch_size=2, frames=(1, 5), plan=plan)))
        assert_within_bound(got, reference.decode_frames(cm, frames=(1, 5)))


def test_a_default_architecture_file_at_a_real_size_matches_the_reference():
    cm = container.from_bytes(synthetic_latent(17, 144, 256))  # 6 levels, strides [16, 4, 8, 16, 16, 16]
    assert cm.model["t_strides"][0] == 16 and len(cm.model["level_sizes"]) == 6
    frames = (7, 12)
    got = np.concatenate(list(latent_cpu.decode_batches(cm, frames=frames)))
    expected = reference.decode_frames(cm, frames=frames)
    assert_within_bound(got, expected)
    assert np.ptp(expected) > 50  # frames with content (73 levels apart), not a flat grey


def test_the_plan_counts_the_synthesis_macs():
    cm = container.from_bytes(synthetic_latent(2, 16, 16))
    plan = latent_cpu.build_plan(cm)
    assert plan.macs_per_pixel() == 6 * 40 + 40 * 40 + 40 * 3 + 81


def test_the_backend_is_chosen_by_name_and_through_the_api(tmp_path):
    assert backend_batches("fused") is latent_cpu.decode_batches
    src = GOLDEN / "v1.4_latent_tiny.bin"
    r = api.decode(src, tmp_path / "f", backend="fused", device="cpu")
    assert r["backend"] == "fused" and r["frames"] == 6
    assert_within_bound(read_video(str(tmp_path / "f")).frames, reference.decode_frames(container.read(src)))
    with pytest.raises(BackendError, match="latent files only"):  # up front, as the API promises
        api.decode_stream(GOLDEN / "v1.0_hnerv_tiny.bin", backend="fused", device="cpu")


@pytest.mark.parametrize("name,kw,message", [
    ("v1.2_hnerv_rd_tiny.bin", {}, "decodes latent files only, not model 'hnerv'"),
    ("v1.4_latent_tiny.bin", {"device": "cuda"}, "runs on the CPU"),
    ("v1.4_latent_tiny.bin", {"dtype": "bf16"}, "computes in fp32, not bf16"),
])
def test_what_it_cannot_decode_is_one_line(name, kw, message):
    cm = container.read(GOLDEN / name)
    with pytest.raises(BackendError, match=message):
        latent_cpu.decode_batches(cm, **kw)  # when called, before any frame
    assert "\n" not in str(pytest.raises(BackendError, latent_cpu.check_supported, cm, **kw).value)


def test_threads_decode_frames_side_by_side_to_the_same_frames():
    cm = container.from_bytes(synthetic_latent(3, 40, 56, seed=3))
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = np.concatenate(list(latent_cpu.decode_batches(cm)))
        torch.set_num_threads(2)
        two = np.concatenate(list(latent_cpu.decode_batches(cm, batch_size=2)))  # a frame per thread
        assert torch.get_num_threads() == 2  # restored after the frames' threads ran on one each
    finally:
        torch.set_num_threads(before)
    assert_within_bound(two, one)


def test_a_file_with_motion_matches_the_reference_and_auto_picks_the_fused_decoder():
    cm = container.from_bytes(synthetic_latent(9, 37, 53, seed=3, overrides=("model.motion=true", "model.levels=4",
                                                                           "model.motion_block=8")))
    assert cm.model["motion"] == {"size": [5, 7], "t_stride": 4}
    assert container.to_bytes(cm)[5] == 8  # format 1.8: motion (1.6) in a tensor block (1.8)
    from inr_codec.decode import resolve_backend
    assert resolve_backend("auto", cm, torch.device("cpu"), "fp32") == "fused"
    got = np.concatenate(list(latent_cpu.decode_batches(cm, batch_size=3)))
    expected = reference.decode_frames(cm)
    assert_within_bound(got, expected)
    still = container.from_bytes(synthetic_latent(9, 37, 53, seed=3, overrides=("model.levels=4",)))
    assert np.abs(reference.decode_frames(still).astype(int) - expected.astype(int)).max() > 5  # it moves
