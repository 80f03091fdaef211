"""The phases after fitting that make the network cheap to store:

    fit → prune + fine-tune (``compress.prune``, ``compress.prune_epochs``)
        → quantization-aware fine-tune (``compress.qat_epochs``, with the rate term ``compress.lmbda``):
          first a ``compress.qat_noise`` share of those epochs with additive uniform noise of one
          quantization step (phase ``qat_noise``: a smooth surrogate whose gradients are exact),
          then the rest with rounding and the straight-through estimator at the target bits (``qat``)

With ``compress.entropy=learned`` (rate-distortion training, ``compress/learned_quant.py``) the
phases after the fit are instead:

    fit → rate-distortion fine-tune with quantization noise (``rd_noise``, ``compress.rd_epochs``)
        → the same with straight-through rounding at the file's quantizer (``rd``, ``compress.qat_epochs``)

each on distortion + ``compress.lmbda`` x the entropy models' estimate of the file's bpp.

All fine-tune the decoder alone, exactly what the file stores (HNeRV's embeddings
included, which become trainable values here; its encoder is no longer needed).
Each phase is a Trainer run with its own checkpoint, so an interrupted run resumes
inside the phase it was in.
"""
from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import torch
import torch.nn as nn
from omegaconf import OmegaConf

from ..compress import learned_quant, prune, qat
from ..compress.allocate import allocate
from ..compress.pipeline import AUTO
from ..data import FrameSet
from .checkpoint import load_checkpoint
from .trainer import Trainer

log = logging.getLogger("inr_codec.train")


class DecoderFit(nn.Module):
    """Trains a decoder on frame indices (the fitting model's interface)."""

    def __init__(self, decoder: nn.Module):
        super().__init__()
        self.decoder = decoder

    def forward(self, idx: torch.Tensor, frames: torch.Tensor | None = None) -> torch.Tensor:
        return self.decoder(idx)


def phase_epochs(cfg, prune_fraction: float | None = None) -> dict[str, int]:
    """Epochs of each phase that will run: fit, then prune and qat fine-tuning where enabled."""
    c = cfg.compress
    out = {"fit": int(cfg.train.epochs)}
    n = int(cfg.train.get("candidates", 1))
    if n > 1:  # warm-up candidates (train/candidates.py) before the fit
        out["candidates"] = n * int(cfg.train.candidate_epochs)
    if c.get("entropy", "static") == "learned":
        for name, n in (("rd_noise", int(c.rd_epochs)), ("rd", int(c.qat_epochs))):
            if n > 0:
                out[name] = n
        return out
    fraction = float(c.prune) if prune_fraction is None else float(prune_fraction)
    if fraction > 0 and int(c.prune_epochs) > 0:
        out["prune"] = int(c.prune_epochs)
    noise, ste = qat_split(cfg)
    if noise > 0:
        out["qat_noise"] = noise
    if ste > 0:
        out["qat"] = ste
    return out


def qat_split(cfg) -> tuple[int, int]:
    """(noise epochs, straight-through epochs) of the QAT phase; the last epochs always round."""
    total = int(cfg.compress.qat_epochs)
    noise = min(int(round(float(cfg.compress.get("qat_noise", 0.0)) * total)), total - 1) if total > 0 else 0
    return noise, total - noise


def budget_share(cfg, phase: str, prune_fraction: float | None = None) -> float | None:
    """The seconds of ``train.budget_s`` that ``phase`` gets: shares follow the epochs, so the whole
    run (fit and fine-tuning) ends within the budget, each phase's schedule decaying inside its share."""
    budget = cfg.train.budget_s
    if not budget:
        return None
    epochs = phase_epochs(cfg, prune_fraction)
    return float(budget) * epochs.get(phase, 0) / sum(epochs.values())


def _phase_cfg(train_cfg, epochs: int, lr: float, budget_s: float | None):
    c = OmegaConf.to_container(train_cfg, resolve=True)
    # the fine-tuning phases keep Adam's decaying schedule whatever the fit's optimizer (measured so)
    c.update(epochs=int(epochs), lr=float(lr), budget_s=budget_s, warmup=0.05, optimizer="adam")
    return OmegaConf.create(c)


