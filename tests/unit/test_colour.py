"""BT.709 RGB <-> YUV conversion in inr_codec.io.colour."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from inr_codec.io.colour import PIX_FMTS, get_pix_fmt, rgb_to_yuv, yuv_to_rgb


def test_reference_values_8bit_limited():
    rgb = np.array([[[0, 0, 0], [255, 255, 255], [255, 0, 0], [0, 0, 255]]], dtype=np.uint8)
    y, u, v = rgb_to_yuv(rgb, "yuv444p")
    assert y.tolist() == [[16, 235, 63, 32]]  # 16 + 219 * (0, 1, .2126, .0722)
    assert u.tolist() == [[128, 128, 102, 240]]  # blue: Cb = +0.5 -> 240
    assert v.tolist() == [[128, 128, 240, 118]]  # red: Cr = +0.5 -> 240


def test_reference_values_10bit_and_full_range():
    white_black = np.array([[[255, 255, 255], [0, 0, 0]]], dtype=np.uint8)
    y, u, v = rgb_to_yuv(white_black, "yuv444p10le")
    assert y.dtype == np.uint16 and y.tolist() == [[940, 64]] and u.tolist() == [[512, 512]]
    y, u, v = rgb_to_yuv(white_black, "yuv444p", full_range=True)
    assert y.tolist() == [[255, 0]] and u.tolist() == [[128, 128]]


def test_plane_shapes_odd_sizes():
    f = get_pix_fmt("yuv420p")
    assert f.plane_shapes(17, 33) == [(17, 33), (9, 17), (9, 17)]
    assert get_pix_fmt("yuv422p").plane_shapes(17, 33) == [(17, 33), (17, 17), (17, 17)]
    assert get_pix_fmt("yuv420p10le").frame_bytes(2, 4) == (8 + 2 + 2) * 2
    planes = rgb_to_yuv(np.zeros((17, 33, 3), np.uint8), f)
    assert [p.shape for p in planes] == f.plane_shapes(17, 33)
    assert yuv_to_rgb(planes, f).shape == (17, 33, 3)


@settings(max_examples=30, deadline=None)
@given(arrays(np.uint8, st.tuples(st.integers(1, 9), st.integers(1, 9), st.just(3))), st.booleans())
def test_444_round_trip_within_rounding(rgb, full):
    back = yuv_to_rgb(rgb_to_yuv(rgb, "yuv444p", full_range=full), "yuv444p", full_range=full)
    assert np.abs(back.astype(int) - rgb).max() <= 2
    back10 = yuv_to_rgb(rgb_to_yuv(rgb, "yuv444p10le"), "yuv444p10le")
    assert np.abs(back10.astype(int) - rgb).max() <= 1


@pytest.mark.parametrize("name", ["yuv420p", "yuv422p", "yuv420p10le"])
def test_subsampled_round_trip_on_smooth_content(name):
    yy, xx = np.mgrid[0:31, 0:45]
    rgb = np.stack([xx * 5.5, yy * 8, 128 + 60 * np.sin(xx / 7.0)], -1).round().astype(np.uint8)
    back = yuv_to_rgb(rgb_to_yuv(rgb, name), name)
    assert np.abs(back.astype(int) - rgb).mean() < 1.5
    assert np.abs(back.astype(int) - rgb).max() <= 8


def test_gray_replicates_luma():
    rgb = np.full((3, 4, 3), 200, np.uint8)
    (y,) = rgb_to_yuv(rgb, "gray")
    back = yuv_to_rgb([y], "gray")
    assert (back == back[..., :1]).all() and abs(int(back[0, 0, 0]) - 200) <= 1
    assert set(PIX_FMTS) >= {"yuv420p", "yuv422p", "yuv444p", "yuv420p10le", "gray"}
