"""A latent-grid codec in the manner of Cool-chic and C3: the bits are in the latents, not the network.

The video has ``levels`` 3D grids of one channel: level l is ceil(H / 2**l) x ceil(W / 2**l) in space
and keeps one slice every ``t_strides[l]`` frames (``models/latent.py t_strides_of``: coarse levels are
shared by more frames, as C3's 3D grids; all 1 gives every level per frame, the first latent files).
The file stores them (``latents.level<l>``, slices x h x w) as integer symbols under a latent context
model (``compress/entropy_models/latent_context.py`` or ``latent_neighbours.py``, ``compress.latent_model``:
each latent predicted from the level's previous slice and a checkerboard of its own). Decoding frame t reads every level linearly between its two
nearest slices, upsamples it bilinearly to the frame's size and runs a small synthesis network on the
stacked levels: 1x1 convolutions (a per-pixel MLP, ReLU or GELU) to RGB, then one 3x3 refinement with
a residual. About 2,000 MACs per pixel at the defaults.

The latents are optimised directly (no encoder), from zero, at ``latent_lr_scale`` times the synthesis's
learning rate; with ``compress=latent`` (or ``rd``) they train under quantization noise and the rate term
from the first step.
"""
from __future__ import annotations

import functools

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import grid_motion
from .base import INRModel
from .pixel_mlp import relu_mlp
from .refine_native import refine
from .registry import register

# Latent decoding per latent, counted as MACs: the wider context model's (laplace_nb) mean and scale, 9 + 9
# multiplies in pass A, 13 + 13 in pass B, 22 on average (laplace_ctx needs 5: the file may use either).
CONTEXT_MACS_PER_LATENT = 22
# Bilinear upsampling: 4 multiply-adds per output pixel for every level that is upsampled.
UPSAMPLE_MACS_PER_PIXEL = 4
# A level with a temporal stride blends two slices for every frame: 2 multiplies a latent.
TIME_MACS_PER_LATENT = 2


def group_arch(arch: dict, frames: int) -> dict:
    """The architecture of a closed group of ``frames`` frames (``model.gop``, format 1.7) from the file's
    architecture of a full group (``solve_arch`` at gop frames): every temporal stride clamped to the group's
    frames, as ``solve_arch`` clamps them to a video's, so a shorter last group is what a fit of those frames
    alone would be. The encoder builds each group's model from it and the decoder reads each group with it."""
    out = {k: v for k, v in arch.items() if k not in ("name", "gop")}
    out["frames"] = frames
    if "t_strides" in out:
        strides = [max(1, min(int(s), frames)) for s in out["t_strides"]]
        if any(s > 1 for s in strides):
            out["t_strides"] = strides
        else:  # as solve_arch: every level per frame keeps the 1.4 architecture
            del out["t_strides"]
    if out.get("motion"):
        out["motion"] = dict(out["motion"], t_stride=max(1, min(int(out["motion"]["t_stride"]), frames)))
    return out


