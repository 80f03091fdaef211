"""Video input/output: PyAV containers, y4m, raw .yuv, PNG folders, BT.709 colour conversion."""

from inr_codec.io.video import (Video, VideoChunks, check_output, iter_video, open_writer, probe_video, read_video,
                                resize_video, write_video)
from inr_codec.io.writer import FrameWriter

__all__ = ["FrameWriter", "Video", "VideoChunks", "check_output", "iter_video", "open_writer", "probe_video",
           "read_video", "resize_video", "write_video"]
