"""From a fitted decoder to a CompressedModel and back: prune → quantize → entropy-code.

Which bits each tensor gets:
* weights (ndim > 1): ``compress.bits``, one scale per output channel (axis 0);
* HNeRV's stored embeddings: ``compress.embed_bits``, one scale per embedding channel (axis 1);
* 1-D tensors (biases): ``compress.bias_bits``, one scale for the tensor;
* mixed precision: ``compress.layer_bits`` maps a module (a dotted prefix of tensor names, e.g.
  ``body.blocks.1``) to the bits of its weights, overriding ``compress.bits`` there (the longest
  matching prefix wins), or ``auto`` to let ``allocate`` choose them by sensitivity after the fit.
  Each tensor's bits are stored with it, so the decoder needs nothing new.
"""
from __future__ import annotations

import numpy as np
import torch
from torch.nn.utils import parametrize

from ..container.records import CompressedModel, VideoMeta
from ..errors import ContainerError, InputError
from .codec import code_tensor, decode_tensor

EMBEDDINGS = "embeddings"
LATENTS = "latents"  # model=latent's grids: latents.<level>, one tensor (frames, height, width) per level


def _prefix_of(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


AUTO = "auto"


def layer_bits(cfg) -> dict[str, int]:
    """The per-layer mapping; ``auto`` (before ``allocate`` has replaced it) counts as none yet."""
    value = cfg.get("layer_bits")
    return {} if not value or value == AUTO else dict(value)


def tensor_plan(name: str, ndim: int, cfg) -> tuple[int, int]:
    """(bits, axis) for one stored tensor."""
    if name == EMBEDDINGS:
        return int(cfg.embed_bits), 1
    if ndim > 1:
        matches = [p for p in layer_bits(cfg) if _prefix_of(name, p)]
        return (int(layer_bits(cfg)[max(matches, key=len)]) if matches else int(cfg.bits)), 0
    return int(cfg.bias_bits), -1


def stored_tensors(decoder: torch.nn.Module):
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


def check_settings(cfg, names: list[str] | None = None) -> None:
    """Bits and pruning in range; with ``names`` (the stored tensors), every ``layer_bits`` key names some."""
    for key in ("bits", "embed_bits", "bias_bits"):
        b = cfg[key]
        if not isinstance(b, int) or not 2 <= b <= 16:
            raise InputError(f"compress.{key}={b} is out of range; use a whole number from 2 to 16")
    value = cfg.get("layer_bits")
    if isinstance(value, str) and value != AUTO:
        raise InputError(f"compress.layer_bits={value} is not a mapping; give {{module: bits, ...}} or auto")
    for prefix, b in layer_bits(cfg).items():
        if isinstance(b, bool) or not isinstance(b, int) or not 2 <= b <= 16:
            raise InputError(f"compress.layer_bits: {prefix}={b} is out of range; use a whole number from 2 to 16")
        if names is not None and not any(_prefix_of(n, prefix) and n != EMBEDDINGS for n in names):
            layers = sorted({n.rsplit(".", 1)[0] for n in names if "." in n})
            raise InputError(f"compress.layer_bits: {prefix!r} names no weight of this model; "
                             f"its layers are {', '.join(layers)}")
    if not 0.0 <= float(cfg.prune) < 1.0:
        raise InputError(f"compress.prune={cfg.prune} is out of range; use a fraction in [0, 1)")


def magnitude_prune(state: dict[str, np.ndarray], fraction: float) -> dict[str, np.ndarray]:
    """Zero the smallest-magnitude ``fraction`` of all weights (ndim > 1, embeddings excluded), globally."""
    if fraction <= 0:
        return state
    from .prune import global_threshold  # the same global threshold the pruning phase uses
    names = [n for n, a in state.items() if a.ndim > 1 and n != EMBEDDINGS]
    threshold = global_threshold([torch.from_numpy(state[n]) for n in names], fraction)
    if threshold < 0:  # nothing to prune at this fraction
        return state
    out = dict(state)
    for n in names:
        out[n] = np.where(np.abs(state[n]) <= threshold, np.float32(0), state[n]).astype(np.float32)
    return out


def compress_decoder(decoder: torch.nn.Module, model_name: str, arch: dict, video: VideoMeta, cfg,
                     extra: dict | None = None, prune: float = 0.0, step_factor: float = 1.0) -> CompressedModel:
    """Quantize and code every tensor of ``decoder`` (after pruning a ``prune`` fraction of weights by magnitude;
    the pruning phase has normally done that already, with fine-tuning). A decoder trained with learned
    quantization (``learned_quant``) is coded with its steps (times ``step_factor``) and entropy models."""
    from . import learned_quant
    if learned_quant.learned(decoder):  # rate-distortion training: the trained steps and entropy models
        tensors = learned_quant.code(decoder, step_factor=step_factor, best=cfg.get("weight_model") == "best")
        # one tensor block (format 1.8): these files are small enough for a section per tensor to show
        return CompressedModel(video=video, model={"name": model_name, **arch}, tensors=tensors, extra=extra or {},
                               tensor_block=True)
    state = {n: t.detach().to("cpu", torch.float32).contiguous().numpy() for n, t in decoder.state_dict().items()}
    check_settings(cfg, list(state))
    state = magnitude_prune(state, prune)
    tensors = [code_tensor(n, a, *tensor_plan(n, a.ndim, cfg)) for n, a in state.items()]
    return CompressedModel(video=video, model={"name": model_name, **arch}, tensors=tensors, extra=extra or {})


def decoder_state(cm: CompressedModel) -> dict[str, torch.Tensor]:
    """Dequantized tensors of a CompressedModel, by name (float32, CPU)."""
    out = {}
    for ct in cm.tensors:
        a = decode_tensor(ct)
        if a.size != int(np.prod(ct.shape, dtype=np.int64)):
            raise ContainerError(f"tensor '{ct.name}' decodes to {a.size} values, expected shape {ct.shape}")
        out[ct.name] = torch.from_numpy(np.ascontiguousarray(a).reshape(ct.shape))
    return out
