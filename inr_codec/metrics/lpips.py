"""LPIPS (Zhang et al., 2018), version 0.1 with the AlexNet backbone, through the ``lpips`` package.

The package ships its linear calibration layers; the AlexNet backbone weights come from
torchvision, which downloads them into the torch hub cache the first time. inrcodec never
downloads: where the file is missing it stops with a one-line message naming the path to put
it in. Frames are uint8 RGB, scaled to [-1, 1] as LPIPS expects; the value of a frame is the
network's spatial mean; the video's is the mean over frames (lower is better, 0 = identical).
"""
from __future__ import annotations

import contextlib
import io
import warnings
from pathlib import Path

import numpy as np
import torch

from inr_codec.errors import InputError

ALEX_URL = "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth"


def alex_weights_path() -> Path:
    """Where torchvision looks for AlexNet's weights: $TORCH_HOME/hub/checkpoints/ (torch.hub.get_dir())."""
    return Path(torch.hub.get_dir()) / "checkpoints" / ALEX_URL.rsplit("/", 1)[-1]


def load_lpips(device: str | torch.device = "cpu", *, random_backbone: bool = False) -> torch.nn.Module:
    """The LPIPS(alex, v0.1) network in eval mode. ``random_backbone`` (tests only) skips the
    pretrained AlexNet; its values then mean nothing perceptually."""
    try:
        import lpips
    except ImportError:
        raise InputError("LPIPS needs the lpips package: pip install 'inrcodec[metrics]' (or pip install lpips)") from None
    if not random_backbone:
        path = alex_weights_path()
        if not path.is_file():
            raise InputError(f"LPIPS needs the AlexNet weights, not found at {path}; download {ALEX_URL} "
                             f"to that path (or set TORCH_HOME), or leave lpips out of --metrics")
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        net = lpips.LPIPS(net="alex", version="0.1", pnet_rand=random_backbone, verbose=False)
    return net.eval().to(device)


@torch.no_grad()
def frame_lpips(a: np.ndarray, b: np.ndarray, net: torch.nn.Module, batch: int = 4) -> np.ndarray:
    """Per-frame LPIPS of two uint8 RGB videos (T, H, W, 3)."""
    if a.shape != b.shape:
        raise ValueError(f"frame shapes differ: {a.shape} vs {b.shape}")
    if min(a.shape[1:3]) < 32:
        raise InputError(f"LPIPS needs frames of at least 32x32 pixels, got {a.shape[2]}x{a.shape[1]}")
    dev = next(net.parameters()).device
    out = []
    for i in range(0, a.shape[0], batch):
        x = torch.from_numpy(np.ascontiguousarray(a[i:i + batch])).to(dev).permute(0, 3, 1, 2).float() / 127.5 - 1
        y = torch.from_numpy(np.ascontiguousarray(b[i:i + batch])).to(dev).permute(0, 3, 1, 2).float() / 127.5 - 1
        out.append(net(x, y).flatten().double().cpu().numpy())
    return np.concatenate(out)
