"""Warm-up candidates (``train.candidates``, ``train.candidate_epochs``): a short budget's insurance
against a poor start. ``candidates`` models, each from its own seed (seed, seed + 1, ...: candidate 0 is
the model a fit without candidates starts from), train ``candidate_epochs`` epochs on the fit's loss;
the one with the lowest loss (its last epoch's distortion plus lmbda x the rate of its rounded values,
computed from its parameters) is the model the fit continues, with the fit's whole schedule. A candidate
that diverges scores infinity. Each candidate is a phase of its own (``candidate<k>``, checkpointed like
the fit), so an interrupted warm-up resumes where it stopped; the choice is written to
``checkpoints/candidates.json`` and the others' checkpoints are removed, so a resume after it rebuilds
only the kept one.
"""
from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Callable

import torch
from omegaconf import OmegaConf

from ..compress import learned_quant
from ..errors import InputError
from ..runs import write_json
from . import distributed
from .trainer import Trainer

log = logging.getLogger("inr_codec.train")


def count(cfg) -> int:
    """Candidates that will run (1: none, the fit starts from the seed's model)."""
    return max(1, int(cfg.train.get("candidates", 1)))


def warm_up(build: Callable[[], tuple], frames, cfg, *, seed: int, run_dir: Path | None, fingerprint: dict,
            show_progress: bool, resume: bool, budget_s: float | None) -> tuple:
    """The kept candidate's ``build()`` result (model, extra_loss) after its warm-up epochs; ``build``
    makes a model (and its rate term) from the current torch seed."""
    n = count(cfg)
    choice = run_dir / "checkpoints" / "candidates.json" if run_dir is not None else None

    def run(k: int) -> tuple:
        torch.manual_seed(seed + k)
        model, extra = build()
        if extra is not None and hasattr(extra, "schedule"):  # soft rounding held at its start temperature:
            extra.schedule = "start"                           # the fit anneals it from there
        tcfg = OmegaConf.merge(cfg.train, {"epochs": int(cfg.train.candidate_epochs),
                                           "budget_s": budget_s / n if budget_s else None})
        trainer = Trainer(model, frames, tcfg, seed=seed + k, run_dir=run_dir,
                          fingerprint=dict(fingerprint, candidate=k), show_progress=show_progress,
                          phase=f"candidate{k}", extra_loss=extra)
        if resume and trainer.checkpoint_path is not None and trainer.checkpoint_path.is_file():
            trainer.resume(trainer.checkpoint_path)
        state = trainer.fit()
        if extra is not None and hasattr(extra, "schedule"):
            extra.schedule = "anneal"
        return state, (model, extra)

    kept = _kept(choice, n) if resume else None
    if kept is not None:  # chosen before the interruption: its finished checkpoint is all that is needed
        log.info("warm-up: candidate %d of %d kept before (seed %d)", kept + 1, n, seed + kept)
        return run(kept)[1]
    losses, results, last_error = [], [], None
    for k in range(n):
        try:
            state, result = run(k)
            loss = objective(result[0], state, frames, cfg)
        except InputError as e:
            if "diverged" not in str(e):
                raise
            state, result, loss, last_error = None, None, math.inf, e
        losses.append(loss)
        results.append(result)
        log.info("candidate %d of %d: loss %.4e", k + 1, n, loss)
    if all(math.isinf(x) for x in losses) and last_error is not None:
        raise last_error
    kept = int(distributed.broadcast_object(min(range(n), key=lambda k: losses[k])))
    log.info("warm-up: candidate %d of %d kept (seed %d)", kept + 1, n, seed + kept)
    if choice is not None:
        write_json(choice, {"kept": kept, "losses": [None if math.isinf(x) else x for x in losses]})
        for k in range(n):
            if k != kept:
                (run_dir / "checkpoints" / f"candidate{k}.pt").unlink(missing_ok=True)
    return results[kept]


def _kept(choice: Path | None, n: int) -> int | None:
    try:
        kept = json.loads(choice.read_text())["kept"]
    except (AttributeError, OSError, ValueError, KeyError, TypeError):
        return None
    return kept if isinstance(kept, int) and 0 <= kept < n else None


def objective(model, state, frames, cfg) -> float:
    """The candidate's last epoch's mean distortion plus lmbda x the rate of its rounded values in bits per
    pixel (from its parameters, so a candidate resumed finished scores as it did)."""
    mse = float(state.history[-1][2]) if state.history else math.inf
    if float(cfg.compress.lmbda) <= 0 or not learned_quant.learned(model.decoder):
        return mse
    pixels = len(frames) * frames.height * frames.width
    return mse + float(cfg.compress.lmbda) * learned_quant.rounded_bits(model.decoder) / pixels
