"""A decoder's cost in MACs per pixel (models/macs.py): exact counts for tiny HNeRV, NeRV, NIRVANA and
latent architectures worked out by hand from their channels and kernels, every registered model counted
from its default config on the meta device, and `inrcodec info` reporting the figure for HNeRV and
NIRVANA files."""
import json

import pytest
import torch.nn as nn

from inr_codec import api, container
from inr_codec.cli import main
from inr_codec.config import compose, model_settings
from inr_codec.errors import ContainerError
from inr_codec.models import MODELS, get_model_class
from inr_codec.models.macs import macs_per_frame, macs_per_pixel
from tests.unit.test_fast_start import GOLDEN  # 37x23, 6 frames
from tests.unit.test_nirvana import ARCH as NIRVANA_ARCH, _file as nirvana_file  # 13x10, 8 frames

get_model_class("hnerv")  # imports every model module, so MODELS lists every model for the parametrisation


def test_hnerv_count_by_hand():
    arch = dict(frames=2, embed_dim=4, h0=2, w0=3, channels=[6, 4, 3], kernels=[1, 3], strides=[2, 3],
                encoder_width=8)
    stem = (2 * 3) * 6 * 4                  # 1x1 conv 4 -> 6 on the 2x3 embedding
    block0 = (2 * 3) * (4 * 2 * 2) * 6 * 1  # 1x1 conv 6 -> 4·2² at 2x3, then PixelShuffle(2)
    block1 = (4 * 6) * (3 * 3 * 3) * 4 * 9  # 3x3 conv 4 -> 3·3² at 4x6, then PixelShuffle(3)
    head = (12 * 18) * 3 * 3 * 9            # 3x3 conv 3 -> RGB at 12x18
    assert macs_per_frame("hnerv", arch) == stem + block0 + block1 + head
    # per pixel of the 17x11 source, not the 18x12 padded output
    assert macs_per_pixel("hnerv", arch, 17, 11) == (stem + block0 + block1 + head) / (17 * 11)


def test_nerv_count_by_hand():
    arch = dict(frames=3, pe_levels=2, pe_base=1.25, mlp_hidden=5, fc_channels=2, h0=1, w0=2, channels=[4],
                kernel=3, strides=[2])
    mlp = 5 * 4 + (2 * 1 * 2) * 5             # Linear(2·pe_levels -> 5), Linear(5 -> fc_channels·h0·w0)
    block = (1 * 2) * (4 * 2 * 2) * 2 * 9     # 3x3 conv 2 -> 4·2² at 1x2
    head = (2 * 4) * 3 * 4 * 9                # 3x3 conv 4 -> RGB at 2x4
    assert macs_per_pixel("nerv", arch, 4, 2) == (mlp + block + head) / 8


def test_nirvana_tile_mlp_shares_its_spatial_layer_over_a_group():
    a = NIRVANA_ARCH  # gop 3, patch 4, pe_levels 3, hidden 8, layers 2; a 3x4 grid of tiles
    tiles = 3 * 4
    space = tiles * 8 * (4 * 3) / 3           # Linear(4·pe_levels -> hidden) per tile, once per group of 3
    time = 8 * (2 * 3)                        # Linear(2·pe_levels -> hidden) per frame
    hidden = tiles * 8 * 8                    # one hidden Linear(8 -> 8)
    head = tiles * (4 * 4 * 3) * 8            # Linear(8 -> patch²·3)
    assert macs_per_frame("nirvana", a) == space + time + hidden + head
    grid = dict(a, grid_ch=2, grid_t=2, mix=1)
    proj, mix, lerp = tiles * 8 * 2, tiles * 8 * 9, 2 * 2 * tiles  # code projection, depthwise 3x3, lerp in t
    assert macs_per_frame("nirvana", grid) == space + time + hidden + head + proj + mix + lerp


