"""Video input/output: PyAV containers, y4m, raw .yuv, PNG folders, BT.709 colour conversion."""

from inr_codec.io.video import (Video, VideoChunks, check_output, iter_video, probe_video, read_video, resize_video,
                                 write_video)

__all__ = ["Video", "VideoChunks", "check_output", "iter_video", "probe_video", "read_video", "resize_video",
           "write_video"]
