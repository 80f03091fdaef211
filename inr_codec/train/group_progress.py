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

from ..container.records import CodedGroup, CodedTensor
from ..errors import InputError
from .checkpoint import load_checkpoint, save_checkpoint

FORMAT = 1


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


def _pack(group: CodedGroup) -> dict:
    return {"index": group.index, "start": group.start, "frames": group.frames, "key": group.key,
            "tensors": [{"name": t.name, "shape": list(t.shape), "bits": t.bits, "axis": t.axis,
                         "scales": torch.from_numpy(np.asarray(t.scales, np.float32).copy()), "coder": t.coder,
                         "min_symbol": int(t.min_symbol),
                         "frequencies": torch.from_numpy(np.asarray(t.frequencies).astype(np.int64)),
                         # a tensor, not bytes: an empty bytes object pickles as a call that weights_only refuses
                         "payload": torch.from_numpy(np.frombuffer(bytes(t.payload), np.uint8).copy())}
                        for t in group.tensors]}


def _unpack(d: dict) -> CodedGroup:
    tensors = [CodedTensor(name=t["name"], shape=tuple(t["shape"]), bits=t["bits"], axis=t["axis"],
                           scales=t["scales"].numpy().astype(np.float32), coder=t["coder"],
                           min_symbol=t["min_symbol"], frequencies=t["frequencies"].numpy().astype(np.uint32),
                           payload=t["payload"].numpy().tobytes()) for t in d["tensors"]]
    return CodedGroup(index=d["index"], start=d["start"], frames=d["frames"], key=d["key"], tensors=tensors)


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
            if e["group"]["index"] == index:
                if e["digest"] != frames_digest(frames):
                    raise InputError(f"cannot resume: the frames of group {index} differ from the ones fitted "
                                     "before (the video changed); fit again without --resume")
                return Done(_unpack(e["group"]), dict(e["stats"]), float(e["mse"]))
        return None

    def record(self, segment: int, group: CodedGroup, stats: dict, mse: float, frames: np.ndarray) -> None:
        """Add a freshly coded group to its segment's file (rewritten atomically)."""
        entries = self._load(segment) + [{"group": _pack(group), "stats": dict(stats), "mse": float(mse),
                                          "digest": frames_digest(frames)}]
        if self.folder is not None and self.folder.parent.is_dir():  # a rank without the run directory keeps none
            save_checkpoint(self._path(segment), {"format": FORMAT, "fingerprint": self.fingerprint,
                                                  "groups": entries})
        # Only now: Ctrl-C during the write leaves the file as it was, and count() must say so.
        self._entries[segment] = entries

    def count(self) -> int:
        """Groups saved so far (in this process's view)."""
        return sum(len(v) for v in self._entries.values())
