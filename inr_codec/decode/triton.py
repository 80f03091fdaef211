"""The Triton decode backend: the same interface as ``decode.reference``, with the upsampling blocks
and the output head run by the fused kernels in ``inr_codec.kernels``, and a latent file's whole
decoder by ``latent_decode`` (:class:`LatentLaunchPlan`).

A :class:`LaunchPlan` is built once per file from the reference decoder's weights: the stem (HNeRV's
1x1 conv, NeRV's MLP) stays in PyTorch in fp32 (it works on the tiny latent), every UpBlock's weight
is re-packed for ``conv_shuffle_gelu`` and the head's for ``conv_head_uint8``, all in the chosen
dtype. Activations between blocks are NHWC in that dtype, in buffers kept per batch size; the head
writes cropped uint8 frames. On CUDA the whole plan for a batch size is captured in a CUDA graph
after one warm-up run (which also autotunes), so the small early layers are not launch-bound.

Where it cannot run it says so (:class:`BackendError`); it never falls back to another backend.
"""
from __future__ import annotations

import importlib.util
import os
from typing import Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F

from ..container.records import CompressedModel
from ..errors import BackendError, InputError
from .reference import DTYPES, build_decoder, frame_range

NEEDS = ("the triton backend needs a CUDA GPU, or TRITON_INTERPRET=1 to run its kernels in the interpreter "
         "on the CPU")


def _interpret_env() -> bool:
    return os.environ.get("TRITON_INTERPRET", "0").lower() in ("1", "true", "on", "yes")


def check_available(device) -> None:
    """Raise :class:`BackendError` (one line) unless the kernels can run on ``device``."""
    device = torch.device(device)
    if importlib.util.find_spec("triton") is None:
        raise BackendError("the triton backend needs the triton package (pip install triton); "
                           "use --backend torch")
    if device.type == "cpu" and not _interpret_env():
        raise BackendError(NEEDS)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise BackendError(f"{NEEDS}; this machine has no usable CUDA GPU")
    if device.type not in ("cpu", "cuda"):
        raise BackendError(f"{NEEDS}; device {device} is neither")
    try:
        from .. import kernels
    except Exception as e:  # noqa: BLE001 (a broken triton install shows up here, as one line)
        raise BackendError(f"the triton backend cannot load its kernels: {str(e).splitlines()[0] if str(e) else e}"
                           ) from None
    if device.type == "cpu" and not kernels.INTERPRETED:
        raise BackendError("TRITON_INTERPRET=1 was set after the kernels were imported; set it before "
                           "Python starts")


