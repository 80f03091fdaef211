"""The latent codec's fused CPU decoder (``--backend fused``): the reference's arithmetic, tile by tile.

Per frame, each level's two slices are blended in time and the coarse levels upsampled bilinearly
(``upsample_bilinear2d``, the reference's own kernel, written straight into one (levels + 1, H, W)
feature buffer whose last plane is ones, so the first layer's bias rides in its matrix). The
synthesis then runs on tiles of rows (about 10,000 pixels) in a channel-major layout: every 1x1 layer is one
(out, in) @ (in, pixels) matrix product into buffers reused across tiles, small enough to stay in
cache; no 40-channel tensor of a whole frame is ever made. The layer to RGB writes into a 3-channel
frame with a zero row above and below; the 3x3 refinement (the residual folded into its centre tap),
sigmoid, x 255 rounding (half to even, as ``reference.to_uint8``) and the uint8 store of the crop
follow one tile behind, once a row's neighbours exist.

Frames differ from the reference only by float summation order: at most 1 level of 255 on a tiny share
of pixels (tests/unit/test_latent_cpu.py states the bound). fp32 on the CPU only; other models, devices
and dtypes are refused in one line, never handed to another backend.
"""
from __future__ import annotations

import copy
import queue
from concurrent.futures import ThreadPoolExecutor
from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F

from ..container.records import CompressedModel
from ..errors import BackendError
from ..models.grid_motion import warped_levels
from ..models.latent import time_weights
from .reference import build_decoder, frame_range

# Pixels per tile (rows of the frame's width): 40 channels of 10,240 pixels in 1.6 MB. Measured in alternating
# pairs against 16 rows: 13 rows at 832 wide 0.85-0.89x the time, 11 at 1280 0.81x, 26 at 256 0.92x.
TILE_PIXELS = 10240
FINISH_PIXELS = 48 * 832  # refined per conv2d call (48 rows at 832): a call's set-up costs ~0.1 ms, the band stays in cache


def check_supported(cm: CompressedModel, device="cpu", dtype: str = "fp32") -> None:
    """Raise :class:`BackendError` (one line) unless this decoder can decode ``cm`` as asked."""
    name = cm.model.get("name")
    if name != "latent":
        raise BackendError(f"the fused backend decodes latent files only, not model '{name}'; use --backend torch")
    if torch.device(device).type != "cpu":
        raise BackendError("the fused backend runs on the CPU; use --device cpu, or --backend triton on a GPU")
    if dtype != "fp32":
        raise BackendError(f"the fused backend computes in fp32, not {dtype}; use --dtype fp32")


def _blends(grids: list[torch.Tensor], t_strides: list[int], frames: int) -> list[list[tuple] | None]:
    """Per level (None where every frame has its slice), per frame: its two slices and their weights
    (i0, i1, w, 1 - w), the weights 0-dim fp32 tensors as ``time_weights`` gives them to the reference.
    Computed once: torch's small ops for them, per frame, cost as much as the blend itself at 256x144."""
    out = []
    for g, stride in zip(grids, t_strides):
        if stride == 1:
            out.append(None)
            continue
        i0, i1, w = time_weights(torch.arange(frames), stride, g.shape[0])
        out.append(list(zip(i0.tolist(), i1.tolist(), w.unbind(), (1 - w).unbind())))
    return out


