"""The latent model in closed groups (``model.gop``): the video cut into groups of gop frames (the last may be
shorter), each fitted and coded as an independent latent model (its own grids, velocity, synthesis and
entropy-model parameters) on its own frames only.

A group's fit is the whole-video fit of ``fitting.py`` on the group's frames: the model of
``models.latent.group_arch``, primed (block matching), the trainer with the rate term from the first step, the
compression phases, the learned coding; seeded by (seed, group index) alone, so a group's bytes do not depend on
the groups fitted before it in the same process. Groups share nothing, so under torchrun rank r fits groups
r, r + world, ... on its own (``distributed.alone``) and rank 0 gathers them: the file is the same bytes
whatever the number of processes (with the same threads per process). Frames come one group at a time
(``io.iter_video``), so memory is bounded by a group. Each coded group is kept in the run directory as it is
done (``group_progress.GroupProgress``, a group per "segment"), so an interrupted fit resumes group by group.
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import replace

import numpy as np
import torch
from omegaconf import OmegaConf

from ..compress.pipeline import compress_decoder
from ..container.records import CodedGroup, VideoMeta
from ..data import FrameSet
from ..errors import InputError
from ..measure import measure_file
from ..models.latent import LatentModel, group_arch
from . import distributed
from .group_progress import GroupProgress
from .groups import Span, plan_groups
from .phases import budget_share, compression_phases
from .trainer import Trainer

log = logging.getLogger("inr_codec")


def gop_of(cfg) -> int | None:
    """``model.gop`` of a latent fit: None (one set of grids over the whole video) or a whole number of frames
    above 0; anything else, and the settings that cannot act on closed groups, are a one-line InputError."""
    if cfg.model.name != "latent":
        return None
    gop = cfg.model.get("gop")
    if gop is None:
        return None
    if isinstance(gop, bool) or not isinstance(gop, int) or gop < 1:
        raise InputError(f"model.gop={gop} is invalid: give a whole number of frames above 0 (closed groups), or "
                         "null (one set of grids over the whole video)")
    if cfg.compress.get("target_kb") is not None or cfg.compress.get("target_bpp") is not None:
        raise InputError("compress.target_kb and compress.target_bpp do not apply to model.gop (each group is coded "
                         "on its own): set the rate with compress.lmbda or quality=N, or drop model.gop")
    if int(cfg.train.get("candidates", 1)) > 1:
        raise InputError("train.candidates does not apply to model.gop (each group is fitted once, from its own "
                         "seed): leave it at 1, or drop model.gop")
    return gop


def group_seed(seed: int, index: int) -> int:
    """The seed of group ``index``: it depends on nothing else (not on the groups fitted before it)."""
    return int(seed) * 1_000_003 + int(index)


class LatentGroupFitter:
    """Fits and codes the closed groups one rank owns."""

    def __init__(self, arch: dict, settings: dict, cfg, meta: VideoMeta, device: torch.device, rate_loss,
                 show_progress: bool = False):
        # arch: the file's architecture (a full group's); settings: the model group as a dict (lr scales, motion);
        # rate_loss(model, frames, cfg): the fit's rate term (fitting._fit_rate), None without one
        self.arch, self.settings, self.cfg, self.meta, self.device = arch, settings, cfg, meta, device
        self.rate_loss, self.show_progress = rate_loss, show_progress

    def _group_cfg(self, frames: int):
        """The fit's configuration for a group: under ``train.budget_s`` the group's share of it, by its frames."""
        budget = self.cfg.train.get("budget_s")
        if not budget:
            return self.cfg
        return OmegaConf.merge(self.cfg, {"train": {"budget_s": float(budget) * frames / self.meta.frames}})

    def fit(self, span: Span, frames: np.ndarray, groups: int) -> tuple[CodedGroup, dict]:
        """Fit and code one group from its uint8 frames: (the group, its stats)."""
        t0 = time.perf_counter()
        seed = group_seed(self.cfg.seed, span.index)
        torch.manual_seed(seed)
        np.random.seed(seed % 2**32)
        cfg = self._group_cfg(span.frames)
        arch = group_arch(self.arch, span.frames)
        model = LatentModel.with_arch(self.settings, arch).to(self.device)
        target = FrameSet(frames, arch["h0"], arch["w0"], self.device)
        with distributed.alone():
            model.prime(target)
            extra = self.rate_loss(model, target, cfg)
            fit_cfg = OmegaConf.merge(cfg.train, {"budget_s": budget_share(cfg, "fit", 0.0)})
            state = Trainer(model, target, fit_cfg, seed=seed, show_progress=self.show_progress,
                            phase=f"group {span.index + 1}/{groups}", extra_loss=extra).fit()
            decoder = model.export_decoder(target.batch)
            compression_phases(decoder, target, cfg, seed=seed, show_progress=self.show_progress)
        cm = compress_decoder(decoder, "latent", arch, replace(self.meta, frames=span.frames), cfg.compress)
        group = CodedGroup(index=span.index, start=span.start, frames=span.frames, key=True, tensors=cm.tensors)
        psnr = measure_file(cm, frames, self.device, ("psnr",))["psnr"]  # the group as the file will hold it
        stats = {"index": span.index, "frames": f"{span.start}-{span.start + span.frames - 1}",
                 "epochs": state.epoch, "psnr": round(psnr, 3),
                 "bytes": sum(len(t.payload) for t in cm.tensors), "seconds": round(time.perf_counter() - t0, 2)}
        log.info("group %d (frames %s): %d epochs, PSNR %.2f dB (coded), %d payload bytes, %.1f s", span.index,
                 stats["frames"], state.epoch, psnr, stats["bytes"], stats["seconds"])
        return group, stats

    def run(self, spans: list[Span], chunks, progress: GroupProgress | None = None, announce=None
            ) -> list[tuple[CodedGroup, dict]]:
        """Fit this rank's groups; ``chunks`` yields every group's uint8 frames in order (every rank reads the
        video once, keeping its own groups). Groups ``progress`` holds from an earlier run are kept, not refitted."""
        world, me = distributed.world_size(), distributed.rank()
        out = []
        for span, frames in zip(spans, chunks):
            if span.index % world != me:
                continue
            done = progress.done(span.index, span.index, frames) if progress is not None else None
            if done is not None:
                log.info("group %d: coded in an earlier run, kept", span.index)
                out.append((done.group, done.stats))
                continue
            if announce is not None:
                announce(f"group {span.index + 1} of {len(spans)}: frames {span.start}-{span.start + span.frames - 1}")
            group, stats = self.fit(span, frames, len(spans))
            if progress is not None:
                progress.record(span.index, group, stats, 10 ** (-stats["psnr"] / 10), frames)
            out.append((group, stats))
        return out


def fit_latent_groups(chunks, fitter: LatentGroupFitter, gop: int, progress: GroupProgress | None = None,
                      announce=None) -> tuple[list[CodedGroup], list[dict]]:
    """Every closed group of the video, coded, in order (on rank 0; the other ranks get ([], []))."""
    spans = [span for span, _ in plan_groups(fitter.meta.frames, gop, 1)]
    mine = fitter.run(spans, chunks, progress, announce)
    gathered = distributed.gather_to_main(mine)
    if gathered is None:
        return [], []
    done = sorted((pair for part in gathered for pair in part), key=lambda p: p[0].index)
    if [g.index for g, _ in done] != list(range(len(spans))):
        raise RuntimeError("a closed group was not fitted (a bug)")
    return [g for g, _ in done], [s for _, s in done]


def groups_count(frames: int, gop: int) -> int:
    return math.ceil(frames / gop)
