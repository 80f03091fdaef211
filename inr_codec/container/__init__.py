"""model.bin: the container that holds everything a decoder needs (spec: docs/format.md)."""
from .reader import from_bytes, read, section_sizes
from .records import CodedGroup, CodedTensor, CompressedModel, VideoMeta
from .writer import to_bytes, write

__all__ = ["write", "read", "to_bytes", "from_bytes", "section_sizes",
           "VideoMeta", "CodedTensor", "CodedGroup", "CompressedModel"]