def state_digest(module: nn.Module) -> str:
    """A hash of every tensor's values: what a phase started from."""
    h = hashlib.sha1()  # noqa: S324 (identity, not security)
    for name, t in sorted(module.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def _run(name: str, decoder: nn.Module, frames: FrameSet, cfg, epochs: int, *, run_dir: Path | None, seed: int,
         fingerprint: dict, show_progress: bool, resume: bool, fraction: float, extra_loss=None) -> float:
    # A phase's checkpoint is only valid for the same starting weights and compression settings:
    # if an earlier phase ran on (a resume with more epochs, say), this phase starts over.
    fingerprint = dict(fingerprint, start=state_digest(decoder),
                       compress=repr(sorted(OmegaConf.to_container(cfg.compress, resolve=True).items())))
    budget = budget_share(cfg, name, fraction)
    trainer = Trainer(DecoderFit(decoder), frames, _phase_cfg(cfg.train, epochs, cfg.compress.finetune_lr, budget),
                      seed=seed, run_dir=run_dir, fingerprint=fingerprint, show_progress=show_progress,
                      phase=name, extra_loss=extra_loss)
    path = trainer.checkpoint_path
    if resume and path is not None and path.is_file():
        theirs = load_checkpoint(path).get("fingerprint", {})
        if all(theirs.get(k) == v for k, v in fingerprint.items()):
            trainer.resume(path)
        else:
            log.info("%s is stale (the weights or settings it started from changed); running the %s phase again",
                     path, name)
    return trainer.fit().elapsed_s


def compression_phases(decoder: nn.Module, frames: FrameSet, cfg, *, run_dir: Path | None = None, seed: int = 0,
                       fingerprint: dict | None = None, show_progress: bool = True, resume: bool = False,
                       prune_fraction: float | None = None) -> float:
    """Prune, fine-tune and quantization-aware fine-tune ``decoder`` in place; returns the seconds spent.

    ``prune_fraction`` overrides ``compress.prune`` (a rate target decides it). With
    ``compress.layer_bits=auto`` the bits per layer are chosen first and written into ``cfg``.
    """
    c = cfg.compress
    if c.get("entropy", "static") == "learned":
        return _rd_phases(decoder, frames, cfg, run_dir=run_dir, seed=seed, fingerprint=fingerprint or {},
                          show_progress=show_progress, resume=resume)
    if c.get("layer_bits") == AUTO:  # from here on (fine-tuning and the file) the chosen bits hold
        c.layer_bits = allocate(decoder, frames, c)
    fraction = float(c.prune) if prune_fraction is None else float(prune_fraction)
    kw = dict(run_dir=run_dir, seed=seed, fingerprint=fingerprint or {}, show_progress=show_progress, resume=resume,
              fraction=fraction)
    seconds = 0.0
    if fraction <= 0 and int(c.qat_epochs) <= 0:
        return seconds
    for p in decoder.parameters():
        p.requires_grad_(True)
    if fraction > 0:
        n = prune.apply_masks(decoder, fraction)
        log.info("pruned %d weights (%.1f%%)", n, 100 * fraction)
        if int(c.prune_epochs) > 0:
            seconds += _run("prune", decoder, frames, cfg, int(c.prune_epochs), **kw)
    noise_epochs, ste_epochs = qat_split(cfg)
    if ste_epochs > 0:
        quants = qat.attach(decoder, c)
        extra = None
        if float(c.lmbda) > 0:
            pixels = len(frames) * frames.height * frames.width
            extra = lambda idx: float(c.lmbda) * qat.rate_bits(decoder, c) / pixels  # noqa: E731 (bpp estimate)
        if noise_epochs > 0:
            qat.set_noise(quants, True)
            seconds += _run("qat_noise", decoder, frames, cfg, noise_epochs, extra_loss=extra, **kw)
            qat.set_noise(quants, False)
        seconds += _run("qat", decoder, frames, cfg, ste_epochs, extra_loss=extra, **kw)
    prune.bake(decoder)
    decoder.eval()
    return seconds


def _rd_phases(decoder: nn.Module, frames: FrameSet, cfg, **kw) -> float:
    """Rate-distortion fine-tuning; leaves the LearnedQuant parametrizations on ``decoder`` for
    ``learned_quant.code`` to write the file from."""
    c = cfg.compress
    for p in decoder.parameters():
        p.requires_grad_(True)
    quants = learned_quant.attach(decoder, c)
    extra = learned_quant.fit_loss(quants, c, frames, schedule="end")  # soft rounding, if any, at its end
    seconds = 0.0
    for name, mode, epochs in (("rd_noise", "noise", int(c.rd_epochs)), ("rd", "ste", int(c.qat_epochs))):
        if epochs > 0:
            learned_quant.set_mode(quants, mode)
            seconds += _run(name, decoder, frames, cfg, epochs, extra_loss=extra, fraction=0.0, **kw)
            log.info("%s: estimated payload %.0f bytes", name, learned_quant.estimate_bits(quants) / 8)
    learned_quant.set_mode(quants, "ste")
    decoder.eval()
    return seconds
