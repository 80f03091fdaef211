"""NIRVANA's fit: the video group by group, each group's network started from the previous group's.

The video is cut into groups of ``model.gop`` frames and the groups into segments of
``model.segment`` groups. A segment's first group (its key group) starts from fresh weights seeded
by (seed, segment) and is stored whole; every later group starts from the previous group's
*decoded* weights and the file stores the quantized residual (``compress/groupcode.py``).
Segments share nothing, so under torchrun rank r fits segments r, r + world, ... and rank 0
gathers the coded groups: the file is the same bytes whatever the number of processes.

Quantization during training: every step runs the network on the fake-quantized weights
(``compress.qat.FakeQuant``, the file's per-channel quantizer) — for a residual group on
``decoded_prev + FakeQuant(w - decoded_prev)`` — so the stored symbols are the ones training saw.

Residual grid and bits: a residual tensor is quantized on its key group's per-channel step times
2^(B - b), B the key's bits for that tensor, b the group's residual bits: b = B reuses the key
grid exactly, each bit less doubles the step (the range, qmax·step, stays about the key's). A
small update is then mostly zero symbols, which the range coder makes nearly free. Bits follow
the content: b = ``model.residual_bits`` + round(log2(change) / 2) (2..B), change = MSE of the
previous group's decoded network on this group / its MSE on its own group: a scene cut or fast
motion buys a finer residual grid, a static stretch a coarser one.

Memory is bounded by one group: frames come from ``io.iter_video`` one group at a time.
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch.func import functional_call
from tqdm import tqdm

from ..compress.groupcode import State, apply_group, code_group
from ..compress.pipeline import tensor_plan
from ..compress.qat import FakeQuant
from ..container.records import CodedGroup
from ..data import FrameSet
from ..models.nirvana import make_decoder, pad_size
from . import distributed
from .group_progress import GroupProgress
from .speed_watch import for_device, report

BAR_FORMAT = "{desc}: {percentage:3.0f}%|{bar}| [{elapsed}<{remaining}{postfix}]"  # as train/fit_bar.py

log = logging.getLogger("inr_codec")


@dataclass(frozen=True)
class Span:
    index: int     # group index
    start: int     # first frame
    frames: int
    segment: int


def plan_groups(frames: int, gop: int, segment: int) -> list[tuple[Span, bool]]:
    """[(span, is key group)] tiling ``frames`` in groups of ``gop`` (the last may be shorter)."""
    out = []
    for i, start in enumerate(range(0, frames, gop)):
        out.append((Span(i, start, min(gop, frames - start), i // segment), i % segment == 0))
    return out


def residual_bits(mcfg, ccfg, change: float) -> int:
    """Bits of a residual group's tensors from how much the content changed (see the module doc)."""
    bits = int(mcfg.residual_bits)
    if mcfg.adapt_bits and change > 0 and math.isfinite(change):
        bits += int(round(0.5 * math.log2(change)))
    return max(2, min(bits, int(ccfg.bits)))


CONTENT = ("grid", "time.")  # the tensors that hold a group's frames: its grid (or tile codes) and the time input


def trains(name: str, mcfg) -> bool:
    """Whether a residual group trains tensor ``name``: every tensor with ``model.residual_train=all``; with
    ``content`` only the group's own code (CONTENT), the shared decoder keeps the previous group's weights,
    so its residual is all zero symbols (a few bytes per tensor in the file)."""
    return str(mcfg.get("residual_train", "all")) == "all" or name.startswith(CONTENT)


def _inverse(step: torch.Tensor) -> torch.Tensor:
    """1 / the residual grid's step; 0 where the step is 0 (that channel is held at zero anyway)."""
    return torch.where(step > 0, 1.0 / step.clamp_min(1e-30), torch.zeros_like(step))


