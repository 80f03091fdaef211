"""Quantization that training sees, with learned steps and a learned entropy model per tensor.

Every stored tensor ``w`` gets a ``LearnedQuant`` parametrization: a quantization step per
channel (``exp(log_step)``, along the axis ``pipeline.tensor_plan`` gives it; initialised at the
``compress.bits`` grid) and the parameters of its entropy model (``entropy_models``: a Laplace per
tensor for weights and biases, a previous-frame context model for HNeRV's embeddings). With
``y = w / step``, the decoder sees

* ``mode = "noise"``: ``(y + u) * step``, ``u`` uniform in [-1/2, 1/2) (the smooth proxy: every
  gradient is exact, and the rate of ``y + u`` under the model is the expected code length);
* ``mode = "ste"``: ``round(y) * step`` with the straight-through gradient: the file's values
  exactly (``round`` is half-to-even, as ``np.rint``; one float32 multiply, as ``dequantize``).

With ``compress.soft_round`` (latent grids only) the noise mode soft-rounds first, as C3 does: the rate
of ``s(y) + u`` and the decoder sees ``s(s(y) + u)``, ``s`` the soft rounding of Agustsson & Theis
(``soft_round``) at a temperature the fit anneals (``RateTerm.at``), so training meets values nearer the
file's integers than plain noise gives.

``rate_bits`` is the models' differentiable estimate of the payload in bits for the values of the
last forward pass; ``fitting`` adds ``compress.lmbda`` x that / pixels (bpp) to the distortion.
``code`` turns the trained tensors into the file's records (symbols, steps as the scales,
integer model parameters), decoding each one back before it is returned.
"""
from __future__ import annotations

import logging
import math

import numpy as np
import torch
import torch.nn as nn
from torch.nn.utils import parametrize

from ..container.format import uvar_bytes
from ..container.records import CodedTensor
from ..models.latent import time_weights
from .entropy_models import (MODELS, Factorized, LatentContext, LatentNeighbours, LatentNeighboursMC, PreviousFrame, laplace,
                             latent_context, rate_native, zero_laplace)
from .pipeline import EMBEDDINGS, LATENTS, stored_tensors, tensor_plan
from .quantize import channel_axis, channel_scales
from .target import target_bytes

MAX_SYMBOL = 32767
log = logging.getLogger("inr_codec.compress")


class LearnedQuant(nn.Module):
    def __init__(self, w: torch.Tensor, axis: int, model, init_bits: int, stream: int):
        super().__init__()
        self.axis, self.model, self.stream, self.mode = axis, model, stream, "noise"
        self.t_stride = int(getattr(w, "t_stride", 1))  # a latent level with one slice every t_stride frames
        if is_grid(model):  # latent grids start at zero: a unit step (the synthesis scales them)
            step = torch.ones(())
        else:
            step = channel_scales(w.detach().float(), init_bits, axis).clamp_min(1e-8)
        self.log_step = nn.Parameter(step.log())
        with torch.no_grad():
            b0, aux = _initial(model, w.detach().float() / step)
        self.log_b = nn.Parameter(b0.log())
        # The model's other trained parameters (None where it has none): a zero-inflated model's probability
        # of symbol 0 as a logit, a context model's prediction coefficients.
        self.aux = nn.Parameter(aux) if aux is not None else None
        self.register_buffer("draws", torch.zeros((), dtype=torch.int64))
        self.last_y: torch.Tensor | None = None
        self.alpha: float | None = None  # soft rounding's sharpness (1 / temperature); None: plain noise

    def step(self) -> torch.Tensor:
        return self.log_step.exp()

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        step = self.step()
        y = w / step
        if self.mode == "noise" and self.training:
            g = torch.Generator(device=w.device).manual_seed(self.stream * 1_000_003 + int(self.draws))
            self.draws += 1
            u = torch.rand(w.shape, generator=g, device=w.device, dtype=w.dtype) - 0.5
            if self.alpha is not None:
                self.last_y = soft_round(y, self.alpha) + u
                return soft_round(self.last_y, self.alpha) * step
            y = y + u
        else:
            y = y + (torch.round(y).clamp(-MAX_SYMBOL, MAX_SYMBOL) - y).detach()
        self.last_y = y
        return y * step

    def rate_bits(self, frames: torch.Tensor | None = None) -> torch.Tensor:
        """The estimate for the last forward pass; with ``frames`` (a batch's frame indices) a model whose
        tensor runs over frames (``frame_sampled``) counts only theirs, scaled to the whole tensor: an
        unbiased estimate at a fraction of the cost, its gradient where the batch's distortion is (nearly
        unbiased for a level with a temporal stride: its end slices are drawn by fewer frames)."""
        if frames is not None and getattr(self.model, "frame_sampled", False):
            if self.t_stride > 1:  # the slices these frames blend
                i0, i1, w = time_weights(frames, self.t_stride, self.last_y.shape[0])
                frames = torch.cat([i0, i1[w > 0]])
            return self.model.rate_bits(self.last_y, self.log_b, self.aux, frames)
        return self.model.rate_bits(self.last_y, self.log_b, self.aux)