class LatentPlan:
    """One latent decoder's weights packed for the tiles, and the buffers every frame reuses."""

    def __init__(self, decoder: torch.nn.Module, cm: CompressedModel, tile_rows: int | None = None):
        a, v = decoder.arch, cm.video
        self.size = (int(a["h0"]), int(a["w0"]))
        self.grids = [g.detach().float().contiguous() for g in decoder.latents.grids()]
        self.blends = _blends(self.grids, list(decoder.latents.t_strides), int(a["frames"]))
        # With motion the levels are fetched along the velocity (grid_motion.warped_levels, as the reference does).
        self.moving = decoder.latents if decoder.motion else None
        syn = decoder.synthesis
        self.act = {"relu": torch.relu_, "gelu": torch.ops.aten.gelu_}[a.get("act", "gelu")]
        convs = list(syn.mlp)
        first = convs[0] if convs else syn.to_rgb  # no hidden layer: the levels go straight to RGB
        w0 = first.weight.detach()[:, :, 0, 0]
        self.first = torch.cat([w0, first.bias.detach()[:, None]], 1).contiguous()  # bias × the ones plane
        self.hidden = [(c.weight.detach()[:, :, 0, 0].contiguous(), c.bias.detach()[:, None].contiguous())
                       for c in convs[1:]]
        self.to_rgb = None if not convs else (syn.to_rgb.weight.detach()[:, :, 0, 0].contiguous(),
                                              syn.to_rgb.bias.detach()[:, None].contiguous())
        refine = syn.refine.weight.detach().clone()
        refine[:, :, 1, 1] += torch.eye(3)  # x + conv(x) = conv'(x) with the identity in the centre tap
        self.refine, self.refine_bias = refine.contiguous(), syn.refine.bias.detach().contiguous()
        h, w = self.size
        self.rows = max(1, min(int(tile_rows or -(-TILE_PIXELS // w)), h))
        self.crop = (v.crop_top, v.crop_left, v.height, v.width)
        self.features = torch.empty(len(self.grids) + 1, h, w)
        self.features[-1].fill_(1.0)
        self.rgb = torch.zeros(3, h + 2, w)  # a zero row above and below: the refinement's padding
        widths = [c.shape[0] for c, _ in [(self.first, None), *self.hidden]]
        self.tiles = [torch.empty(c, self.rows * w) for c in widths]
        self.rgb_tile = torch.empty(3, self.rows * w)
        self.finish_rows = -(-FINISH_PIXELS // w)
        self.u8 = np.empty((3, self.finish_rows + self.rows, v.width), dtype=np.uint8)  # rows finished at once, planar

    def twin(self) -> "LatentPlan":
        """A plan sharing these weights with buffers of its own (for another thread)."""
        twin = copy.copy(self)
        twin.features = self.features.clone()
        twin.rgb = torch.zeros_like(self.rgb)
        twin.tiles = [torch.empty_like(t) for t in self.tiles]
        twin.rgb_tile = torch.empty_like(self.rgb_tile)
        twin.u8 = np.empty_like(self.u8)
        return twin

    def macs_per_pixel(self) -> int:
        """The synthesis's multiply-accumulates per padded pixel (1x1 layers, to RGB, the 3x3 refinement)."""
        mats = [self.first[:, :-1], *(w for w, _ in self.hidden), *([self.to_rgb[0]] if self.to_rgb else [])]
        return sum(m.numel() for m in mats) + self.refine.numel()

    def _levels(self, t: int) -> None:
        """Frame t's levels, blended in time and upsampled, into ``features`` (as ``LatentDecoder.features``)."""
        if self.moving is not None:
            with torch.no_grad():
                for plane, x in zip(self.features, warped_levels(self.moving, torch.tensor([t]), self.size)):
                    plane.copy_(x[0])
            return
        for plane, g, blend in zip(self.features, self.grids, self.blends):
            if blend is None:
                x = g[t]
            else:
                i0, i1, w1, w0 = blend[t]
                x = g[i0] * w0 + g[i1] * w1
            if tuple(x.shape) == self.size:
                plane.copy_(x)
            else:
                torch._C._nn.upsample_bilinear2d(x[None, None], list(self.size), False, None, None,
                                                 out=plane[None, None])

    def _synthesis(self, r0: int, r1: int) -> None:
        """Rows [r0, r1) through the 1x1 layers into ``rgb`` (rows r0 + 1 .. r1 + 1 of the padded buffer)."""
        n = (r1 - r0) * self.size[1]
        x = self.features[:, r0:r1].reshape(self.features.shape[0], n)
        h = self.tiles[0][:, :n]
        torch.mm(self.first, x, out=h)
        if self.to_rgb is None:
            self.rgb[:, r0 + 1:r1 + 1].copy_(h.view(3, r1 - r0, -1))
            return
        self.act(h)
        for (w, b), out in zip(self.hidden, self.tiles[1:]):
            out = out[:, :n]
            torch.addmm(b, w, h, out=out)
            h = self.act(out)
        rgb = self.rgb_tile[:, :n]
        torch.addmm(self.to_rgb[1], self.to_rgb[0], h, out=rgb)
        self.rgb[:, r0 + 1:r1 + 1].copy_(rgb.view(3, r1 - r0, -1))

    def _finish(self, r0: int, r1: int, out: np.ndarray) -> None:
        """Rows [r0, r1) of the crop: refinement, sigmoid, ×255 rounded, clamped, stored as uint8 RGB."""
        top, left, _, width = self.crop
        y = F.conv2d(self.rgb[None, :, r0:r1 + 2], self.refine, self.refine_bias, padding=(0, 1))[0]
        y = y[:, :, left:left + width].sigmoid_().mul_(255.0).round_().clamp_(0, 255)
        planes = self.u8[:, :r1 - r0]
        torch.from_numpy(planes).copy_(y)  # planar uint8 first: a float→uint8 copy into RGB triples ran 2-4x slower
        for c in range(3):
            out[r0 - top:r1 - top, :, c] = planes[c]

    def frame(self, t: int, out: np.ndarray) -> None:
        """Frame t as uint8 (height, width, 3) into ``out``."""
        top, _, height, _ = self.crop
        h = self.size[0]
        lo, hi = max(top - 1, 0), min(top + height + 1, h)  # the rows the crop's refinement reads
        self._levels(t)
        done = top
        for r0 in range(lo, hi, self.rows):
            r1 = min(r0 + self.rows, hi)
            self._synthesis(r0, r1)
            ready = min(r1 - 1 if r1 < h else r1, top + height)  # a row is final once the next one exists
            if ready - done >= self.finish_rows or ready == top + height:
                self._finish(done, ready, out)
                done = ready
        if done < top + height:
            self._finish(done, top + height, out)


def build_plan(cm: CompressedModel, decoder: torch.nn.Module | None = None, tile_rows: int | None = None
               ) -> LatentPlan:
    check_supported(cm)
    return LatentPlan(decoder if decoder is not None else build_decoder(cm), cm, tile_rows)


def decode_batches(cm: CompressedModel, *, device="cpu", dtype: str = "fp32", batch_size: int = 8,
                   frames: tuple[int, int] | None = None, decoder: torch.nn.Module | None = None,
                   plan: LatentPlan | None = None) -> Iterator[np.ndarray]:
    """Yield uint8 (B, H, W, 3) numpy batches in order, like ``reference.decode_batches``.

    With N > 1 intra-op threads (``torch.get_num_threads()``), N frames are decoded at once, one per thread,
    each with its own plan's buffers and torch on one thread: on a busy machine per-op parallelism made
    every small op wait for its slowest thread (1.2 against 11.5 frames/s at 832x480, docs/experiments.md)."""
    check_supported(cm, device, dtype)  # here, not at the first batch: this is no generator
    plan = plan or build_plan(cm, decoder)
    return _batches(cm, plan, frame_range(cm, frames), batch_size)


def _batches(cm: CompressedModel, plan: LatentPlan, rng: range, batch_size: int) -> Iterator[np.ndarray]:
    workers = min(torch.get_num_threads(), len(rng))
    plans: queue.SimpleQueue = queue.SimpleQueue()
    for p in [plan] + [plan.twin() for _ in range(workers - 1)]:
        plans.put(p)

    @torch.no_grad()
    def one(t: int, out: np.ndarray) -> None:
        p = plans.get()
        try:
            p.frame(t, out)
        finally:
            plans.put(p)

    v = cm.video
    pool = ThreadPoolExecutor(workers) if workers > 1 else None
    before = torch.get_num_threads()
    try:
        if pool is not None:
            torch.set_num_threads(1)
        for start in range(rng.start, rng.stop, batch_size):
            stop = min(start + batch_size, rng.stop)
            out = np.empty((stop - start, v.height, v.width, 3), dtype=np.uint8)
            if pool is None:
                for i, t in enumerate(range(start, stop)):
                    one(t, out[i])
            else:
                list(pool.map(one, range(start, stop), out))
            yield out
    finally:
        if pool is not None:
            pool.shutdown()
            torch.set_num_threads(before)
