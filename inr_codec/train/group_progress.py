"""NIRVANA's resumable progress: the groups a segment has coded so far, kept in the run directory.

After every group the segment's file ``checkpoints/segment_<s>.pt`` is rewritten (atomically) with
the coded groups of that segment, each with its fit statistics, the exact MSE of its decoded network
(the next group's "change" is measured against it) and a digest of its frames. ``inrcodec fit
--resume RUN_DIR`` then skips those groups: the chain state the next group starts from is rebuilt by
decoding them (``groupcode.apply_group``, the decoder's own routine), so a resumed fit writes the
same bytes as one that was never stopped. Per segment, not per process: segments share nothing, so
the files do not depend on how many torchrun ranks wrote them.

A file made with other settings (architecture, model.*, compress.*, seed) or a group whose frames
changed since is refused with a one-line error rather than silently mixed in.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..container import format as fmt
from ..container.records import CodedGroup
from ..container.writer import group_payload
from ..errors import InputError
from .checkpoint import load_checkpoint, save_checkpoint

FORMAT = 2  # 2: a group is stored as its container section payload


def frames_digest(frames: np.ndarray) -> str:
    """Identity of a group's frames (sha1 of the uint8 array, shape included)."""
    h = hashlib.sha1(repr(frames.shape).encode())  # noqa: S324 (identity, not security)
    h.update(memoryview(np.ascontiguousarray(frames)))
    return h.hexdigest()[:20]


@dataclass
class Done:
    """A group already coded in an earlier run."""

    group: CodedGroup
    stats: dict
    mse: float


def _pack(group: CodedGroup) -> torch.Tensor:
    """The group as the container stores it (its section payload), as a tensor: torch's weights_only
    loader refuses an empty bytes object."""
    return torch.from_numpy(np.frombuffer(group_payload(group), np.uint8).copy())


def _unpack(section: torch.Tensor) -> CodedGroup:
    """Inverse of :func:`_pack`, every field checked as when reading model.bin (fmt.Malformed if damaged)."""
    return fmt.group_record(*fmt.unpack_group(section.numpy().tobytes()))


class GroupProgress:
    """Reads and writes the segment files of one run directory (``run_dir`` None: keeps nothing)."""

    def __init__(self, run_dir: Path | None, fingerprint: dict, resume: bool):
        self.folder = None if run_dir is None else Path(run_dir) / "checkpoints"
        self.fingerprint, self.resume = fingerprint, resume
        self._entries: dict[int, list[dict]] = {}  # segment -> its saved groups, in order

    def _path(self, segment: int) -> Path:
        return self.folder / f"segment_{segment:05d}.pt"

    def _load(self, segment: int) -> list[dict]:
        if segment in self._entries:
            return self._entries[segment]
        entries: list[dict] = []
        if self.resume and self.folder is not None and self._path(segment).is_file():
            saved = load_checkpoint(self._path(segment))
            if saved.get("format") != FORMAT or saved.get("fingerprint") != self.fingerprint:
                raise InputError(f"cannot resume: {self._path(segment)} was made with other settings (model.*, "
                                 "compress.*, seed or the video's size); fit again without --resume")
            entries = saved["groups"]
        self._entries[segment] = entries
        return entries

    def check(self) -> None:
        """Refuse now, before anything is rewritten, a run directory whose saved groups were made with other settings."""
        if self.resume and self.folder is not None:
            for path in sorted(self.folder.glob("segment_*.pt")):
                self._load(int(path.stem.split("_")[1]))

    def done(self, segment: int, index: int, frames: np.ndarray) -> Done | None:
        """The saved result of group ``index`` of ``segment``, or None if it is still to be fitted."""
        for e in self._load(segment):
            if e["index"] == index:
                if e["digest"] != frames_digest(frames):
                    raise InputError(f"cannot resume: the frames of group {index} differ from the ones fitted "
                                     "before (the video changed); fit again without --resume")
                try:
                    group = _unpack(e["group"])
                except fmt.Malformed as err:
                    raise InputError(f"cannot resume: group {index} in {self._path(segment)} is damaged "
                                     f"({err.problem}); fit again without --resume") from None
                return Done(group, dict(e["stats"]), float(e["mse"]))
        return None

    def record(self, segment: int, group: CodedGroup, stats: dict, mse: float, frames: np.ndarray) -> None:
        """Add a freshly coded group to its segment's file (rewritten atomically)."""
        entries = self._load(segment) + [{"index": group.index, "group": _pack(group), "stats": dict(stats), "mse": float(mse),
                                          "digest": frames_digest(frames)}]
        if self.folder is not None and self.folder.parent.is_dir():  # a rank without the run directory keeps none
            save_checkpoint(self._path(segment), {"format": FORMAT, "fingerprint": self.fingerprint,
                                                  "groups": entries})
        # Only now: Ctrl-C during the write leaves the file as it was, and count() must say so.
        self._entries[segment] = entries

    def count(self) -> int:
        """Groups saved so far (in this process's view)."""
        return sum(len(v) for v in self._entries.values())
