"""conv_shuffle_gelu against plain PyTorch: conv2d + bias → pixel_shuffle → exact GELU."""
import pytest
import torch
import torch.nn.functional as F

from inr_codec.kernels import conv_shuffle_gelu, pack_upblock_weight

# Float output against fp32 PyTorch on the same dtype-rounded inputs: accumulation order plus one
# rounding of the output to the dtype.
TOL = {torch.float32: dict(atol=1e-4, rtol=1e-4),
       torch.float16: dict(atol=1e-2, rtol=1e-2),
       torch.bfloat16: dict(atol=3e-2, rtol=2e-2)}


def reference(x, w, b, s):
    """NCHW fp32 in, NCHW fp32 out: the UpBlock as models/layers.py writes it."""
    return F.gelu(F.pixel_shuffle(F.conv2d(x, w, b, padding=w.shape[-1] // 2), s))


def run_case(device, dtype, bsz, c_in, c_out, h, w, k, s, scale=0.3):
    x = torch.randn(bsz, c_in, h, w)
    wt = torch.randn(c_out * s * s, c_in, k, k) * scale
    b = torch.randn(c_out * s * s) * 0.5
    xq, wq = x.to(dtype).float(), wt.to(dtype).float()  # the values the kernel sees
    expected = reference(xq, wq, b, s)
    w_kn, b_n = pack_upblock_weight(wt, b, s, dtype)
    x_nhwc = x.to(dtype).permute(0, 2, 3, 1).contiguous()
    got = conv_shuffle_gelu(x_nhwc.to(device), w_kn.to(device), b_n.to(device), k, s)
    assert got.dtype == dtype and got.shape == (bsz, h * s, w * s, c_out)
    torch.testing.assert_close(got.float().cpu().permute(0, 3, 1, 2), expected, **TOL[dtype])


@pytest.mark.parametrize("dtype", list(TOL), ids=str)
@pytest.mark.parametrize("s", [1, 2, 3])
@pytest.mark.parametrize("k", [1, 3, 5])
def test_odd_shapes(device, dtype, k, s):
    run_case(device, dtype, bsz=2, c_in=3, c_out=5, h=5, w=7, k=k, s=s)


@pytest.mark.parametrize("dtype", list(TOL), ids=str)
def test_tiles_larger_than_one_block(device, dtype):
    # M = 2·9·11 = 198 and K = 9·37 = 333 span several tiles; N = 4·19 = 76 is ragged; C_in = 37 is no multiple of 16
    run_case(device, dtype, bsz=2, c_in=37, c_out=19, h=9, w=11, k=3, s=2, scale=0.1)


def test_stride_5_single_pixel_latent(device):
    # HNeRV's first block: a 1x1 conv on a tiny latent, stride 5
    run_case(device, torch.float32, bsz=3, c_in=16, c_out=6, h=1, w=2, k=1, s=5)


def test_writes_into_a_given_buffer(device):
    x = torch.randn(1, 4, 3, 3, dtype=torch.float32)
    wt, b = torch.randn(2 * 4, 4, 3, 3), torch.randn(2 * 4)
    w_kn, b_n = pack_upblock_weight(wt, b, 2, torch.float32)
    out = torch.full((1, 6, 6, 2), float("nan"), device=device)
    got = conv_shuffle_gelu(x.permute(0, 2, 3, 1).contiguous().to(device), w_kn.to(device), b_n.to(device), 3, 2,
                            out=out)
    assert got.data_ptr() == out.data_ptr()
    torch.testing.assert_close(out.cpu().permute(0, 3, 1, 2), reference(x, wt, b, 2), **TOL[torch.float32])


def test_rejects_what_it_cannot_do():
    with pytest.raises(ValueError, match="odd square"):
        pack_upblock_weight(torch.zeros(8, 3, 2, 2), torch.zeros(8), 2, torch.float32)
    w_kn, b_n = pack_upblock_weight(torch.zeros(8, 3, 3, 3), torch.zeros(8), 2, torch.float32)
    with pytest.raises(ValueError, match="NHWC"):
        conv_shuffle_gelu(torch.zeros(1, 3, 4, 4).permute(0, 2, 3, 1), w_kn, b_n, 3, 2)  # not contiguous
    with pytest.raises(ValueError, match="does not fit"):
        conv_shuffle_gelu(torch.zeros(1, 4, 4, 5), w_kn, b_n, 3, 2)
