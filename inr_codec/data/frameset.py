"""Frames prepared for fitting: cached on the fit device as uint8, padded to the network's size."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


class FrameSet:
    """uint8 frames (T, 3, pad_h, pad_w) on ``device``; batches come out as float in [0, 1].

    The source sits at the top-left; the padding (bottom and right) repeats the edge
    pixels so the network sees no hard border, and the loss ignores it (see ``crop``).
    """

    def __init__(self, frames: np.ndarray, pad_height: int, pad_width: int, device: torch.device | str = "cpu"):
        t, h, w, _ = frames.shape
        if pad_height < h or pad_width < w:
            raise ValueError(f"padded size {pad_width}x{pad_height} is smaller than the video {w}x{h}")
        self.height, self.width = h, w
        self.pad_height, self.pad_width = pad_height, pad_width
        x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2)
        if (pad_height, pad_width) != (h, w):
            # replicate-pad needs float; do it frame-group-wise to bound memory
            x = torch.cat([
                F.pad(x[i:i + 32].float(), (0, pad_width - w, 0, pad_height - h), mode="replicate").to(torch.uint8)
                for i in range(0, t, 32)
            ])
        self.data = x.contiguous().to(device)

    def __len__(self) -> int:
        return self.data.shape[0]

    @property
    def device(self) -> torch.device:
        return self.data.device

    def batch(self, idx: torch.Tensor) -> torch.Tensor:
        """Padded frames idx as float32 in [0, 1], shape (B, 3, pad_h, pad_w)."""
        return self.data[idx].float().div_(255.0)

    def crop(self, x: torch.Tensor) -> torch.Tensor:
        """The source region of a padded batch."""
        return x[..., : self.height, : self.width]
