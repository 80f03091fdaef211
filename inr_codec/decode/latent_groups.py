"""Decoding a latent file in closed groups (``model.gop``, format 1.7): only the groups a frame range touches.

Each group is an independent latent model: its section holds the tensors a whole-video latent file of the
group's frames would hold, and its architecture is ``models.latent.group_arch`` of the file's (the architecture
of a full group of gop frames). ``group_model`` turns a group into that whole-video record, so every latent
decoder (the reference, the fused CPU decoder) decodes a group exactly as it decodes a file, with the same
checks; a range A:B entropy-decodes the groups it touches and nothing else.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Iterator

import numpy as np

from ..container.records import CodedGroup, CompressedModel
from ..errors import ContainerError, InputError
from ..models.latent import group_arch


def is_latent_groups(cm: CompressedModel) -> bool:
    """Whether ``cm`` is a latent file in closed groups."""
    return cm.model.get("name") == "latent" and bool(cm.groups)


def group_model(cm: CompressedModel, g: CodedGroup) -> CompressedModel:
    """Group ``g`` as a whole-video latent record of its own frames (what its decoder reads)."""
    try:
        arch = group_arch(cm.model, g.frames)
    except Exception as e:  # a crafted architecture (t_strides or motion of the wrong type): one line
        raise ContainerError(f"the file's latent architecture is invalid ({type(e).__name__}); "
                             "the model file is corrupted") from None
    return CompressedModel(video=replace(cm.video, frames=g.frames), model={"name": "latent", **arch},
                           tensors=g.tensors, extra={})


def check(cm: CompressedModel) -> None:
    """Every group's tensors against its architecture and the header, before anything is decoded (the reader
    has checked the groups' layout: container.format.check_latent_groups). One-line ContainerError."""
    from .reference import checked_arch
    if cm.model.get("gop") is None:
        raise ContainerError("the file's latent groups have no gop; the model file is corrupted")
    seen = {}
    for g in cm.groups:
        if g.frames in seen:  # groups of one size share an architecture: check the shapes of each
            if [(t.name, t.shape) for t in g.tensors] != seen[g.frames]:
                raise ContainerError(f"group {g.index}'s tensors do not fit the file's latent architecture")
            continue
        try:
            checked_arch(group_model(cm, g))
        except ContainerError as e:
            raise ContainerError(f"group {g.index}: {e}") from None
        seen[g.frames] = [(t.name, t.shape) for t in g.tensors]


def decode_batches(cm: CompressedModel, *, backend: str = "torch", device="cpu", dtype: str = "fp32",
                   batch_size: int = 8, frames: tuple[int, int] | None = None) -> Iterator[np.ndarray]:
    """uint8 (B, H, W, 3) batches of frames ``frames`` in order, group by group with ``backend`` ("torch": the
    reference, "fused": the CPU decoder); a batch never crosses a group, and memory holds one group's model."""
    from . import backend_batches
    from .reference import frame_range
    check(cm)
    rng = frame_range(cm, frames)
    if backend == "fused":  # its refusals (device, dtype) now, not at the first group
        from .latent_cpu import check_supported
        check_supported(group_model(cm, cm.groups[0]), device, dtype)
    return _batches(cm, backend_batches(backend), backend, device, dtype, batch_size, rng)


# Frames the network runs at once: a caller's batch of a whole group (the measurement after a fit asks for gop
# frames, to line up with the source read a group at a time) is joined from uint8 pieces of at most this many, so
# the float activations stay those of a few frames whatever the gop.
NETWORK_BATCH = 8


def _batches(cm, batches_of, backend, device, dtype, batch_size, rng) -> Iterator[np.ndarray]:
    for g in cm.groups:
        lo, hi = max(g.start, rng.start), min(g.start + g.frames, rng.stop)
        if lo >= hi:
            continue
        sub = group_model(cm, g)
        pieces = batches_of(sub, device=device, dtype=dtype, batch_size=min(batch_size, NETWORK_BATCH),
                            frames=(lo - g.start, hi - g.start))
        yield from _joined(pieces, batch_size)


def _joined(pieces, size: int) -> Iterator[np.ndarray]:
    """uint8 batches of ``size`` frames (the last of a group may be shorter) from smaller ones, in order."""
    held, count = [], 0
    for piece in pieces:
        held.append(piece)
        count += len(piece)
        while count >= size:
            whole = np.concatenate(held) if len(held) > 1 else held[0]
            yield whole[:size]
            rest = whole[size:]
            held, count = ([rest] if len(rest) else []), len(rest)
    if held:
        yield np.concatenate(held) if len(held) > 1 else held[0]


def macs_per_pixel(cm: CompressedModel) -> float:
    """The decoder's MACs per delivered pixel over the video: each group's, weighted by its frames."""
    from ..models.macs import macs_per_pixel as per_pixel
    check(cm)
    v = cm.video
    total = sum(per_pixel("latent", group_model(cm, g).model, v.width, v.height) * g.frames for g in cm.groups)
    return total / v.frames


def refuse_backend(backend: str) -> None:
    """The decoders that read latent groups: the reference and the fused CPU decoder."""
    if backend not in ("torch", "fused"):
        raise InputError(f"the {backend} backend does not decode latent files in closed groups (model.gop); "
                         "use --backend fused (the CPU decoder) or torch")
