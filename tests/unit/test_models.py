"""Architectures: strides from the frame size, parameter budgets, output shapes."""
import math

import pytest
import torch

from inr_codec.errors import InputError
from inr_codec.models import get_model_class
from inr_codec.models.layers import choose_strides

HNERV = dict(name="hnerv", size_m=1.5, blocks=5, latent_side=2, embed_dim=16, encoder_width=64, kernel_min=1,
             kernel_max=5, ratio=1.2, min_channels=8)
NERV = dict(name="nerv", size_m=1.5, blocks=5, latent_side=9, kernel=3, pe_levels=80, pe_base=1.25, mlp_hidden=256,
            fc_channels=16, ratio=1.2, min_channels=8)


def test_hnerv_reproduces_the_published_bunny_shape():
    # HNeRV's 1.5M Bunny model: strides 5,4,4,2,2, a 2x4 embedding, channels from ~68 down by 1.2.
    m = get_model_class("hnerv").create(HNERV, 132, 640, 1280)
    assert m.arch["strides"] == [5, 4, 4, 2, 2] and (m.arch["h0"], m.arch["w0"]) == (2, 4)
    assert m.arch["kernels"] == [1, 3, 5, 5, 5]
    assert 1.45e6 <= m.decoder_params() <= 1.5e6


@pytest.mark.parametrize("h,w", [(720, 1280), (23, 37), (1080, 1920), (17, 640), (144, 256)])
def test_strides_cover_any_size_with_little_padding(h, w):
    strides, h0, w0 = choose_strides(h, w, 5, 2)
    p = math.prod(strides)
    assert h0 * p >= h and w0 * p >= w
    assert (h0 - 1) * p < h and (w0 - 1) * p < w  # no whole row or column of blocks wasted


@pytest.mark.parametrize("name,cfg", [("hnerv", HNERV), ("nerv", NERV)])
def test_output_shape_and_range(name, cfg):
    small = dict(cfg, size_m=0.01, blocks=3)
    m = get_model_class(name).create(small, 5, 23, 37)
    p = math.prod(m.arch["strides"])
    frames = torch.rand(2, 3, m.arch["h0"] * p, m.arch["w0"] * p)
    out = m(torch.tensor([0, 4]), frames)
    assert out.shape == frames.shape
    assert 0 <= out.min() and out.max() <= 1
    # The decoder alone, rebuilt from the architecture dict, has the same stored tensors.
    dec = m.export_decoder(lambda idx: torch.rand(len(idx), *frames.shape[1:]))
    twin = type(dec)(m.arch)
    twin.load_state_dict(dec.state_dict())
    assert torch.equal(twin(torch.tensor([1, 3])), dec(torch.tensor([1, 3])))


@pytest.mark.parametrize("budget", [0.05, 0.3, 1.5])
def test_size_budget_is_met(budget):
    m = get_model_class("hnerv").create(dict(HNERV, size_m=budget), 10, 360, 640)
    assert 0.9 * budget * 1e6 <= m.decoder_params() <= budget * 1e6


def test_unknown_model_is_an_input_error():
    with pytest.raises(InputError, match="unknown model 'vit'"):
        get_model_class("vit")
