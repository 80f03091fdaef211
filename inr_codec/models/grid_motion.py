"""Motion for the latent grids (``model.motion=true``): each level's slices are fetched along the motion.

A level with a temporal stride keeps one slice every ``stride`` frames and blends, for frame t, the two
slices around it. Without motion the blend is linear in place: anything that moves ghosts between the
slices and the grids pay for it again at every slice. With motion the file also stores a velocity field
(pixels a frame, two low-resolution grids ``latents.motion_x`` and ``latents.motion_y`` with their own
temporal stride, coded under the same context model as the levels), and frame t reads slice i, centred
at frame c_i, at x + (c_i - t) * v_t(x): constant velocity between a frame and the slices it blends. The
sampling is bilinear, straight from the level's own resolution, so it also does the upsampling: with a
zero field it is exactly the plain decoder's bilinear upsampling and linear blend.

The velocity starts from block matching on the frames (``block_motion``), then trains with the rest.
"""
from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

from . import warp_native

# The velocity, in pixels a frame, of a motion latent of 1 at its starting quantization step (1): eighth-pel
# speeds from the start, and the learned step refines or coarsens it.
MOTION_UNIT = 0.125
MOTION_NAMES = ("motion_x", "motion_y")
# Decoding a frame's motion: per pixel, the velocity's two channels blended and upsampled (2 x (2 + 4)),
# and per level with a stride two bilinear fetches (4 taps each), their offsets (2 x 2) and the blend (2).
VELOCITY_MACS_PER_PIXEL = 12
WARP_MACS_PER_PIXEL_LEVEL = 14


