"""Triton decode kernels, installed as ``inr_codec.kernels``; one file per fused op, each with its launcher.

Importing this package decorates the kernels, which is when Triton reads TRITON_INTERPRET: set it
before the first import to run them in Triton's interpreter on the CPU.
"""
from ._common import INTERPRETED, SUPPORTED_DTYPES
from .conv_head_uint8 import conv_head_uint8
from .conv_head_uint8 import pack_weight as pack_head_weight
from .conv_shuffle_gelu import conv_shuffle_gelu
from .conv_shuffle_gelu import pack_weight as pack_upblock_weight
from .latent_decode import LatentPack, latent_decode
from .latent_decode import scratch_size as latent_decode_scratch

__all__ = ["INTERPRETED", "SUPPORTED_DTYPES", "LatentPack", "conv_head_uint8", "conv_shuffle_gelu", "latent_decode",
           "latent_decode_scratch", "pack_head_weight", "pack_upblock_weight"]