def test_nirvana_conv_head_by_hand():
    a = dict(NIRVANA_ARCH, head=1, grid_ch=4, grid_t=3)  # stages of 8, 8 channels (hidden 8, halved, >= 8)
    time = 4 * (2 * 3)                        # Linear(2·pe_levels -> grid_ch)
    block0 = (3 * 4) * (8 * 4) * 4 * 9        # 3x3 conv 4 -> 8·2² on the 3x4 grid
    block1 = (6 * 8) * (8 * 4) * 8 * 9        # 3x3 conv 8 -> 8·2² at 6x8
    head = (12 * 16) * 3 * 8 * 9              # 3x3 conv 8 -> RGB at 12x16
    lerp = 2 * 4 * (3 * 4)                    # the grid interpolated between its instants: 2 MACs a value
    assert macs_per_pixel("nirvana", a, 13, 10) == (time + block0 + block1 + head + lerp) / 130


def test_latent_count_by_hand():
    sizes = [[5, 7], [3, 4]]
    arch = dict(frames=2, h0=5, w0=7, strides=[1], level_sizes=sizes, hidden=4, layers=1)
    px = 5 * 7
    synthesis = px * (4 * 2 + 3 * 4 + 3 * 3 * 9)  # 1x1 2 -> 4, 1x1 4 -> RGB, 3x3 refinement 3 -> 3
    upsample = 4 * px * 1                          # bilinear, level 1 only (level 0 is the frame's size)
    context = 22 * (5 * 7 + 3 * 4)                 # the context model (laplace_nb) on every latent
    assert macs_per_pixel("latent", arch, 7, 5) == (synthesis + upsample + context) / px


def test_extra_macs_per_frame_is_added(monkeypatch):
    class Toy(nn.Module):
        def __init__(self, arch):
            super().__init__()
            self.fc = nn.Linear(3, 2)

        def forward(self, idx):
            return self.fc(idx.float()[:, None].expand(-1, 3))

        def extra_macs_per_frame(self):
            return 100

    monkeypatch.setitem(MODELS, "toy", type("ToyModel", (), {"Decoder": Toy}))
    assert macs_per_frame("toy", {}) == 2 * 3 + 100


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_model_counts_from_its_default_config(name):
    cfg = compose([f"model={name}"])
    frames, h, w = 12, 36, 64
    arch = get_model_class(name).solve_arch(model_settings(cfg, frames, h, w), frames, h, w)
    assert macs_per_pixel(name, arch, w, h) > 0


def _info_json(path, capsys) -> dict:
    assert main(["info", str(path), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_info_reports_the_hnerv_files_cost(capsys):
    # v1.0 golden: embedding 16x3x5, channels 8,8,8,8, kernels 1,3,5, strides 2,2,2, output 40x24
    per_frame = 15 * 8 * 16 + 15 * 32 * 8 * 1 + 60 * 32 * 8 * 9 + 240 * 32 * 8 * 25 + 960 * 3 * 8 * 9
    assert _info_json(GOLDEN, capsys)["macs_per_pixel"] == round(per_frame / (37 * 23), 1) == 2217.8
    assert main(["info", str(GOLDEN)]) == 0
    assert "decoder 2,218 MACs per pixel" in capsys.readouterr().out


def test_info_reports_a_nirvana_files_cost(tmp_path, capsys):
    path = tmp_path / "n.bin"
    container.write(path, nirvana_file())
    per_frame = 5808  # 384 + 48 + 768 + 4608, the tile MLP's count by hand above
    assert _info_json(path, capsys)["macs_per_pixel"] == round(per_frame / (13 * 10), 1)


def test_info_refuses_an_architecture_its_tensors_do_not_fit(tmp_path):
    cm = container.read(GOLDEN)
    cm.model["kernels"] = [1, 3, 7]
    container.write(tmp_path / "bad.bin", cm)
    with pytest.raises(ContainerError, match="do not fit"):
        api.info(tmp_path / "bad.bin")
