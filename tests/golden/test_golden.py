"""Every released format version keeps decoding: a small model.bin per version, and its frames.

Regenerate (only when a new format version is released, never to make a failure go away):
    python -m pytest tests/golden --regen-golden
"""
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from inr_codec import api, container
from inr_codec.decode.reference import decode_frames
from inr_codec.io import Video, write_video
from tests.conftest import TINY, moving_gradient, panning_texture

HERE = Path(__file__).parent
GOLDEN = {"1.0": HERE / "v1.0_hnerv_tiny.bin", "1.2": HERE / "v1.2_hnerv_rd_tiny.bin",
          "1.3": HERE / "v1.3_hnerv_rd_zero_tiny.bin", "1.4": HERE / "v1.4_latent_tiny.bin",
          "1.4-3d": HERE / "v1.4_latent_3d_relu_tiny.bin", "1.5": HERE / "v1.5_latent_nb_tiny.bin",
          "1.6": HERE / "v1.6_latent_motion_tiny.bin", "1.7": HERE / "v1.7_latent_gop_tiny.bin",
          "1.8": HERE / "v1.8_latent_mc_tiny.bin"}
# How each was made: 1.0 post-training quantization, 1.2 rate-distortion training (learned entropy models),
# 1.3 the same with the zero-inflated weight model and the rate term from the fit's first step, 1.4 the
# latent-grid model (its grids under the context model), 1.4-3d the same format with the latent model's
# later architecture keys (grids with temporal strides, the ReLU synthesis); 1.4's recipe pins the latent
# model's first defaults; 1.5 the wider context model (laplace_nb) on its full-resolution level; 1.6 the
# latent model with motion (the levels fetched along a stored velocity field); 1.7 the latent model in closed
# groups (model.gop=4: a group of 4 frames and one of 2, each its own latent model with motion, in group
# sections); 1.8 the latent model without motion on a panning texture (``panning_texture``, 64x48, 8 frames:
# its slices hold the picture displaced, and two grids take laplace_nbm, the context read at a shift; its tensors
# in one tensor block). The
# HNeRV files start from TINY.
MADE_WITH = {"1.0": ["compress.bits=6"],
             "1.2": ["compress=rd", "compress.rd_epochs=4", "compress.qat_epochs=2", "compress.lmbda=0.01",
                     "compress.rd_fit=false", "compress.steps=channel", "compress.weight_model=laplace"],
             "1.3": ["compress=rd", "compress.rd_epochs=4", "compress.qat_epochs=2", "compress.lmbda=0.01",
                     "compress.weight_model=laplace0", "compress.rd_fit=true", "compress.steps=channel"],
             "1.4": ["model=latent", "model.motion=false", "model.levels=3", "model.hidden=8", "model.act=gelu",
                     "model.t_stride_base=1",
                     "model.t_stride_max=1", "model.t_stride_first=null", "model.latent_lr_scale=1", "compress=rd",
                     "train.epochs=30",
                     "compress.rd_epochs=2", "compress.qat_epochs=2", "compress.lmbda=0.001", "train.lr=2e-2"],
             "1.4-3d": ["model=latent", "model.motion=false", "model.levels=3", "model.hidden=8",
                        "model.t_stride_base=2",
                        "model.t_stride_max=4", "model.t_stride_first=null", "model.act=relu", "compress=rd",
                        "train.epochs=30",
                        "compress.rd_epochs=2", "compress.qat_epochs=2", "compress.lmbda=0.001", "train.lr=2e-2"],
             "1.5": ["model=latent", "model.motion=false", "model.levels=3", "model.hidden=8", "model.t_stride_base=1",
                     "model.t_stride_max=1",
                     "model.t_stride_first=null", "model.act=relu", "compress=rd", "compress.latent_model=nb",
                     "train.epochs=30", "compress.rd_epochs=2", "compress.qat_epochs=2", "compress.lmbda=0.0001",
                     "train.lr=2e-2"],
             "1.6": ["model=latent", "model.levels=3", "model.hidden=8", "model.t_strides=[4,4,4]", "model.act=relu",
                     "model.motion=true", "model.motion_block=8", "model.motion_t_stride=2", "compress=latent",
                     "train.epochs=30", "compress.qat_epochs=2", "compress.lmbda=0.001", "train.lr=2e-2"],
             "1.7": ["model=latent", "model.gop=4", "model.levels=3", "model.hidden=8", "model.t_strides=[2,2,4]",
                     "model.act=relu", "model.motion=true", "model.motion_block=8", "model.motion_t_stride=2",
                     "compress=latent", "train.epochs=20", "compress.qat_epochs=2", "compress.lmbda=0.001",
                     "train.lr=2e-2", "measure=none"],
             "1.8": ["model=latent", "model.motion=false", "model.levels=3", "model.hidden=8", "model.act=relu",
                     "model.t_strides=[2,2,4]", "compress=latent", "train.epochs=20", "compress.qat_epochs=2",
                     "compress.lmbda=0.0002", "train.lr=2e-2", "measure=none"]}
PANNING = {"1.8"}  # fitted on panning_texture (64x48, 8 frames); the others on moving_gradient (37x23, 6)


def _frames_path(model: Path) -> Path:
    return model.with_suffix(".frames.npz")


@pytest.fixture(scope="module", autouse=True)
def regenerate(request, tmp_path_factory):
    if not request.config.getoption("--regen-golden"):
        return
    root = tmp_path_factory.mktemp("golden")
    for version in GOLDEN:
        make_golden(version, root)


def golden_clip(version: str, root: Path) -> Path:
    clip = root / f"clip_{version}.mkv"
    write_video(Video(panning_texture() if version in PANNING else moving_gradient(), Fraction(30000, 1001)),
                str(clip), pix_fmt="rgb")
    return clip


def make_golden(version: str, root: Path) -> None:
    target, clip = GOLDEN[version], golden_clip(version, root)
    base = [] if "model=latent" in MADE_WITH[version] else TINY
    api.fit(clip, base + MADE_WITH[version], out=target, outputs_root=root / "o", show_progress=False)
    np.savez_compressed(_frames_path(target), frames=decode_frames(container.read(target)))


@pytest.mark.parametrize("version", sorted(GOLDEN))
def test_golden_file_decodes_to_the_same_frames(version):
    path = GOLDEN[version]
    cm = container.read(path)
    size = (64, 48, 8) if version in PANNING else (37, 23, 6)
    assert (cm.video.width, cm.video.height, cm.video.frames, cm.video.fps) == (*size, Fraction(30000, 1001))
    expected = np.load(_frames_path(path))["frames"]
    got = decode_frames(cm)
    assert got.shape == expected.shape
    diff = np.abs(got.astype(int) - expected.astype(int))
    # Symbols are exact; the float network may differ by rounding across machines (docs/format.md).
    assert diff.max() <= 1
    assert (diff == 0).mean() >= 0.999


@pytest.mark.parametrize("version", sorted(GOLDEN))
def test_golden_file_reserialises_to_the_same_bytes(version):
    data = GOLDEN[version].read_bytes()
    assert container.to_bytes(container.from_bytes(data)) == data


def test_the_1_8_golden_file_uses_the_shifted_context_and_the_tensor_block():
    cm = container.read(GOLDEN["1.8"])
    assert "laplace_nbm" in {t.coder for t in cm.tensors} and cm.tensor_block
    assert cm.video.frames == 8 and GOLDEN["1.8"].read_bytes()[5] == 8
