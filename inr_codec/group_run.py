"""What a group-by-group fit does around its groups, shared by NIRVANA (``fitting._fit_groups``) and the latent
model's closed groups (``fitting_gop.fit_gop``): the input read a group at a time, cropped as asked, and the
written file measured the same way, a group at a time."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from . import container
from .config import MEASURES
from .io import iter_video, parse_crop, probe_video
from .io.video import centre_crop_frames, check_crop
from .measure import measure_file_stream
from .runtime import video_selection

NAMES = {"psnr": "PSNR", "msssim": "MS-SSIM"}


@dataclass
class GroupInput:
    """The video as a group-by-group fit reads it: its frames, size (after ``data.crop``) and rate."""
    path: Path
    sel: dict
    crop: tuple | None
    n: int
    h: int
    w: int
    fps: float

    @classmethod
    def probe(cls, video_path: Path, cfg) -> "GroupInput":
        sel = video_selection(cfg)
        n, h, w, fps = probe_video(str(video_path), **sel)
        crop = parse_crop(cfg.data.get("crop"))
        if crop:
            check_crop(w, h, *crop, video_path)  # now, not at the first group
            w, h = crop
        return cls(video_path, sel, crop, n, h, w, fps)

    def open(self, group: int):
        """The source's frames, ``group`` at a time (the stream knows the source's pix_fmt once opened)."""
        return iter_video(str(self.path), chunk=group, **self.sel)

    def chunks(self, stream):
        """``stream``'s chunks, cropped as asked."""
        for c in stream:
            yield centre_crop_frames(c, self.w, self.h, self.path) if self.crop else c


def write_and_measure(stages, cm, model_file: Path, source: GroupInput, group: int, device, measure: str):
    """Write ``cm`` and measure the written file a group at a time: (bytes, the metrics, the worst frame)."""
    stages.say(f"writing {model_file}")
    nbytes = container.write(model_file, cm)
    written = container.read(model_file)  # the reported quality is the written file's
    metrics = MEASURES[measure]
    measured, worst = {}, None
    if metrics:
        with stages.frames(f"measuring {model_file}: decoding it group by group, "
                           f"{' and '.join(NAMES[m] for m in metrics)} of every frame", source.n, "measuring") as bar:
            measured, worst = measure_file_stream(written, source.chunks(source.open(group)), device, metrics,
                                                  progress=bar.update)
    return nbytes, measured, worst
