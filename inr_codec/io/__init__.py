"""Video input/output: PyAV containers, y4m, raw .yuv, PNG folders, BT.709 colour conversion."""

from inr_codec.io.video import (Video, VideoChunks, centre_crop, check_output, iter_video, open_writer, parse_crop,
                                probe_video, read_video, resize_video, write_video)
from inr_codec.io.writer import FrameWriter

__all__ = ["FrameWriter", "Video", "VideoChunks", "centre_crop", "check_output", "iter_video", "open_writer",
           "parse_crop", "probe_video", "read_video", "resize_video", "write_video"]