def soft_round(y: torch.Tensor, alpha: float) -> torch.Tensor:
    """Agustsson & Theis's soft rounding: the identity as ``alpha`` -> 0, rounding as it grows; smooth,
    and exact at every half-integer."""
    m = torch.floor(y) + 0.5
    return m + 0.5 * torch.tanh(alpha * (y - m)) / math.tanh(alpha / 2)


# The latent grids' context models (compress.latent_model: ctx, nb).
GRID_MODELS = {"ctx": LatentContext.coder, "nb": LatentNeighbours.coder}


def is_grid(model) -> bool:
    return isinstance(model, (LatentContext, LatentNeighbours))


def _initial(model, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The entropy model's starting scale and other parameters (``LearnedQuant.aux``) for the values over
    their steps."""
    if isinstance(model, LatentNeighbours):
        return model.initial(y)
    if isinstance(model, LatentContext):  # predict each latent by the previous frame's at first
        b0 = y.abs().mean().clamp_min(0.05).expand(latent_context.STREAMS).clone()
        return b0, torch.tensor([1.0, 0.0, 1.0, 0.0, 0.0])
    if isinstance(model, PreviousFrame):
        d = torch.diff(y, dim=0, prepend=torch.zeros_like(y[:1]))
        return d.abs().mean(dim=tuple(i for i in range(y.ndim) if i != 1)).clamp_min(0.05), None
    if model.zero_inflated:
        b0, p0 = zero_laplace.initial(y)
        return b0, torch.logit(p0)
    return y.abs().mean().clamp_min(0.05), None


def model_kind(name: str, shape, weights: str = Factorized.coder, grids: str = "ctx") -> object:
    """Which entropy model a stored tensor gets: HNeRV's embeddings the previous-frame context model,
    latent grids (``latents.<level>``) the latent context model, weights and biases ``weights``
    (``compress.weight_model``: laplace or laplace0)."""
    if name.startswith(LATENTS + ".") and len(shape) == 3:
        return MODELS[GRID_MODELS[grids]]
    if name == EMBEDDINGS and len(shape) == 4 and shape[0] > 1:
        return MODELS[PreviousFrame.coder]
    return MODELS[weights]


def attach(decoder: nn.Module, cfg, skip: tuple[str, ...] = ()) -> list[LearnedQuant]:
    """Every stored tensor's LearnedQuant, in the file's order: the ones already attached (a rate term
    during the fit, ``compress.rd_fit``) are kept, the others are created, except the names in ``skip``
    (HNeRV's embeddings while its encoder still makes them). A tensor's noise stream is its position."""
    quants = []
    for stream, (full, mod, name) in enumerate(stored_tensors(decoder)):
        if full in skip:
            continue
        found = _quant_of(mod, name)
        if found is None:
            p = getattr(mod, name)
            bits, axis = tensor_plan(full, p.ndim, cfg)
            if full != EMBEDDINGS and cfg.get("steps", "channel") == "tensor" or full.startswith(LATENTS + "."):
                axis = -1  # one step for the tensor: 4 bytes instead of 4 per output channel
            trained = cfg.get("weight_model", Factorized.coder)
            kind = model_kind(full, p.shape, Factorized.coder if trained == "best" else trained,
                              cfg.get("latent_model", "ctx"))
            found = LearnedQuant(p, channel_axis(p.ndim, axis), kind, bits, stream=stream)
            parametrize.register_parametrization(mod, name, found)
        quants.append(found)
    return quants


def _quant_of(mod: nn.Module, name: str) -> LearnedQuant | None:
    if not parametrize.is_parametrized(mod, name):
        return None
    return next((p for p in mod.parametrizations[name] if isinstance(p, LearnedQuant)), None)


def set_mode(quants: list[LearnedQuant], mode: str) -> None:
    for q in quants:
        q.mode = mode


def rate_bits(quants: list[LearnedQuant], frames: torch.Tensor | None = None) -> torch.Tensor:
    live = [q for q in quants if q.last_y is not None]
    # The tensors under one Laplace each (the weights and biases) in one pass: a dozen small tensors cost
    # a few hundred tiny operations a step, forward and backward, where the values are a few thousand.
    plain = [q for q in live if type(q.model) is Factorized]
    total = sum((q.rate_bits(frames) for q in live if type(q.model) is not Factorized), torch.zeros(()))
    if plain:
        y = torch.cat([q.last_y.reshape(-1) for q in plain])
        b = torch.cat([q.log_b.exp().expand(q.last_y.shape).reshape(-1) for q in plain])
        fast = rate_native.laplace_rate_sum(y, b) if y.requires_grad and torch.is_grad_enabled() else None
        total = total + (fast if fast is not None else laplace.rate_bits(y, b).sum())
    return total


# A rate target's term (compress.target_kb/target_bpp): its slope is lmbda at the target and grows
# e-fold for every 1/TARGET_SHARPNESS the estimate is above it (shrinks below), so training settles
# where the distortion's slope meets it, within a few percent of the target for any lmbda of the right
# order; the steps' last factor (target.steps_to_target) lands the real file. Stateless: a resumed
# fit computes the same term.
TARGET_SHARPNESS = 20.0
# 10% above the target the exponential turns linear: a slope of at most e^2 (7.4x lmbda). With 50% (a slope
# of 22,000x) the sample's fit at compress.target_kb=20 collapsed to 12.5 dB: its first steps, far above
# the target, drove every weight to zero.
TARGET_LINEAR_ABOVE = 0.1


def target_penalty(bits: torch.Tensor, target_bits: float) -> torch.Tensor:
    k, x = TARGET_SHARPNESS, bits / target_bits - 1.0
    xc = x.clamp(max=TARGET_LINEAR_ABOVE)
    return target_bits / k * (torch.exp(k * xc) + k * math.exp(k * TARGET_LINEAR_ABOVE) * (x - xc))


def symbol_budget_bits(quants: list[LearnedQuant], target_bytes: int) -> float:
    """The bits the symbols may take in a file of ``target_bytes``: less its steps (float32 each), the
    models' parameters and the records' headers (about 32 bytes a tensor)."""
    side = sum(4 * q.log_step.numel() + 32 for q in quants) + 256
    return 8.0 * max(target_bytes - side, 0.1 * target_bytes)


class RateTerm:
    """The loss term: ``lmbda`` x the models' bpp estimate, or with a rate target ``lmbda`` x the target's
    penalty (bits per pixel as well). Called with the batch's frame indices (see ``LearnedQuant.rate_bits``).
    ``at(p)``, before each step at the schedule's progress p, sets soft rounding's temperature on the
    latent grids by ``schedule``: ``anneal`` from ``soft_round[0]`` to ``soft_round[1]`` over the fit,
    ``start`` held at the first (warm-up candidates), ``end`` held at the last (the phases after the fit)."""

    def __init__(self, quants: list[LearnedQuant], lmbda: float, pixels: int, target_bytes: int | None = None,
                 soft_round: tuple[float, float] | None = None, schedule: str = "anneal"):
        self.quants, self.lmbda, self.pixels, self.schedule = quants, lmbda, pixels, schedule
        self.budget = symbol_budget_bits(quants, target_bytes) if target_bytes is not None else None
        self.soft_round = tuple(float(t) for t in soft_round) if soft_round else None

    def __call__(self, idx: torch.Tensor | None = None) -> torch.Tensor:
        bits = rate_bits(self.quants, idx)
        if self.budget is not None:
            bits = target_penalty(bits, self.budget)
        return self.lmbda * bits / self.pixels

    def at(self, p: float) -> None:
        if self.soft_round is None:
            return
        t0, t1 = self.soft_round
        t = {"anneal": t0 + (t1 - t0) * min(max(p, 0.0), 1.0), "start": t0, "end": t1}[self.schedule]
        for q in self.quants:
            if is_grid(q.model):
                q.alpha = 1.0 / t


def fit_loss(quants: list[LearnedQuant], ccfg, frames, schedule: str = "anneal") -> RateTerm | None:
    """The ``RateTerm`` of a fit (``schedule`` anneal) or a phase after it (end) on ``frames``:
    ``compress.lmbda``, the clip's pixels, the rate target of ``ccfg`` (compress.target_kb/target_bpp)
    where one is set and ``compress.soft_round``; None when lmbda is 0."""
    if float(ccfg.lmbda) <= 0:
        return None
    return RateTerm(quants, float(ccfg.lmbda), len(frames) * frames.height * frames.width,
                    target_bytes(ccfg, frames.width, frames.height, len(frames)), ccfg.get("soft_round"), schedule)


def learned(decoder: nn.Module) -> bool:
    return any(_quant_of(mod, name) is not None for _, mod, name in stored_tensors(decoder))


def symbols_and_steps(lq: LearnedQuant, w: torch.Tensor, step_factor: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """The file's int32 symbols and float32 steps of the (unquantized) tensor ``w``; ``step_factor``
    widens every step (a rate target's last correction)."""
    step = (lq.step().detach() * step_factor).to("cpu", torch.float32)
    w = w.detach().to("cpu", torch.float32)
    q = torch.round(w / step).clamp(-MAX_SYMBOL, MAX_SYMBOL).to(torch.int32)
    return q.numpy(), step.reshape(-1).numpy().astype(np.float32)


# compress.weight_model=best: train under the Laplace, then code each weight and bias tensor with whichever
# of these gives it the smaller record. (Training under the zero-inflated model itself measured worse on
# the sample: its noise proxy underrates the rounded rate; docs/experiments.md.)
BEST_OF = ("laplace", "laplace0")
GRID_FALLBACK = Factorized.coder  # a latent grid's record when its context model's parameters cost more than they save


def code(decoder: nn.Module, step_factor: float = 1.0, best: bool = False) -> list[CodedTensor]:
    """The file's records of every stored tensor, its steps times ``step_factor``; with ``best`` a
    laplace tensor is coded with the smallest of ``BEST_OF`` on its symbols; a grid with the smallest
    of its own model, laplace_nbm, laplace_ctx (for laplace_nb) and ``GRID_FALLBACK``."""
    from .codec import code_symbols
    tensors = []
    for full, mod, name in stored_tensors(decoder):
        lq = _quant_of(mod, name)
        q, steps = symbols_and_steps(lq, mod.parametrizations[name].original, step_factor)
        if is_grid(lq.model):
            # A context model's 16 or 32 streams' parameters (and laplace_nb's 46 coefficients) can outweigh a
            # small or all-zero level's payload: one Laplace is then the smaller record.
            # Ties keep the context model.
            ctx_hint = _aux(lq) if isinstance(lq.model, LatentContext) else None
            coded = [code_symbols(full, q, steps, lq.axis, MODELS[LatentContext.coder], ctx_hint),
                     code_symbols(full, q, steps, lq.axis, MODELS[GRID_FALLBACK])]
            if isinstance(lq.model, LatentNeighbours):
                hint = lq.model.hint(lq.log_b, lq.aux)
                # and with the context moved with the picture where a slice's content moved (laplace_nbm)
                for i, model in enumerate((lq.model, MODELS[LatentNeighboursMC.coder])):
                    try:
                        coded.insert(i, code_symbols(full, q, steps, lq.axis, model, hint))
                    except ValueError as e:  # residuals beyond its range; no slice moved (laplace_nbm)
                        log.info("%s: not written with %s (%s)", full, model.coder, e)
        else:
            kinds = BEST_OF if best and lq.model.coder in BEST_OF else (lq.model.coder,)
            coded = [code_symbols(full, q, steps, lq.axis, MODELS[k], _aux(lq)) for k in kinds]
        tensors.append(min(coded, key=_record_bytes))
    return tensors


def _aux(lq: LearnedQuant) -> np.ndarray | None:
    """The model's trained parameters other than its scale, as its ``fit`` takes them (None where it has none)."""
    return lq.aux.detach().cpu().numpy() if lq.aux is not None else None


def _record_bytes(ct: CodedTensor) -> int:
    """A record's payload and model parameters (uvars, as the container writes them): what differs between coders."""
    return len(ct.payload) + sum(len(uvar_bytes(int(p))) for p in ct.params)


def rounded_bits(decoder: nn.Module) -> float:
    """The models' estimate of the bits of every learned tensor's values rounded on its steps, from the
    parameters themselves (no forward pass, no noise)."""
    total = 0.0
    with torch.no_grad():
        for _, mod, name in stored_tensors(decoder):
            lq = _quant_of(mod, name)
            if lq is not None:
                y = torch.round(mod.parametrizations[name].original / lq.step())
                total += float(lq.model.rate_bits(y, lq.log_b, lq.aux))
    return total


def estimate_bits(quants: list[LearnedQuant]) -> float:
    """The training estimate for rounded values, without touching the noise state (for logging)."""
    with torch.no_grad():
        total = 0.0
        for q in quants:
            if q.last_y is not None:
                total += float(q.model.rate_bits(torch.round(q.last_y), q.log_b, q.aux))
        return total
