"""The latent model's motion (models/grid_motion.py): bilinear fetches against hand-computed values, the
plain decoder at zero motion, the velocity's sign convention, block matching on a known translation."""
import pytest
import torch
import torch.nn.functional as F

from inr_codec.data import FrameSet
from inr_codec.models import grid_motion as gm
from inr_codec.models.latent import LatentModel

SIZE = (6, 8)  # H, W


def _ramp(h=SIZE[0], w=SIZE[1]):
    """Plane (1, h, w) whose value is the column index."""
    return torch.arange(w, dtype=torch.float32).expand(h, w)[None].clone()


def _at(shift_x, shift_y=0.0, size=SIZE):
    return gm.pixel_centres(size, "cpu", torch.float32)[None] + torch.tensor([shift_x, shift_y])


def test_zero_shift_reads_the_plane_itself():
    plane = torch.randn(2, *SIZE)
    got = gm.sample(plane, _at(0.0).expand(2, -1, -1, -1), SIZE)
    torch.testing.assert_close(got, plane, atol=1e-6, rtol=0)


def test_a_whole_pixel_shift_reads_the_neighbour_and_repeats_the_border():
    got = gm.sample(_ramp(), _at(1.0), SIZE)[0]
    assert got[:, :-1].tolist() == _ramp()[0, :, 1:].tolist()
    assert got[:, -1].tolist() == [7.0] * SIZE[0]  # x = 8 lies outside: the last column repeats
    got = gm.sample(_ramp(), _at(-2.0), SIZE)[0]
    assert got[0].tolist() == [0.0, 0.0, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0]


def test_a_sub_pixel_shift_interpolates_between_neighbours():
    got = gm.sample(_ramp(), _at(0.25), SIZE)[0]
    assert got[2, :-1].tolist() == pytest.approx([x + 0.25 for x in range(7)])
    plane = torch.zeros(1, *SIZE)
    plane[0, 3, 4] = 1.0
    got = gm.sample(plane, _at(0.5, -0.5), SIZE)[0]  # pixel (y, x) reads (x + 0.5, y - 0.5): rows 3-4, columns 3-4
    assert [got[y, x].item() for y in (3, 4) for x in (3, 4)] == pytest.approx([0.25] * 4)
    assert got.sum() == pytest.approx(1.0)


def test_a_coarse_plane_is_upsampled_as_the_plain_decoder_does():
    coarse = torch.randn(3, 3, 4)
    got = gm.sample(coarse, _at(0.0).expand(3, -1, -1, -1), SIZE)
    want = F.interpolate(coarse[:, None], size=SIZE, mode="bilinear", align_corners=False)[:, 0]
    torch.testing.assert_close(got, want, atol=1e-6, rtol=0)


def _model(frames=8, motion=True, **extra):
    cfg = dict(levels=3, hidden=8, layers=1, t_stride_base=2, t_stride_max=4, t_stride_first=4, act="relu",
               motion=motion, motion_block=4, motion_t_stride=2, **extra)
    return LatentModel.create(cfg, frames, 12, 16)


def test_without_velocity_the_levels_are_the_plain_decoders():
    torch.manual_seed(0)
    model = _model()
    dec = model.decoder
    for g in dec.latents.grids():
        torch.nn.init.normal_(g)
    idx = torch.arange(8)
    moving = dec._levels(idx)
    dec.motion = None
    for a, b in zip(moving, dec._levels(idx)):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=0)


def test_a_constant_velocity_fetches_each_slice_where_its_content_was():
    # One full-resolution level, a slice every 4 frames (centres 1.5 and 5.5), a velocity of 1 pixel a frame
    # to the right: frame 3 blends slice 0 read 1.5 pixels left (weight 0.625) and slice 1 read 2.5 right.
    model = LatentModel.create(dict(levels=1, hidden=4, layers=1, t_strides=[4], act="relu", motion=True,
                                    motion_block=4, motion_t_stride=8), 8, 12, 16)
    lat = model.decoder.latents
    with torch.no_grad():
        lat.level0[0] = _ramp(12, 16)[0]
        lat.level0[1] = 2 * _ramp(12, 16)[0]
        lat.motion_x.fill_(1.0 / gm.MOTION_UNIT)
    got = model.decoder._levels(torch.tensor([3]))[0][0]
    x = torch.arange(16, dtype=torch.float32)
    want = 0.625 * (x - 1.5) + 0.375 * 2 * (x + 2.5)
    torch.testing.assert_close(got[5, 2:12], want[2:12], atol=1e-5, rtol=0)  # away from the borders


def test_block_matching_finds_a_known_translation_and_primes_the_grids():
    torch.manual_seed(1)
    texture = F.avg_pool2d(torch.rand(1, 3, 40, 56), 3, stride=1, padding=1)  # smooth enough to match
    frames = torch.cat([torch.roll(texture, shifts=(-1 * t, 2 * t), dims=(2, 3)) for t in range(6)])
    vel = gm.block_motion(frames, block=8, search=4)
    assert vel.shape == (6, 2, 5, 7)
    inner = vel[:, :, 1:-1, 1:-1]  # away from the wrapped borders
    assert (inner[:, 0] == 2).float().mean() > 0.9 and (inner[:, 1] == -1).float().mean() > 0.9
    model = LatentModel.create(dict(levels=2, hidden=4, layers=1, t_strides=[2, 2], act="relu", motion=True,
                                    motion_block=8, motion_search=4, motion_t_stride=3), 6, 40, 56)
    model.prime(FrameSet((frames * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy(), 40, 56))  # as a fit
    mx = model.decoder.latents.motion_x[:, 1:-1, 1:-1] * gm.MOTION_UNIT
    assert (mx == 2).float().mean() > 0.9


def test_a_file_s_motion_key_is_checked():
    gm.check_motion({"size": [3, 4], "t_stride": 2})
    for bad in ([3, 4], {"size": [3, 4]}, {"size": [3, 0], "t_stride": 2}, {"size": [3, 4], "t_stride": 0},
                {"size": [3, 4], "t_stride": 2, "block": 16}, {"size": [3.0, 4], "t_stride": 2}):
        with pytest.raises(ValueError):
            gm.check_motion(bad)


def test_motion_adds_its_own_grids_and_fewer_than_3000_macs_at_the_defaults():
    from inr_codec.models import macs
    cfg = dict(levels=6, hidden=40, layers=2, t_stride_base=2, t_stride_max=32, t_stride_first=16, act="relu",
               motion=True)
    model = LatentModel.create(cfg, 48, 144, 256)
    names = set(model.decoder.state_dict())
    assert {"latents.motion_x", "latents.motion_y"} <= names
    assert model.decoder.latents.motion_x.shape == (12, 9, 16)
    per_pixel = macs.macs_per_frame("latent", model.arch) / (144 * 256)
    plain = macs.macs_per_frame("latent", LatentModel.create({**cfg, "motion": False}, 48, 144, 256).arch)
    assert plain / (144 * 256) < per_pixel < 3000