class GroupFitter:
    """Fits and codes the groups of the segments one rank owns."""

    def __init__(self, arch: dict, mcfg, ccfg, device: torch.device, seed: int, show_progress: bool = False):
        self.arch, self.mcfg, self.ccfg, self.device, self.seed = arch, mcfg, ccfg, device, seed
        self.pad_h, self.pad_w = pad_size(arch)
        self.watch = for_device(device)  # one busy-machine line for the whole fit; thread governor
        self.show_progress = show_progress
        self.bar = None  # one bar over every step of this rank's groups (run)

    def _net(self, segment: int) -> torch.nn.Module:
        torch.manual_seed(self.seed * 1_000_003 + segment)  # a segment's start depends on nothing else
        return make_decoder(self.arch).to(self.device)

    def plan(self, name: str, ndim: int, bits: int | None, key_scales: dict | None) -> tuple[int, int, np.ndarray | None]:
        """(bits, axis, scales) of a tensor: a key group's from compress.*; a residual's on the key grid
        coarsened by 2^(B - bits) (see the module doc)."""
        b_key, axis = tensor_plan(name, ndim, self.ccfg)
        if bits is None:
            return b_key, axis, None
        b = min(bits, b_key)
        return b, axis, (key_scales[name] * np.float32(2.0 ** (b_key - b))).astype(np.float32)

    def _effective(self, params: dict, base: dict | None, quants: dict) -> dict:
        """What the network runs on: the weights as the file will hold them (fake-quantized)."""
        if base is None:
            return {n: quants[n](p) for n, p in params.items()}
        return {n: base[n] + quants[n](p - base[n]) for n, p in params.items()}

    def _quants(self, params: dict, bits: int | None, key_scales: dict | None) -> dict:
        quants = {}
        for n, p in params.items():
            b, axis, scales = self.plan(n, p.ndim, bits, key_scales)
            fixed = None
            if scales is not None:
                shape = (-1,) + (1,) * (p.ndim - 1) if scales.size > 1 else ()
                fixed = torch.from_numpy(scales).to(self.device).reshape(shape)
            quants[n] = FakeQuant(b, axis, scale=fixed)
        return quants

    @torch.no_grad()
    def mse(self, net: torch.nn.Module, state: State, target: FrameSet) -> float:
        weights = {n: torch.from_numpy(a).to(self.device) for n, a in state.items()}
        total, chunk = 0.0, 8  # a few frames at a time: a whole group's activations at 1080p are gigabytes
        for s in range(0, len(target), chunk):
            t = torch.arange(s, min(s + chunk, len(target)), device=self.device)
            pred = functional_call(net, weights, (t,))
            total += float(F.mse_loss(target.crop(pred), target.crop(target.batch(t)), reduction="sum"))
        return total / (len(target) * 3 * target.height * target.width)

    def fit_group(self, net: torch.nn.Module, target: FrameSet, prev: State | None, bits: int | None,
                  key_scales: dict | None, steps: int, index: int = 0) -> State:
        """Train ``net`` on the group (starting from ``prev`` if given); returns its float32 weights.
        With ``model.batch`` > 0 each step sees that many of the group's frames, drawn at random
        (seeded by the group: the same on every rank), which is what makes the conv head affordable."""
        params = dict(net.named_parameters())
        base = None
        if prev is not None:
            base = {n: torch.from_numpy(prev[n]).to(self.device) for n in params}
            with torch.no_grad():
                for n, p in params.items():
                    p.copy_(base[n])
        quants = self._quants(params, bits, key_scales)
        lr = float(self.mcfg.lr if prev is None else self.mcfg.residual_lr)  # small steps: small residuals
        trained = params if prev is None else {n: p for n, p in params.items() if trains(n, self.mcfg)}
        for n, p in params.items():
            p.requires_grad_(n in trained)  # frozen tensors: no weight gradients to compute
        opt = torch.optim.Adam(trained.values(), lr=lr)
        l1 = 0.0 if prev is None else float(self.mcfg.get("residual_l1", 0.0))
        inv_step = {n: _inverse(quants[n].scale) for n in trained} if l1 else {}
        count = sum(p.numel() for n, p in trained.items()) or 1
        t = torch.arange(len(target), device=self.device)
        batch = int(self.mcfg.get("batch", 0))
        sampled = 0 < batch < len(target)
        y = None if sampled else target.crop(target.batch(t))  # sampled: each step's frames only (uint8 otherwise)
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + 7919 * index)
        warm = max(1, steps // 20)
        if self.watch is not None:
            self.watch.new_baseline()  # key and residual groups' steps differ in cost
        for step in range(steps):
            t_step = time.perf_counter()
            scale = (step + 1) / warm if step < warm else 0.5 * (1 + math.cos(math.pi * (step - warm) / (steps - warm)))
            for g in opt.param_groups:
                g["lr"] = lr * scale
            ts, ys = t, y
            if sampled:
                ts = t[torch.randperm(len(target), generator=gen)[:batch].to(self.device)]
                ys = target.crop(target.batch(ts))
            pred = functional_call(net, self._effective(params, base, quants), (ts,))
            loss = F.mse_loss(target.crop(pred), ys)
            if l1:  # rate proxy: the residual's symbol magnitudes, mostly pulled to zero (nearly free to code)
                loss = loss + l1 / count * sum(((p - base[n]) * inv_step[n]).abs().sum() for n, p in trained.items())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            report(self.watch, time.perf_counter() - t_step, log=log, phase=f"group {index}", bar=self.bar)
            if self.bar is not None:
                self.bar.update(1)
        return {n: p.detach().to("cpu", torch.float32).numpy().copy() for n, p in params.items()}

    def run(self, spans: list[tuple[Span, bool]], chunks, progress: GroupProgress | None = None
            ) -> list[tuple[CodedGroup, dict]]:
        """Fit this rank's segments; ``chunks`` yields each group's uint8 frames in order (every rank reads
        the whole video once, keeping only its own groups). Groups ``progress`` holds from an earlier run
        are not fitted again: their decoded state continues the chain (see train/group_progress.py)."""
        world, me = distributed.world_size(), distributed.rank()
        out = []
        net = prev = key_scales = prev_mse = None
        mine = [(span, key) for span, key in spans if span.segment % world == me]
        self.bar = tqdm(total=sum(self._steps(key) for _, key in mine), disable=not self.show_progress, desc="nirvana",
                        dynamic_ncols=True, leave=True, bar_format=BAR_FORMAT)
        try:
            for (span, key), frames in zip(spans, chunks):
                if span.segment % world != me:
                    continue
                self.bar.set_postfix_str(f"group {span.index + 1}/{len(spans)} ({'key' if key else 'residual'}, "
                                         f"segment {span.segment})", refresh=False)
                net, prev, key_scales, prev_mse = self._one(span, key, frames, net, prev, key_scales, prev_mse,
                                                            progress, out)
        finally:
            self.bar.close()
        return out

    def _steps(self, key: bool) -> int:
        return int(self.mcfg.key_steps if key else self.mcfg.steps)

    def _one(self, span: Span, key: bool, frames, net, prev, key_scales, prev_mse, progress, out):
        """One group of run(): fitted and coded, or taken from an earlier run's progress; appends it to ``out``
        and returns the chain's state (network, decoded weights, key scales, MSE) for the next group."""
        if key:  # a fresh network; a residual group starts from the previous group's decoded weights
            net, prev, key_scales = self._net(span.segment), None, None
        done = progress.done(span.segment, span.index, frames) if progress is not None else None
        if done is None:
            group, stats, prev, prev_mse = self._code(net, span, key, frames, prev, prev_mse, key_scales)
            if progress is not None:
                progress.record(span.segment, group, stats, prev_mse, frames)
        else:
            group, stats = done.group, done.stats
            prev, prev_mse = apply_group(prev, group), done.mse
            self.bar.update(self._steps(key))  # nothing to fit: its steps count as done
            log.info("group %d (segment %d): coded in an earlier run, kept", span.index, span.segment)
        if key:
            key_scales = {ct.name: ct.scales for ct in group.tensors}
        out.append((group, stats))
        return net, prev, key_scales, prev_mse

    def _code(self, net: torch.nn.Module, span: Span, key: bool, frames: np.ndarray, prev: State | None,
              prev_mse: float | None, key_scales: dict | None) -> tuple[CodedGroup, dict, State, float]:
        """Fit and code one group: (the group, its stats, its decoded weights, their MSE on the group)."""
        t0 = time.perf_counter()
        target = FrameSet(frames, self.pad_h, self.pad_w, self.device)
        if key:
            bits, change, steps = None, None, int(self.mcfg.key_steps)
        else:
            change = self.mse(net, prev, target) / max(prev_mse, 1e-12)
            bits, steps = residual_bits(self.mcfg, self.ccfg, change), int(self.mcfg.steps)
        weights = self.fit_group(net, target, prev, bits, key_scales, steps, span.index)
        group, decoded = code_group(span.index, span.start, span.frames, weights, prev,
                                    lambda name, ndim: self.plan(name, ndim, bits, key_scales))
        mse = self.mse(net, decoded, target)
        stats = {"index": span.index, "segment": span.segment, "key": key, "steps": steps,
                 "bits": bits if bits is not None else int(self.ccfg.bits),
                 "change": None if change is None else round(change, 3),
                 "psnr": round(-10 * math.log10(max(mse, 1e-12)), 3),
                 "bytes": sum(len(ct.payload) for ct in group.tensors),
                 "seconds": round(time.perf_counter() - t0, 2)}
        log.info("group %d (segment %d, %s, frames %d-%d): %d steps, %s bits%s, PSNR %.2f dB (decoded weights), "
                 "%d payload bytes, %.1f s", span.index, span.segment, "key" if key else "residual",
                 span.start, span.start + span.frames - 1, steps, stats["bits"],
                 "" if change is None else f" (change {change:.2f})", stats["psnr"], stats["bytes"],
                 stats["seconds"])
        return group, stats, decoded, mse


def fit_groups(chunks, num_frames: int, arch: dict, cfg, device: torch.device, progress: GroupProgress | None = None,
               *, show_progress: bool = False) -> tuple[list[CodedGroup], list[dict]]:
    """Every group of the video, coded, in order (on rank 0; the other ranks get ([], []))."""
    spans = plan_groups(num_frames, arch["gop"], arch["segment"])
    mine = GroupFitter(arch, cfg.model, cfg.compress, device, int(cfg.seed), show_progress).run(spans, chunks, progress)
    gathered = distributed.gather_to_main(mine)
    if gathered is None:
        return [], []
    done = sorted((pair for part in gathered for pair in part), key=lambda p: p[0].index)
    assert [g.index for g, _ in done] == list(range(len(spans))), "a group was not fitted (a bug)"
    return [g for g, _ in done], [s for _, s in done]
