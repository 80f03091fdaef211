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

``rate_bits`` is the models' differentiable estimate of the payload in bits for the values of the
last forward pass; ``fitting`` adds ``compress.lmbda`` x that / pixels (bpp) to the distortion.
``code`` turns the trained tensors into the file's records (symbols, steps as the scales,
integer model parameters), decoding each one back before it is returned.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn
from torch.nn.utils import parametrize

from ..container.records import CodedTensor
from .entropy_models import MODELS, Factorized, PreviousFrame
from .pipeline import EMBEDDINGS, tensor_plan
from .quantize import channel_axis, channel_scales

MAX_SYMBOL = 32767


class LearnedQuant(nn.Module):
    def __init__(self, w: torch.Tensor, axis: int, model, init_bits: int, stream: int):
        super().__init__()
        self.axis, self.model, self.stream, self.mode = axis, model, stream, "noise"
        step = channel_scales(w.detach().float(), init_bits, axis).clamp_min(1e-8)
        self.log_step = nn.Parameter(step.log())
        with torch.no_grad():
            b0 = _initial_b(model, w.detach().float() / step)
        self.log_b = nn.Parameter(b0.log())
        self.register_buffer("draws", torch.zeros((), dtype=torch.int64))
        self.last_y: torch.Tensor | None = None

    def step(self) -> torch.Tensor:
        return self.log_step.exp()

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        step = self.step()
        y = w / step
        if self.mode == "noise" and self.training:
            g = torch.Generator(device=w.device).manual_seed(self.stream * 1_000_003 + int(self.draws))
            self.draws += 1
            y = y + (torch.rand(w.shape, generator=g, device=w.device, dtype=w.dtype) - 0.5)
        else:
            y = y + (torch.round(y).clamp(-MAX_SYMBOL, MAX_SYMBOL) - y).detach()
        self.last_y = y
        return y * step

    def rate_bits(self) -> torch.Tensor:
        return self.model.rate_bits(self.last_y, self.log_b)


def _initial_b(model, y: torch.Tensor) -> torch.Tensor:
    if isinstance(model, PreviousFrame):
        d = torch.diff(y, dim=0, prepend=torch.zeros_like(y[:1]))
        return d.abs().mean(dim=tuple(i for i in range(y.ndim) if i != 1)).clamp_min(0.05)
    return y.abs().mean().clamp_min(0.05)


def model_kind(name: str, shape) -> object:
    """Which entropy model a stored tensor gets."""
    if name == EMBEDDINGS and len(shape) == 4 and shape[0] > 1:
        return MODELS[PreviousFrame.coder]
    return MODELS[Factorized.coder]


def stored_tensors(decoder: nn.Module):
    """(stored name, module, attribute) of every parameter the file holds, parametrized or not."""
    out = []
    for mod_name, mod in list(decoder.named_modules()):
        if "parametrizations" in mod_name:
            continue
        names = [n for n, _ in mod.named_parameters(recurse=False)]
        if parametrize.is_parametrized(mod):
            names += list(mod.parametrizations.keys())
        for name in names:
            out.append((f"{mod_name}.{name}" if mod_name else name, mod, name))
    return out


def attach(decoder: nn.Module, cfg) -> list[LearnedQuant]:
    quants = []
    for full, mod, name in stored_tensors(decoder):
        p = getattr(mod, name)
        bits, axis = tensor_plan(full, p.ndim, cfg)
        lq = LearnedQuant(p, channel_axis(p.ndim, axis), model_kind(full, p.shape), bits, stream=len(quants))
        parametrize.register_parametrization(mod, name, lq)
        quants.append(lq)
    return quants


def set_mode(quants: list[LearnedQuant], mode: str) -> None:
    for q in quants:
        q.mode = mode


def rate_bits(quants: list[LearnedQuant]) -> torch.Tensor:
    return sum((q.rate_bits() for q in quants if q.last_y is not None), torch.zeros(()))


def learned(decoder: nn.Module) -> bool:
    return any(isinstance(p, LearnedQuant) for _, mod, name in stored_tensors(decoder)
               if parametrize.is_parametrized(mod, name) for p in mod.parametrizations[name])


def symbols_and_steps(lq: LearnedQuant, w: torch.Tensor, step_factor: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """The file's int32 symbols and float32 steps of the (unquantized) tensor ``w``; ``step_factor``
    widens every step (a rate target's last correction)."""
    step = (lq.step().detach() * step_factor).to("cpu", torch.float32)
    w = w.detach().to("cpu", torch.float32)
    q = torch.round(w / step).clamp(-MAX_SYMBOL, MAX_SYMBOL).to(torch.int32)
    return q.numpy(), step.reshape(-1).numpy().astype(np.float32)


def code(decoder: nn.Module, step_factor: float = 1.0) -> list[CodedTensor]:
    """The file's records of every stored tensor, its steps times ``step_factor``."""
    from .codec import code_symbols
    tensors = []
    for full, mod, name in stored_tensors(decoder):
        lq = next(p for p in mod.parametrizations[name] if isinstance(p, LearnedQuant))
        q, steps = symbols_and_steps(lq, mod.parametrizations[name].original, step_factor)
        tensors.append(code_symbols(full, q, steps, lq.axis, lq.model))
    return tensors


def estimate_bits(quants: list[LearnedQuant]) -> float:
    """The training estimate for rounded values, without touching the noise state (for logging)."""
    with torch.no_grad():
        total = 0.0
        for q in quants:
            if q.last_y is not None:
                total += float(q.model.rate_bits(torch.round(q.last_y), q.log_b))
        return total
