"""Typed records that a model.bin file holds; the container moves these to and from bytes.

These are plain data (numpy arrays, ints, strings): no torch, no model code.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np


@dataclass(frozen=True)
class VideoMeta:
    """What the decoder needs to restore the source video exactly."""

    width: int            # source width in pixels (what decode writes)
    height: int           # source height in pixels
    frames: int           # number of frames
    fps: Fraction         # exact frame rate, e.g. Fraction(30000, 1001)
    pad_width: int        # width the network produces (>= width); output is cropped to width
    pad_height: int       # height the network produces (>= height)
    crop_left: int = 0    # where the source sits inside the padded frame
    crop_top: int = 0
    colour: str = "rgb"   # colour the network predicts: "rgb" (BT.709 RGB, full range)
    source_pix_fmt: str = "rgb24"  # pixel format of the source, kept so decode can match it


@dataclass
class CodedTensor:
    """One quantized tensor, its symbols entropy-coded.

    Dequantized value of element i: (symbol_i) * scales[channel(i)] in float32,
    where channel(i) is the index along ``axis`` (axis == -1: one scale for the whole tensor).
    """

    name: str                  # e.g. "decoder.blocks.0.conv.weight" or "embeddings"
    shape: tuple[int, ...]
    bits: int                  # 1..16; symbols lie in [-(2**(bits-1) - 1), 2**(bits-1) - 1]
    axis: int                  # channel axis of the per-channel scales, or -1
    scales: np.ndarray         # float32, one per channel (or one)
    coder: str                 # "range" (stored table), "raw" (fixed-width), "laplace" / "laplace_prev" (learned
                               # entropy models, compress/entropy_models: their integer parameters in ``params``)
    min_symbol: int            # smallest symbol the frequency table covers
    frequencies: np.ndarray    # uint32 integer frequency table, len = max_symbol - min_symbol + 1
    payload: bytes             # the coded symbols
    params: list = field(default_factory=list)  # learned entropy models (coders laplace*): S, K per model


@dataclass
class CodedGroup:
    """One group of frames of a group-wise model (NIRVANA): its own small network.

    A key group stores its weights; any other group stores the residual from the previous
    group's decoded weights, so decoding group k starts at the nearest key group at or before k.
    """

    index: int                 # position in the file, 0, 1, 2, ...
    start: int                 # first frame the group decodes
    frames: int                # number of frames (>= 1); groups tile the video in order
    key: bool                  # True: tensors are weights; False: residuals on group index - 1
    tensors: list[CodedTensor] = field(default_factory=list)


@dataclass
class CompressedModel:
    """Everything the decoder needs; ``container.write`` turns it into model.bin."""

    video: VideoMeta
    model: dict                # {"name": "hnerv", ...architecture config}: str/int/float/bool/lists only
    tensors: list[CodedTensor] = field(default_factory=list)
    extra: dict = field(default_factory=dict)  # small JSON-able notes (fit settings, versions)
    groups: list[CodedGroup] = field(default_factory=list)  # group-wise models only (format 1.1)
    # Write the tensors as one block, names front-coded (format 1.8, container/tensor_block.py) instead of a
    # section each; the reader sets it for a file that has one. Files from rate-distortion training use it.
    tensor_block: bool = False
