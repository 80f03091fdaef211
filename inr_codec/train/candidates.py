"""Warm-up candidates (``train.candidates``, ``train.candidate_epochs``): a short budget's insurance
against a poor start. ``candidates`` models, each from its own seed (seed, seed + 1, ...: candidate 0 is
the model a fit without candidates starts from), train ``candidate_epochs`` epochs on the fit's loss;
the one with the lowest loss (distortion plus the rate term at its last epoch, when there is one) is
the model the fit continues, with the fit's whole schedule. Each candidate is a phase of its own
(``candidate<k>``, checkpointed like the fit), so an interrupted warm-up resumes where it stopped; once
the choice is made the others' checkpoints are removed.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable

import torch
from omegaconf import OmegaConf

from ..compress import learned_quant
from .trainer import Trainer

log = logging.getLogger("inr_codec.train")


def count(cfg) -> int:
    """Candidates that will run (1: none, the fit starts from the seed's model)."""
    return max(1, int(cfg.train.get("candidates", 1)))


def warm_up(build: Callable[[], tuple], frames, cfg, *, seed: int, run_dir: Path | None, fingerprint: dict,
            show_progress: bool, resume: bool, budget_s: float | None) -> tuple:
    """The chosen candidate's ``build()`` result (model, extra_loss) after its warm-up epochs; ``build``
    makes a model (and its rate term) from the current torch seed."""
    n = count(cfg)
    best = None
    for k in range(n):
        torch.manual_seed(seed + k)
        model, extra = build()
        tcfg = OmegaConf.merge(cfg.train, {"epochs": int(cfg.train.candidate_epochs),
                                           "budget_s": budget_s / n if budget_s else None})
        trainer = Trainer(model, frames, tcfg, seed=seed + k, run_dir=run_dir,
                          fingerprint=dict(fingerprint, candidate=k), show_progress=show_progress,
                          phase=f"candidate{k}", extra_loss=extra)
        path = trainer.checkpoint_path
        if resume and path is not None and path.is_file():
            trainer.resume(path)
        state = trainer.fit()
        loss = objective(model, state, frames, cfg)
        log.info("candidate %d of %d: loss %.4e after %d epochs", k + 1, n, loss, state.epoch)
        if best is None or loss < best[0]:
            best = (loss, k, (model, extra))
    log.info("warm-up: candidate %d of %d kept (seed %d)", best[1] + 1, n, seed + best[1])
    if run_dir is not None:
        for k in range(n):
            if k != best[1]:
                (run_dir / "checkpoints" / f"candidate{k}.pt").unlink(missing_ok=True)
    return best[2]


def objective(model, state, frames, cfg) -> float:
    """The candidate's last epoch's mean distortion plus lmbda x its rate estimate in bits per pixel."""
    mse = float(state.history[-1][2]) if state.history else float("inf")
    quants = [q for q in model.modules() if isinstance(q, learned_quant.LearnedQuant)]
    if not quants or float(cfg.compress.lmbda) <= 0:
        return mse
    pixels = len(frames) * frames.height * frames.width
    return mse + float(cfg.compress.lmbda) * learned_quant.estimate_bits(quants) / pixels