def _stem(decoder: torch.nn.Module, name: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """idx → the first block's input (B, C, h0, w0), fp32, exactly as the reference computes it."""
    if name == "hnerv":
        body = decoder.body
        return lambda idx: F.gelu(body.stem(decoder.embeddings[idx]))
    if name == "nerv":
        from ..models.nerv import positional_encoding
        a = decoder.arch

        def stem(idx):
            t = idx.float() / max(a["frames"] - 1, 1)
            x = decoder.stem(positional_encoding(t, a["pe_levels"], a["pe_base"]))
            return x.view(-1, a["fc_channels"], a["h0"], a["w0"])
        return stem
    raise BackendError(f"the triton backend does not know model '{name}'; use --backend torch")


def _parts(decoder: torch.nn.Module, name: str):
    if name == "hnerv":
        return decoder.body.blocks, decoder.body.head
    return decoder.blocks, decoder.head


class _Graphed:
    """``run``: a plan's ``_launch(idx, out)`` as is, or (CUDA) captured once per batch size in a graph."""
    device: torch.device
    video: object
    use_graphs: bool
    _graphs: dict

    def _launch(self, idx: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _new_out(self, bsz: int) -> torch.Tensor:
        return torch.empty(bsz, self.video.height, self.video.width, 3, device=self.device, dtype=torch.uint8)

    @torch.no_grad()
    def run(self, idx: torch.Tensor) -> torch.Tensor:
        """uint8 frames (B, H, W, 3) on the plan's device; a fresh tensor the caller may keep."""
        idx = idx.to(self.device)
        bsz = idx.shape[0]
        if not self.use_graphs:
            return self._launch(idx, self._new_out(bsz))
        if bsz not in self._graphs:
            static_idx, static_out = idx.clone(), self._new_out(bsz)
            side = torch.cuda.Stream(self.device)
            side.wait_stream(torch.cuda.current_stream(self.device))
            with torch.cuda.stream(side):  # warm-up: autotunes every kernel outside the capture
                self._launch(static_idx, static_out)
            torch.cuda.current_stream(self.device).wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                self._launch(static_idx, static_out)
            self._graphs[bsz] = (graph, static_idx, static_out)
        graph, static_idx, static_out = self._graphs[bsz]
        static_idx.copy_(idx)
        graph.replay()
        return static_out.clone()


class LaunchPlan(_Graphed):
    """A decoder's weights packed for the kernels, its buffers per batch size and (CUDA) its graphs."""

    def __init__(self, cm: CompressedModel, device, dtype: str = "fp32", *, cuda_graphs: bool = True):
        from .. import kernels
        if dtype not in DTYPES:
            raise InputError(f"unknown dtype '{dtype}'; choose one of: {', '.join(DTYPES)}")
        self.k = kernels
        self.device = torch.device(device)
        self.dtype = DTYPES[dtype]
        self.video = cm.video
        name = cm.model.get("name")
        ref = build_decoder(cm, self.device, "fp32")
        self.stem = _stem(ref, name)
        blocks, head = _parts(ref, name)
        self.blocks = []
        for blk in blocks:
            conv = blk.conv
            w, b = kernels.pack_upblock_weight(conv.weight, conv.bias, blk.stride, self.dtype)
            self.blocks.append((w, b, conv.kernel_size[0], blk.stride, conv.out_channels // blk.stride ** 2))
        hw, hb = kernels.pack_head_weight(head.conv.weight, head.conv.bias, self.dtype)
        self.head = (hw, hb, head.conv.kernel_size[0])
        self.latent = None  # (C, h0, w0), learnt on the first run
        self.use_graphs = cuda_graphs and self.device.type == "cuda" and not kernels.INTERPRETED
        self._buffers: dict[int, list[torch.Tensor]] = {}
        self._graphs: dict[int, tuple] = {}

    def macs_per_frame(self) -> int:
        """Multiply-accumulates of the kernels' part (blocks and head) for one frame."""
        c, h, w = self._latent_shape()
        total = 0
        for wk, _, _, s, _ in self.blocks:
            total += h * w * wk.shape[0] * wk.shape[1]
            h, w = h * s, w * s
        return total + self.video.height * self.video.width * self.head[0].shape[0] * 3

    def _latent_shape(self):
        if self.latent is None:
            with torch.no_grad():
                x = self.stem(torch.zeros(1, dtype=torch.long, device=self.device))
            self.latent = tuple(x.shape[1:])
        return self.latent

    def _buffers_for(self, bsz: int) -> list[torch.Tensor]:
        if bsz not in self._buffers:
            c, h, w = self._latent_shape()
            bufs = [torch.empty(bsz, h, w, c, device=self.device, dtype=self.dtype)]
            for _, _, _, s, c_out in self.blocks:
                h, w = h * s, w * s
                bufs.append(torch.empty(bsz, h, w, c_out, device=self.device, dtype=self.dtype))
            self._buffers[bsz] = bufs
        return self._buffers[bsz]

    def _launch(self, idx: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        bufs = self._buffers_for(idx.shape[0])
        bufs[0].copy_(self.stem(idx).permute(0, 2, 3, 1))  # NCHW fp32 → NHWC dtype
        for (w, b, k, s, _), x, y in zip(self.blocks, bufs, bufs[1:]):
            self.k.conv_shuffle_gelu(x, w, b, k, s, out=y)
        v = self.video
        hw, hb, hk = self.head
        return self.k.conv_head_uint8(bufs[-1], hw, hb, hk, crop=(v.crop_top, v.crop_left, v.height, v.width),
                                      out=out)



class LatentLaunchPlan(_Graphed):
    """A latent decoder packed for ``kernels.latent_decode`` (one kernel a batch), its scratch per batch
    size and (CUDA) its graphs."""

    def __init__(self, cm: CompressedModel, device, dtype: str = "fp32", *, cuda_graphs: bool = True):
        from .. import kernels
        if dtype not in DTYPES:
            raise InputError(f"unknown dtype '{dtype}'; choose one of: {', '.join(DTYPES)}")
        self.k = kernels
        self.device = torch.device(device)
        self.video = cm.video
        try:
            self.pack = kernels.LatentPack(build_decoder(cm, self.device, "fp32"), DTYPES[dtype])
        except ValueError as e:
            raise BackendError(f"{e}; use --backend torch") from None
        self.use_graphs = cuda_graphs and self.device.type == "cuda" and not kernels.INTERPRETED
        self._scratch: dict[int, torch.Tensor] = {}
        self._graphs: dict[int, tuple] = {}

    def _launch(self, idx: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        v, bsz = self.video, idx.shape[0]
        if bsz not in self._scratch:
            need = self.k.latent_decode_scratch(bsz, v.height, v.width)
            self._scratch[bsz] = torch.empty(need, device=self.device, dtype=torch.float32)
        return self.k.latent_decode(self.pack, idx, crop=(v.crop_top, v.crop_left, v.height, v.width), out=out,
                                    scratch=self._scratch[bsz])


def build_plan(cm: CompressedModel, device="cuda", dtype: str = "fp32", **kw) -> LaunchPlan | LatentLaunchPlan:
    check_available(device)
    if cm.model.get("name") == "latent":
        if cm.model.get("motion"):
            raise BackendError("the triton backend does not decode latent files with motion yet; use --backend torch")
        return LatentLaunchPlan(cm, device, dtype, **kw)
    return LaunchPlan(cm, device, dtype, **kw)


@torch.no_grad()
def decode_device_batches(cm: CompressedModel, *, device="cuda", dtype: str = "fp32", batch_size: int = 8,
                          frames: tuple[int, int] | None = None, plan: LaunchPlan | None = None
                          ) -> Iterator[torch.Tensor]:
    """Yield uint8 (B, H, W, 3) frame batches as tensors on ``device`` (no copy to the host)."""
    plan = plan or build_plan(cm, device, dtype)
    rng = frame_range(cm, frames)
    for start in range(rng.start, rng.stop, batch_size):
        yield plan.run(torch.arange(start, min(start + batch_size, rng.stop), device=plan.device))


@torch.no_grad()
def decode_batches(cm: CompressedModel, *, device="cuda", dtype: str = "fp32", batch_size: int = 8,
                   frames: tuple[int, int] | None = None, plan: LaunchPlan | None = None
                   ) -> Iterator[np.ndarray]:
    """Yield uint8 (B, H, W, 3) numpy batches in order, like ``reference.decode_batches``.

    On CUDA each batch is copied to pinned host memory on a side stream while the next one is
    decoded; memory is bounded by two batches.
    """
    plan = plan or build_plan(cm, device, dtype)
    batches = decode_device_batches(cm, batch_size=batch_size, frames=frames, plan=plan)
    if plan.device.type != "cuda":
        for b in batches:
            yield b.numpy()
        return
    copy_stream = torch.cuda.Stream(plan.device)
    pending = None
    for b in batches:
        host = torch.empty(b.shape, dtype=torch.uint8, pin_memory=True)
        copy_stream.wait_stream(torch.cuda.current_stream(plan.device))
        with torch.cuda.stream(copy_stream):
            host.copy_(b, non_blocking=True)
            b.record_stream(copy_stream)
            done = torch.cuda.Event()
            done.record(copy_stream)
        if pending is not None:
            pending[1].synchronize()
            yield pending[0].numpy()
        pending = (host, done)
    if pending is not None:
        pending[1].synchronize()
        yield pending[0].numpy()
