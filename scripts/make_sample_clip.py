"""Cut the bundled sample clip (or a longer one) from the shared Big Buck Bunny frames.

    python scripts/make_sample_clip.py ../shared/data/bunny_1280x720_132f_rgb_lossless.mkv
    python scripts/make_sample_clip.py ../shared/data/bunny_1280x720_132f_rgb_lossless.mkv \
        --frames 132 -o clips/bunny_256x144_132f.mkv       # the 132-frame clip of docs/experiments.md

Writes inr_codec/assets/bunny_256x144_48f.mkv (or ``-o``): the first 48 (``--frames``) frames,
downscaled 5x with an antialiased bilinear filter, stored losslessly (x264 RGB, qp 0) so the
file decodes bit-exactly to the frames the codec is measured against; the 132-frame clip's first 48
frames are the sample's.
Big Buck Bunny (c) Blender Foundation, CC-BY 3.0.
"""
import argparse
import sys
from pathlib import Path

import av
import numpy as np
import torch
import torch.nn.functional as F

WIDTH, HEIGHT, FRAMES = 256, 144, 48
OUT = Path(__file__).resolve().parents[1] / "inr_codec" / "assets" / f"bunny_{WIDTH}x{HEIGHT}_{FRAMES}f.mkv"


def main(src: str, count: int = FRAMES, out: Path = OUT) -> None:
    with av.open(src) as box:
        stream = box.streams.video[0]
        rate = stream.average_rate
        frames = [f.to_ndarray(format="rgb24") for _, f in zip(range(count), box.decode(stream))]
    if len(frames) < count:
        sys.exit(f"make_sample_clip: {src} has {len(frames)} frames, fewer than --frames {count}")
    out.parent.mkdir(parents=True, exist_ok=True)
    x = torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).float()
    y = F.interpolate(x, size=(HEIGHT, WIDTH), mode="bilinear", antialias=True, align_corners=False)
    small = y.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()
    with av.open(str(out), "w") as box:
        box.metadata["title"] = "Big Buck Bunny (c) Blender Foundation, CC-BY 3.0"
        stream = box.add_stream("libx264rgb", rate=rate)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "bgr24"
        stream.options = {"qp": "0", "preset": "veryslow"}
        for frame in small:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                box.mux(packet)
        for packet in stream.encode():
            box.mux(packet)
    print(f"wrote {out} ({out.stat().st_size} bytes, {len(small)} frames)")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description="cut a 256x144 Big Buck Bunny clip from the shared lossless frames")
    ap.add_argument("src", nargs="?", default="../shared/data/bunny_1280x720_132f_rgb_lossless.mkv")
    ap.add_argument("--frames", type=int, default=FRAMES, help="how many frames from the start (default 48)")
    ap.add_argument("-o", "--out", type=Path, default=None, help="output file (default: the bundled sample)")
    a = ap.parse_args()
    main(a.src, a.frames, a.out or OUT)
