"""Synthetic latent files of the default architecture, for the decode benchmarks (CPU and B3) and tests:
fitting one at 1920x1080 would take hours on a CPU, and decode speed depends on the architecture and the
size, not on what the grids hold."""
from __future__ import annotations

from fractions import Fraction

import torch

from .. import container
from ..compress import learned_quant
from ..compress.pipeline import compress_decoder
from ..config import compose, model_settings
from ..container.records import VideoMeta
from ..models import get_model_class
from ..models.grid_motion import MOTION_NAMES, MOTION_UNIT


def latent_file(frames: int, height: int, width: int, seed: int = 0, overrides: tuple[str, ...] = ()) -> bytes:
    """model.bin bytes of a latent model of the default architecture (plus ``overrides``) for
    frames×height×width: grids drawn N(0, 1.5²) on unit steps (with ``model.motion=true`` velocities
    N(0, 1) pixels a frame), the synthesis's initial weights, coded as a
    fit codes them (the grids under the context model)."""
    cfg = compose(["model=latent", "compress=latent", *overrides])
    cls = get_model_class("latent")
    torch.manual_seed(seed)
    model = cls.create(model_settings(cfg, frames, height, width), frames, height, width)
    with torch.no_grad():
        for g in model.decoder.latents.grids():
            g.normal_(0.0, 1.5)
        for name in MOTION_NAMES if model.decoder.motion else ():  # velocities of about a pixel a frame
            getattr(model.decoder.latents, name).normal_(0.0, 1.0 / MOTION_UNIT)
    learned_quant.attach(model.decoder, cfg.compress)
    meta = VideoMeta(width=width, height=height, frames=frames, fps=Fraction(25), pad_width=model.arch["w0"],
                     pad_height=model.arch["h0"], source_pix_fmt="rgb24")
    return container.to_bytes(compress_decoder(model.decoder, "latent", model.arch, meta, cfg.compress))