def level_sizes(height: int, width: int, levels: int) -> list[list[int]]:
    return [[-(-height // 2 ** i), -(-width // 2 ** i)] for i in range(levels)]


def t_strides_of(max_stride: int, levels: int, frames: int, base: int = 1) -> list[int]:
    """Level l keeps a slice every min(base * 2**l, max_stride, frames) frames: coarse levels are shared
    by more neighbouring frames (3D grids, as C3 does for video)."""
    return [max(1, min(int(base) * 2 ** i, int(max_stride), frames)) for i in range(levels)]


def level_frames(frames: int, t_strides: list[int]) -> list[int]:
    """Temporal slices of each level: level l keeps one slice every ``t_strides[l]`` frames."""
    return [-(-frames // s) for s in t_strides]


def time_weights(idx: torch.Tensor, stride: int, slices: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Linear interpolation in time (slice i at the centre of frames [i*s, (i+1)*s)): the two slices
    frame ``idx`` blends and the weight of the second."""
    pos = ((idx.to(torch.float64) + 0.5) / stride - 0.5).clamp(0, slices - 1)
    i0 = pos.floor().long()
    return i0, (i0 + 1).clamp(max=slices - 1), (pos - i0).to(torch.float32)


@functools.lru_cache(maxsize=32)
def linear_interpolation(n: int, size: int) -> torch.Tensor:
    """(size, n): the weights of F.interpolate's linear upsampling from n to size samples (align_corners
    False), read off by upsampling the identity."""
    return F.interpolate(torch.eye(n)[None], size=size, mode="linear", align_corners=False)[0].t().contiguous()


class LatentGrids(nn.Module):
    def __init__(self, frames: int, sizes: list[list[int]], t_strides: list[int] | None = None):
        super().__init__()
        self.t_strides = t_strides or [1] * len(sizes)
        for i, ((h, w), t) in enumerate(zip(sizes, level_frames(frames, self.t_strides))):
            self.register_parameter(f"level{i}", nn.Parameter(torch.zeros(t, h, w)))
            getattr(self, f"level{i}").t_stride = self.t_strides[i]  # read by the rate term's frame sampling
        self.levels = len(sizes)

    def grids(self) -> list[torch.Tensor]:
        return [getattr(self, f"level{i}") for i in range(self.levels)]


# The synthesis's activation (arch "act"; files without one use GELU, the first latent files' choice).
ACTIVATIONS = {"gelu": F.gelu, "relu": F.relu}


class Synthesis(nn.Module):
    """Stacked levels (B, L, H, W) → RGB in [0, 1]: ``layers`` 1x1 convolutions of ``hidden`` channels
    with ``act`` (GELU or ReLU), a 1x1 to RGB, then a residual 3x3 refinement and a sigmoid."""

    def __init__(self, levels: int, hidden: int, layers: int, act: str = "gelu"):
        super().__init__()
        self.act = ACTIVATIONS[act]
        chans = [levels] + [hidden] * layers
        self.mlp = nn.ModuleList(nn.Conv2d(a, b, 1) for a, b in zip(chans[:-1], chans[1:]))
        self.to_rgb = nn.Conv2d(chans[-1], 3, 1)
        self.refine = nn.Conv2d(3, 3, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv in self.mlp:
            x = self.act(conv(x))
        x = self.to_rgb(x)
        return self._refined(x)

    def _refined(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(x + self.refine(x))

    @property
    def tiled(self) -> bool:
        """Whether ``forward_channels_first`` can run the 1x1 layers tile by tile (ReLU only)."""
        return self.act is F.relu

    def forward_channels_first(self, x: torch.Tensor) -> torch.Tensor:
        """The same as ``forward`` for levels stacked channels first, (L, B, H, W), the 1x1 layers run tile
        by tile over pixels (``pixel_mlp``; its speed: docs/experiments.md, B6); (B, 3, H, W)."""
        levels, b, h, w = x.shape
        convs = [*self.mlp, self.to_rgb]
        y = relu_mlp(x.reshape(levels, -1), [c.weight.flatten(1) for c in convs], [c.bias for c in convs])
        fast = refine(y.view(3, b, h, w), self.refine)  # in C, where it builds
        if fast is not None:
            return fast
        # channels-last: oneDNN's 3x3 convolution of 3 channels, backward included, ran 1.5-2x faster
        y = y.view(3, b, h, w).transpose(0, 1).contiguous(memory_format=torch.channels_last)
        return self._refined(y)


class LatentDecoder(nn.Module):
    # bf16 autocast made a training step 4x slower on the 2-core CPU (150 against 38 ms a frame, fp32
    # wins on these thin layers): train.precision=auto keeps this model in fp32 there.
    bf16_on_cpu = False

    def __init__(self, arch: dict):
        super().__init__()
        self.arch = arch
        self.latents = LatentGrids(arch["frames"], arch["level_sizes"], arch.get("t_strides"))
        self.motion = arch.get("motion")  # the levels fetched along a velocity field (grid_motion.py)
        if self.motion:
            grid_motion.add_motion_grids(self.latents, arch["frames"], self.motion)
        self.synthesis = Synthesis(len(arch["level_sizes"]), arch["hidden"], arch["layers"], arch.get("act", "gelu"))

    def _levels(self, idx: torch.Tensor, by_matmul: bool = False) -> list[torch.Tensor]:
        """Every level of frames ``idx``, blended in time and upsampled to the frame's size: (B, H, W) each.
        ``by_matmul``: the bilinear upsampling as two products with ``linear_interpolation`` matrices (the
        same weights; its backward pass is 2x faster than F.interpolate's on the CPU)."""
        size = (self.arch["h0"], self.arch["w0"])
        if self.motion:
            return grid_motion.warped_levels(self.latents, idx, size)
        out = []
        for g, stride in zip(self.latents.grids(), self.latents.t_strides):
            if stride == 1:
                x = g[idx]
            else:
                i0, i1, w = time_weights(idx, stride, g.shape[0])
                w = w.to(g.device, g.dtype)[:, None, None]
                x = g[i0] * (1 - w) + g[i1] * w
            if tuple(x.shape[-2:]) != size:
                if by_matmul:
                    rows = linear_interpolation(x.shape[-2], size[0]).to(x.device, x.dtype)
                    cols = linear_interpolation(x.shape[-1], size[1]).to(x.device, x.dtype)
                    x = rows @ (x @ cols.t())
                else:
                    x = F.interpolate(x[:, None], size=size, mode="bilinear", align_corners=False)[:, 0]
            out.append(x)
        return out

    def features(self, idx: torch.Tensor) -> torch.Tensor:
        """The levels of frames ``idx``, each upsampled to the frame's size: (B, levels, H, W)."""
        return torch.stack(self._levels(idx), dim=1)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        # Training on a CPU: the tiled matmuls, the levels channels first (a GPU runs the convolutions whole:
        # tiles would be thousands of small launches a step there).
        if torch.is_grad_enabled() and self.synthesis.tiled and self.latents.level0.device.type == "cpu":
            return self.synthesis.forward_channels_first(torch.stack(self._levels(idx, by_matmul=True)))
        return self.synthesis(self.features(idx))

    def extra_macs_per_frame(self) -> int:
        """What hooks on the convolutions miss: the upsampling and the context model's predictions."""
        h, w = self.arch["h0"], self.arch["w0"]
        grids = self.latents.grids()
        latents = sum(g.numel() for g in grids) / self.arch["frames"]  # decoded per frame, on average
        blended = sum(g[0].numel() for g, s in zip(grids, self.latents.t_strides) if s > 1)
        macs = (TIME_MACS_PER_LATENT * blended + UPSAMPLE_MACS_PER_PIXEL * h * w * (len(self.arch["level_sizes"]) - 1)
                + CONTEXT_MACS_PER_LATENT * latents)
        if self.motion:  # the velocity's latents are in ``latents`` already (grids() leaves them out)
            moving = sum(1 for s in self.latents.t_strides if s > 1)
            macs += (grid_motion.VELOCITY_MACS_PER_PIXEL + grid_motion.WARP_MACS_PER_PIXEL_LEVEL * moving) * h * w
            macs += CONTEXT_MACS_PER_LATENT * sum(getattr(self.latents, n).numel() for n in grid_motion.MOTION_NAMES) \
                / self.arch["frames"]
        return macs


@register("latent")
class LatentModel(INRModel):
    Decoder = LatentDecoder

    def __init__(self, arch: dict):
        super().__init__(arch)
        self.decoder = LatentDecoder(arch)

    @classmethod
    def create(cls, cfg: dict, frames: int, height: int, width: int) -> "LatentModel":
        """The model, its grids learning ``latent_lr_scale`` times faster than the synthesis: each frame's
        latents get one gradient an epoch, so at the synthesis's rate they could not move far enough."""
        return cls.with_arch(cfg, cls.solve_arch(cfg, frames, height, width))

    @classmethod
    def with_arch(cls, cfg: dict, arch: dict) -> "LatentModel":
        """The model of a solved architecture (``create``'s, or one closed group's: ``group_arch``)."""
        model = cls(arch)
        for g in model.decoder.latents.grids():
            g.lr_scale = float(cfg.get("latent_lr_scale", 1.0))
        for name in grid_motion.MOTION_NAMES if model.decoder.motion else ():
            getattr(model.decoder.latents, name).lr_scale = float(cfg.get("latent_lr_scale", 1.0))
        model.block_matching = (int(cfg.get("motion_block", 16)), int(cfg.get("motion_search", 8)))  # block, reach
        return model

    @classmethod
    def solve_arch(cls, cfg: dict, frames: int, height: int, width: int) -> dict:
        levels = int(cfg["levels"])
        arch = dict(frames=frames, h0=height, w0=width, strides=[1], level_sizes=level_sizes(height, width, levels),
                    hidden=int(cfg["hidden"]), layers=int(cfg["layers"]))
        if cfg.get("act", "gelu") != "gelu":
            arch["act"] = str(cfg["act"])
        if cfg.get("t_strides") is not None:  # one per level, by hand
            t_strides = [max(1, min(int(s), frames)) for s in cfg["t_strides"]]
        else:
            t_strides = t_strides_of(cfg.get("t_stride_max", 1), levels, frames, cfg.get("t_stride_base", 1))
            if cfg.get("t_stride_first") is not None:  # the full-resolution level: detail that moves little
                t_strides[0] = max(1, min(int(cfg["t_stride_first"]), frames))
        if any(s > 1 for s in t_strides):  # files with every level per frame keep the 1.4 architecture
            arch["t_strides"] = t_strides
        motion = grid_motion.motion_arch(cfg, frames, height, width)
        if motion:
            arch["motion"] = motion
        return arch

    def prime(self, frames) -> None:
        """Before fitting, with the fit's frames (a ``data.FrameSet``): the velocity from block matching."""
        if self.decoder.motion:
            every = frames.batch(torch.arange(len(frames), device=frames.device))  # (T, 3, H, W) in [0, 1]
            grid_motion.prime_motion(self.decoder.latents, every, *self.block_matching)

    def forward(self, idx: torch.Tensor, frames: torch.Tensor | None = None) -> torch.Tensor:
        return self.decoder(idx)
