"""A decoder's cost: multiply-accumulates (MACs) per frame and per pixel of the delivered video.

Counted on the meta device (shapes only: no memory, no weights, no arithmetic): the model's
``Decoder(arch)`` runs one pass with forward hooks on every Conv2d (``out.numel() * in_channels /
groups * kh * kw``) and Linear (``out.numel() * in_features``). Work those hooks cannot see (an
interpolation, an upsampling done with tensor arithmetic, an entropy context model run while
decoding) the decoder declares itself through an optional method ``extra_macs_per_frame()``.
Activations, PixelShuffle, additions and entropy decoding of the weights are not counted.

Per pixel means per pixel of the source video (width x height, not the padded network output):
the cost of each pixel the decoder delivers, so the padding a model needs counts against it.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from .registry import get_model_class


def frames_per_pass(arch: dict) -> int:
    """Frames one pass of the decoder covers when its cost is counted.

    A group-wise model (NIRVANA: the architecture has a ``gop``) decodes each group of ``gop`` frames
    with one network, and work that does not depend on the frame (the tile MLP's spatial first layer,
    computed once per tile) is shared by the group's frames: a pass over a whole group, divided by its
    frames, is that model's per-frame cost. (The reference decoder runs a group in batches of 8 and
    recomputes that layer per batch: 4 * pe_levels * hidden MACs a tile, small beside the hidden layers.)
    Every other model's cost is the same for any batch, so one frame.
    """
    return int(arch.get("gop", 1))


def macs_per_frame(model_name: str, arch: dict) -> float:
    """Multiply-accumulates the decoder of ``arch`` spends on one frame."""
    arch = {k: v for k, v in arch.items() if k != "name"}
    n = frames_per_pass(arch)
    total = 0

    def hook(mod, inp, out):
        nonlocal total
        if isinstance(mod, nn.Conv2d):
            total += out.numel() * (mod.in_channels // mod.groups) * mod.kernel_size[0] * mod.kernel_size[1]
        else:
            total += out.numel() * mod.in_features

    with torch.device("meta"):
        dec = get_model_class(model_name).Decoder(arch)
        hooks = [m.register_forward_hook(hook) for m in dec.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
        try:
            with torch.no_grad():
                dec(torch.arange(n))
        finally:
            for h in hooks:
                h.remove()
    extra = getattr(dec, "extra_macs_per_frame", None)
    return total / n + (float(extra()) if extra else 0.0)


def macs_per_pixel(model_name: str, arch: dict, width: int, height: int) -> float:
    """Multiply-accumulates per delivered pixel: one frame's MACs over the source's width x height."""
    return macs_per_frame(model_name, arch) / (width * height)
