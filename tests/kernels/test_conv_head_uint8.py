"""conv_head_uint8 against plain PyTorch: conv2d + bias → sigmoid → ×255, round, clamp, uint8, crop, NHWC."""
import pytest
import torch
import torch.nn.functional as F

from inr_codec.kernels import conv_head_uint8, pack_head_weight


def reference(x, w, b, crop):
    """As decode.reference.to_uint8 does it after the OutputHead (fp32)."""
    top, left, h, wd = crop
    y = torch.sigmoid(F.conv2d(x, w, b, padding=w.shape[-1] // 2))[:, :, top:top + h, left:left + wd]
    return (y * 255.0).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16], ids=str)
@pytest.mark.parametrize("k", [1, 3, 5])
@pytest.mark.parametrize("crop", [None, (1, 2, 6, 7)])
def test_uint8_frames_within_one_level(device, dtype, k, crop):
    bsz, c, hp, wp = 2, 11, 9, 10
    x = torch.randn(bsz, c, hp, wp)
    w, b = torch.randn(3, c, k, k) * 0.3, torch.randn(3)
    xq, wq = x.to(dtype).float(), w.to(dtype).float()
    expected = reference(xq, wq, b, crop or (0, 0, hp, wp))
    w_k3, b3 = pack_head_weight(w, b, dtype)
    got = conv_head_uint8(x.to(dtype).permute(0, 2, 3, 1).contiguous().to(device), w_k3.to(device), b3.to(device),
                          k, crop=crop)
    assert got.dtype == torch.uint8 and got.shape == expected.shape
    diff = (got.cpu().int() - expected.int()).abs()
    assert diff.max() <= 1
    if dtype == torch.float32:
        assert (diff == 0).float().mean() >= 0.999  # only rounding ties may differ


@pytest.mark.filterwarnings("ignore:overflow encountered in exp")  # the interpreter's sigmoid(-100)
def test_saturates_and_rounds(device):
    # huge positive / negative logits clamp to 255 / 0; a zero logit is 127.5 → 128 (half away from zero)
    x = torch.zeros(1, 3, 2, 2)
    w = torch.zeros(3, 3, 1, 1)
    b = torch.tensor([100.0, -100.0, 0.0])
    w_k3, b3 = pack_head_weight(w, b, torch.float32)
    got = conv_head_uint8(x.permute(0, 2, 3, 1).contiguous().to(device), w_k3.to(device), b3.to(device), 1).cpu()
    assert got[..., 0].eq(255).all() and got[..., 1].eq(0).all() and got[..., 2].eq(128).all()


def test_rejects_a_crop_outside_the_frame(device):
    w_k3, b3 = pack_head_weight(torch.zeros(3, 2, 3, 3), torch.zeros(3), torch.float32)
    with pytest.raises(ValueError, match="outside"):
        conv_head_uint8(torch.zeros(1, 4, 4, 2, device=device), w_k3.to(device), b3.to(device), 3, crop=(1, 0, 4, 4))