def motion_arch(cfg: dict, frames: int, height: int, width: int) -> dict | None:
    """The velocity grids' layout (the file's architecture key ``motion``) for ``model.motion*``, None
    without motion: ``size`` [h, w], one sample every ``model.motion_block`` pixels, and ``t_stride``."""
    if not cfg.get("motion"):
        return None
    block = int(cfg.get("motion_block", 16))
    return dict(size=[-(-height // block), -(-width // block)],
                t_stride=max(1, min(int(cfg.get("motion_t_stride", 4)), frames)))


def check_motion(motion) -> None:
    """A file's ``motion`` key, checked before anything is built (ValueError: the reader's one line)."""
    ok = (isinstance(motion, dict) and set(motion) == {"size", "t_stride"} and isinstance(motion["size"], list)
          and len(motion["size"]) == 2 and all(type(v) is int and 1 <= v <= 1 << 14 for v in motion["size"])
          and type(motion["t_stride"]) is int and motion["t_stride"] >= 1)
    if not ok:
        raise ValueError(f"invalid motion {motion!r}")


def slices(frames: int, t_stride: int) -> int:
    return -(-frames // t_stride)


def add_motion_grids(latents: torch.nn.Module, frames: int, motion: dict) -> None:
    """Register the velocity's two grids on the latents module (stored as ``latents.motion_x/_y``: the
    latent grids' context model codes them)."""
    check_motion(motion)
    h, w = motion["size"]
    for name in MOTION_NAMES:
        p = torch.nn.Parameter(torch.zeros(slices(frames, motion["t_stride"]), h, w))
        p.t_stride = motion["t_stride"]  # read by the rate term's frame sampling
        latents.register_parameter(name, p)
    latents.motion_t_stride = motion["t_stride"]


def velocity(latents, idx: torch.Tensor, size: tuple[int, int], by_matmul: bool = False) -> torch.Tensor:
    """Frames ``idx``'s velocity at every pixel, in pixels a frame: (B, H, W, 2), x then y. ``by_matmul``:
    the bilinear upsampling as two products with ``linear_interpolation`` matrices (the same weights; its
    backward pass about 1 ms faster than F.interpolate's for two 256x144 frames on the CPU)."""
    from .latent import linear_interpolation, time_weights
    g = torch.stack([getattr(latents, n) for n in MOTION_NAMES], dim=1)  # (slices, 2, h, w), quantized if so
    i0, i1, w = time_weights(idx, latents.motion_t_stride, g.shape[0])
    w = w.to(g.device, g.dtype)[:, None, None, None]
    x = g[i0] * (1 - w) + g[i1] * w
    if by_matmul and x.device.type != "meta":  # (macs counts on the meta device: no meta matrix in the cache)
        rows = linear_interpolation(x.shape[-2], size[0]).to(x.device, x.dtype)
        cols = linear_interpolation(x.shape[-1], size[1]).to(x.device, x.dtype)
        x = rows @ (x @ cols.t())
    else:
        x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
    return x.permute(0, 2, 3, 1) * MOTION_UNIT


def pixel_centres(size: tuple[int, int], device, dtype) -> torch.Tensor:
    """(H, W, 2): each pixel's centre, x then y, in pixels from the frame's top-left corner."""
    h, w = size
    ys = torch.arange(h, device=device, dtype=dtype) + 0.5
    xs = torch.arange(w, device=device, dtype=dtype) + 0.5
    return torch.stack(torch.meshgrid(xs, ys, indexing="xy"), dim=-1)


@functools.lru_cache(maxsize=8)
def _still_grid(size: tuple[int, int], device, dtype) -> torch.Tensor:
    """``pixel_centres`` in grid_sample's units, built once per size (every frame of a decode asks)."""
    return pixel_centres(size, device, dtype) * torch.tensor([2.0 / size[1], 2.0 / size[0]], dtype=dtype,
                                                             device=device) - 1.0


def _to_grid(size: tuple[int, int], like: torch.Tensor) -> torch.Tensor:
    """The factors (2 / W, 2 / H) from the frame's pixels to grid_sample's [-1, 1]."""
    return like.new_tensor([2.0 / size[1], 2.0 / size[0]])


def sample(planes: torch.Tensor, pos: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Planes (B, h, w) covering the frame read bilinearly at ``pos`` (B, H, W, 2), in the frame's pixels;
    outside the plane its border repeats. (B, H, W)."""
    return _sample_grid(planes, pos * _to_grid(size, pos) - 1.0)


def _sample_grid(planes: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    return F.grid_sample(planes[:, None], grid, mode="bilinear", padding_mode="border", align_corners=False)[:, 0]


def warped_levels(latents, idx: torch.Tensor, size: tuple[int, int]) -> list[torch.Tensor]:
    """Every level of frames ``idx`` (B, H, W) at the frame's size, its slices fetched along the velocity.
    The positions are kept in grid_sample's units throughout: one multiply-add a slice."""
    from .latent import time_weights
    v = velocity(latents, idx, size, by_matmul=True)
    still = _still_grid(size, v.device, v.dtype)  # (H, W, 2)
    v = v * _to_grid(size, v)
    t = idx.to(v.device, v.dtype)
    out, native = [], []  # native: the strided levels the C kernel takes, fetched in one call
    for g, stride in zip(latents.grids(), latents.t_strides):
        if stride == 1:
            x = g[idx]
            out.append(x if tuple(x.shape[-2:]) == size else _sample_grid(x, still.expand(len(idx), -1, -1, -1)))
            continue
        i0, i1, w = time_weights(idx, stride, g.shape[0])
        if warp_native.fits(g, v):  # the same in C (models/warp_native.py), its numbers as python's: exact
            i0, i1, w, frames = i0.tolist(), i1.tolist(), w.tolist(), idx.tolist()  # (w fp32; 1 - w in double,
            # rounded once: fp32's 1 - w)
            offsets = [[(i + 0.5) * stride - 0.5 - f for i, f in zip(sl, frames)] for sl in (i0, i1)]
            native.append((len(out), (g, (i0, i1), ([1.0 - x for x in w], w), offsets)))
            out.append(None)
            continue
        slices, weights = (i0, i1), (1 - w.to(v), w.to(v))
        offsets = [(i.to(v.dtype) + 0.5) * stride - 0.5 - t for i in slices]  # slice centre - frame
        blend = 0
        for i, weight, offset in zip(slices, weights, offsets):
            blend = blend + _sample_grid(g[i], torch.addcmul(still, offset[:, None, None, None], v)) * weight[:, None, None]
        out.append(blend)
    for (j, _), x in zip(native, warp_native.fetch_levels([lv for _, lv in native], still, v)):
        out[j] = x
    return out


@torch.no_grad()
def block_motion(frames: torch.Tensor, block: int, search: int) -> torch.Tensor:
    """Each frame's velocity by block matching, in pixels a frame: (T, 2, ceil(H / block), ceil(W / block)).
    A block's velocity d minimises |I[t+1](x + d) - I[t](x)| + |I[t-1](x - d) - I[t](x)| over whole pixels
    within ``search`` (one side at the ends), a little cost per pixel of motion breaking ties toward rest."""
    gray = frames.float().mean(dim=1)  # (T, H, W)
    t, h, w = gray.shape
    s = int(search)
    padded = F.pad(gray[:, None], (s, s, s, s), mode="replicate")[:, 0]
    best = torch.full((t, -(-h // block), -(-w // block)), float("inf"))
    vel = torch.zeros(t, 2, *best.shape[1:])
    for dy in range(-s, s + 1):
        for dx in range(-s, s + 1):
            ahead = padded[:, s + dy:s + dy + h, s + dx:s + dx + w]  # I(x + d)
            behind = padded[:, s - dy:s - dy + h, s - dx:s - dx + w]  # I(x - d)
            cost = torch.zeros_like(gray)
            cost[:-1] += (ahead[1:] - gray[:-1]).abs()
            cost[1:] += (behind[:-1] - gray[1:]).abs()
            if t > 1:
                cost[0] *= 2  # one side only at the ends: comparable with the middle's two
                cost[-1] *= 2
            per_block = F.avg_pool2d(cost[:, None], block, ceil_mode=True)[:, 0] + 1e-3 * (abs(dx) + abs(dy))
            better = per_block < best
            best = torch.where(better, per_block, best)
            vel[:, 0][better] = float(dx)
            vel[:, 1][better] = float(dy)
    return vel


@torch.no_grad()
def prime_motion(latents, frames: torch.Tensor, block: int, search: int) -> None:
    """Start the velocity grids from block matching on the fitted frames (T, 3, H, W), ``block`` pixels a
    grid sample, ``search`` pixels a frame at most (0: from rest): each slice the median of its frames'."""
    vel = block_motion(frames, block, search)
    stride = latents.motion_t_stride
    for c, name in enumerate(MOTION_NAMES):
        g = getattr(latents, name)
        for j in range(g.shape[0]):
            med = vel[j * stride:(j + 1) * stride, c].median(dim=0).values
            g[j] = (med[: g.shape[1], : g.shape[2]] / MOTION_UNIT).to(g)
