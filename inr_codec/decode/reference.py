"""The ground-truth decoder in PyTorch: CompressedModel → uint8 RGB frames. CPU or GPU."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import numpy as np
import torch

from ..compress.pipeline import decoder_state
from ..container.records import CompressedModel
from ..errors import ContainerError, InputError
from ..models import get_model_class

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def build_decoder(cm: CompressedModel, device="cpu", dtype: str = "fp32") -> torch.nn.Module:
    """The decoder network with the file's dequantized tensors loaded."""
    cls, arch = checked_arch(cm)
    with _unfit(cls.name):
        decoder = cls.Decoder(arch)
        decoder.load_state_dict(decoder_state(cm), strict=True)
    if dtype not in DTYPES:
        raise InputError(f"unknown dtype '{dtype}'; choose one of: {', '.join(DTYPES)}")
    return decoder.to(device=device, dtype=DTYPES[dtype]).eval()


def checked_arch(cm: CompressedModel) -> tuple[type, dict]:
    """(model class, architecture) of a whole-video file, checked against its header and tensors before
    anything is built."""
    name = cm.model.get("name")
    try:
        if not isinstance(name, str):
            raise InputError(name)
        cls = get_model_class(name)
    except InputError:
        raise ContainerError(f"the file's model '{name}' is not known to this inrcodec; upgrade inrcodec") from None
    arch = {k: v for k, v in cm.model.items() if k != "name"}
    with _unfit(name):
        check_geometry(cm, arch)
        check_shapes(cm, cls, arch)
    return cls, arch


@contextmanager
def _unfit(name: str):
    """Any inconsistency a crafted or damaged header can cause, as a one-line ContainerError."""
    try:
        yield
    except ContainerError:
        raise
    except Exception as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else e.__class__.__name__
        raise ContainerError(f"the file's tensors do not fit its {name} architecture: {first}") from None


def check_geometry(cm: CompressedModel, arch: dict) -> None:
    """The network's output must be the padded frame the header states, and the crop must lie inside it."""
    v = cm.video
    strides = arch.get("strides")
    if not (isinstance(strides, list) and strides and all(isinstance(x, int) and 1 <= x <= 16 for x in strides)):
        raise ContainerError(f"the file's architecture has invalid strides {strides!r}")
    scale = int(np.prod(strides))
    out_h, out_w = arch.get("h0", 0) * scale, arch.get("w0", 0) * scale
    if (out_h, out_w) != (v.pad_height, v.pad_width):
        raise ContainerError(f"the file's network outputs {out_w}x{out_h} but its header says {v.pad_width}x"
                             f"{v.pad_height}")
    if v.crop_left + v.width > v.pad_width or v.crop_top + v.height > v.pad_height:
        raise ContainerError("the file's crop lies outside the network's output")
    if arch.get("frames", v.frames) != v.frames:
        raise ContainerError(f"the file's network holds {arch.get('frames')} frames but its header says {v.frames}")


def check_shapes(cm: CompressedModel, cls, arch: dict) -> None:
    """Refuse, before allocating anything, a file whose tensors do not match its architecture
    or whose network would not fit in memory (a crafted file must not exhaust the machine)."""
    from ..resources import available_memory
    with torch.device("meta"):  # shapes only: no memory, no initialisation
        expected = {n: tuple(t.shape) for n, t in cls.Decoder(arch).state_dict().items()}
    stored = {t.name: tuple(t.shape) for t in cm.tensors}
    if stored != expected:
        odd = sorted(set(stored.items()) ^ set(expected.items()))[:1]
        raise ContainerError(f"the file's tensors do not fit its {cm.model.get('name')} architecture "
                             f"(first difference: {odd[0][0]} {odd[0][1]})")
    need = 8 * sum(int(np.prod(shape, dtype=np.int64)) for shape in stored.values())  # symbols + floats
    free = available_memory()
    if free is not None and need > free:
        raise ContainerError(f"the file's network needs {need / 2**30:.1f} GiB to load but only "
                             f"{free / 2**30:.1f} GiB is free")


def to_uint8(frames: torch.Tensor, cm: CompressedModel) -> np.ndarray:
    """(B, 3, pad_h, pad_w) in [0, 1] → cropped uint8 (B, H, W, 3)."""
    v = cm.video
    x = frames[:, :, v.crop_top:v.crop_top + v.height, v.crop_left:v.crop_left + v.width]
    x = (x.float() * 255.0).round_().clamp_(0, 255).to(torch.uint8)
    return x.permute(0, 2, 3, 1).contiguous().cpu().numpy()


def frame_range(cm: CompressedModel, frames: tuple[int, int] | None) -> range:
    n = cm.video.frames
    if frames is None:
        return range(n)
    a, b = frames
    if not (0 <= a < b <= n):
        raise InputError(f"frames {a}:{b} are outside the video's 0:{n}")
    return range(a, b)


@torch.no_grad()
def decode_batches(cm: CompressedModel, *, device="cpu", dtype: str = "fp32", batch_size: int = 8,
                   frames: tuple[int, int] | None = None, decoder: torch.nn.Module | None = None
                   ) -> Iterator[np.ndarray]:
    """Yield uint8 frame batches (B, H, W, 3) in order; memory is bounded by one batch."""
    if cm.groups and cm.model.get("name") == "latent":  # closed groups: one latent model per group
        from .latent_groups import decode_batches as latent_group_batches
        yield from latent_group_batches(cm, backend="torch", device=device, dtype=dtype, batch_size=batch_size,
                                        frames=frames)
        return
    if cm.groups:  # a group-wise model (NIRVANA): one network per group, decoded on demand
        from .groups import decode_batches as group_batches
        yield from group_batches(cm, device=device, dtype=dtype, batch_size=batch_size, frames=frames)
        return
    decoder = decoder or build_decoder(cm, device, dtype)
    rng = frame_range(cm, frames)
    for start in range(rng.start, rng.stop, batch_size):
        idx = torch.arange(start, min(start + batch_size, rng.stop), device=device)
        yield to_uint8(decoder(idx), cm)


def decode_frames(cm: CompressedModel, **kw) -> np.ndarray:
    """All requested frames as one uint8 (T, H, W, 3) array."""
    return np.concatenate(list(decode_batches(cm, **kw)), axis=0)
