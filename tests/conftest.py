"""Shared fixtures: tiny synthetic clips and the overrides that make fits take seconds on a CPU."""
import os
import random
from fractions import Fraction

# Fixed threads, set before torch starts its thread pool: inrcodec's threads=auto follows the machine's load,
# and tests that compare bytes or PSNR between runs (resume, torchrun against one process, a fit's figures
# against the test's own decode) need the same float arithmetic in both. Tests of the thread choice itself
# remove the variable (tests/unit/test_threads.py).
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from inr_codec.io import Video, write_video  # noqa: E402

torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))  # the test process decodes on the fits' threads

# Seed of the property-based (hypothesis) fuzz tests: random each run, printed in pytest's header;
# replay a failure with INRCODEC_FUZZ_SEED=<seed> python -m pytest tests/unit/test_container.py
FUZZ_SEED = int(os.environ.get("INRCODEC_FUZZ_SEED") or random.SystemRandom().randrange(2**32))
os.environ["INRCODEC_FUZZ_SEED"] = str(FUZZ_SEED)  # one seed even if this file is imported twice


def pytest_report_header(config):
    return f"inrcodec fuzz seed: {FUZZ_SEED} (replay with INRCODEC_FUZZ_SEED={FUZZ_SEED})"


# A fit small enough for CI: HNeRV (named: the default model is the latent grids) with post-training
# quantization, 3 upsampling blocks, a few thousand parameters, a few epochs.
TINY = ["model=hnerv", "compress=default", "model.size_m=0.012", "model.blocks=3", "model.latent_side=2",
        "train.epochs=25", "train.batch_size=2", "train.checkpoint_every=10", "device=cpu"]


def moving_gradient(frames: int = 6, height: int = 23, width: int = 37) -> np.ndarray:
    """Smooth content with motion: easy to fit a little, never constant."""
    t = np.arange(frames)[:, None, None]
    y = np.arange(height)[None, :, None]
    x = np.arange(width)[None, None, :]
    r = 127 + 100 * np.sin(0.15 * x + 0.4 * t)
    g = 127 + 100 * np.cos(0.2 * y - 0.3 * t)
    b = 127 + 60 * np.sin(0.1 * (x + y) + 0.2 * t)
    return np.clip(np.stack([r + 0 * y, g + 0 * x, b], axis=-1), 0, 255).round().astype(np.uint8)


def panning_texture(frames: int = 8, height: int = 48, width: int = 64, dy: int = 1, dx: int = 2,
                    seed: int = 3) -> np.ndarray:
    """A smoothed random texture the camera pans across: each frame the content moves (dy, dx) pixels, so a
    latent level's slices hold the same picture displaced (what laplace_nbm's shifted context is for)."""
    rng = np.random.default_rng(seed)
    my, mx = frames * abs(dy), frames * abs(dx)
    big = rng.integers(0, 256, (height + my, width + mx, 3)).astype(np.float64)
    k = np.ones(5) / 5
    for ax in (0, 1):
        big = np.apply_along_axis(lambda v: np.convolve(v, k, mode="same"), ax, big)
    y0 = lambda t: my - t * dy if dy >= 0 else -t * dy  # noqa: E731
    x0 = lambda t: mx - t * dx if dx >= 0 else -t * dx  # noqa: E731
    out = [big[y0(t):y0(t) + height, x0(t):x0(t) + width] for t in range(frames)]
    return np.clip(np.stack(out), 0, 255).round().astype(np.uint8)


def pytest_addoption(parser):
    parser.addoption("--regen-golden", action="store_true",
                     help="rewrite tests/golden/ from the current code (only when the format changes on purpose)")


@pytest.fixture(scope="module")
def module_clip(tmp_path_factory):
    """The same 6-frame 37x23 moving gradient at 25 fps, once per test module (for fits a module shares)."""
    path = tmp_path_factory.mktemp("clip") / "tiny.mkv"
    write_video(Video(moving_gradient(), Fraction(25)), str(path), pix_fmt="rgb")
    return path


@pytest.fixture
def tiny_clip(tmp_path):
    """A 6-frame 37x23 clip (odd size: the strides do not divide it) at 30000/1001 fps, lossless."""
    path = tmp_path / "tiny.mkv"
    write_video(Video(moving_gradient(), Fraction(30000, 1001)), str(path), pix_fmt="rgb")
    return path


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    np.random.seed(0)
