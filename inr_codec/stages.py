"""What a command is doing between its progress bars: one line per stage on stderr (reading the video,
coding the weights, writing the file, measuring it), also in fit.log, and a bar over the frames of a stage
that runs longer than a few seconds (tqdm's ``delay``: a short stage shows its line only)."""
from __future__ import annotations

import logging
import sys

from tqdm import tqdm

log = logging.getLogger("inr_codec")

BAR_AFTER_S = 3.0  # a stage's bar appears once it has run this long


class Stages:
    def __init__(self, show: bool):
        self.show = show  # False: fit.log only (quiet, an API call, a torchrun rank other than 0)

    def say(self, text: str) -> None:
        log.info("%s", text)
        if self.show:
            print(f"inrcodec: {text}", file=sys.stderr, flush=True)

    def frames(self, text: str, total: int, name: str) -> tqdm:
        """``say(text)``, then a bar over ``total`` frames named ``name``; close it when the stage ends."""
        self.say(text)
        return tqdm(total=total, unit="fr", desc=name, delay=BAR_AFTER_S, leave=False, dynamic_ncols=True,
                    disable=not (self.show and sys.stderr.isatty()))  # a log or a pipe gets the stage's line only
