"""Write a CompressedModel as model.bin: serialise, read back and compare, then write atomically."""
from __future__ import annotations

import os
import secrets
from pathlib import Path

import numpy as np

from ..errors import ContainerError, InputError
from . import format as fmt
from .reader import _one_line, from_bytes
from .records import CodedGroup, CodedTensor, CompressedModel, VideoMeta
from .tensor_block import pack_block


def _video_payload(video: VideoMeta) -> bytes:
    if not isinstance(video, VideoMeta):
        raise ValueError(f"CompressedModel.video must be a VideoMeta, got {type(video).__name__}")
    v = fmt.video_fields(video)
    problem = fmt.check_video(v)
    if problem:
        raise ValueError(f"cannot store video metadata: {problem}")
    return fmt.pack(fmt.layout_video, v)


def _json_payload(d: dict, what: str) -> bytes:
    if type(d) is not dict:
        raise ValueError(f"CompressedModel.{what} must be a dict, got {type(d).__name__}")
    problem = fmt.check_json_value(d, what)
    if problem:
        raise ValueError(f"cannot store {what} config: {problem}")
    return fmt.json_bytes(d)


def _tensor_payload(ct: CodedTensor) -> bytes:
    if not isinstance(ct, CodedTensor):
        raise ValueError(f"CompressedModel.tensors holds a {type(ct).__name__}, not a CodedTensor")
    if not isinstance(ct.name, str) or not ct.name:
        raise ValueError(f"tensor name {ct.name!r} must be a non-empty string")
    v = fmt.tensor_fields(ct)
    problem = fmt.check_tensor(v)
    if problem:
        raise ValueError(f"cannot store tensor {ct.name!r}: {problem}")
    return fmt.pack(fmt.layout_tensor, v)


def group_payload(g: CodedGroup) -> bytes:
    """A group section's payload (checked); ``format.unpack_group`` + ``format.group_record`` invert it."""
    if not isinstance(g, CodedGroup):
        raise ValueError(f"CompressedModel.groups holds a {type(g).__name__}, not a CodedGroup")
    head = {"index": g.index, "start": g.start, "frames": g.frames, "key": int(bool(g.key))}
    problem = fmt.check_group(head)
    if problem:
        raise ValueError(f"cannot store group {g.index!r}: {problem}")
    names = [ct.name for ct in g.tensors]
    if len(set(names)) != len(names):
        raise ValueError(f"group {g.index} has a repeated tensor name")
    return fmt.pack_group(head, [(ct.name, _tensor_payload(ct)) for ct in g.tensors])


def _serialise(cm: CompressedModel) -> bytes:
    sections = [(fmt.KIND_VIDEO, "", _video_payload(cm.video)),
                (fmt.KIND_MODEL, "", _json_payload(cm.model, "model"))]
    if cm.extra:
        sections.append((fmt.KIND_EXTRA, "", _json_payload(cm.extra, "extra")))
    names, entries = set(), []
    for ct in cm.tensors:
        payload = _tensor_payload(ct)
        if ct.name in names:
            raise ValueError(f"tensor name {ct.name!r} appears twice")
        names.add(ct.name)
        entries.append((ct.name, payload))
    if cm.tensor_block and entries:
        if cm.groups:
            raise ValueError("a tensor block cannot stand beside group sections")
        sections.append((fmt.KIND_TENSORS, "", pack_block(entries)))
    else:
        sections += [(fmt.KIND_TENSOR, name, payload) for name, payload in entries]
    for g in cm.groups:
        sections.append((fmt.KIND_GROUP, "", group_payload(g)))
    # The preamble is framed with the first section so that section's CRC covers it.
    prefix = fmt.preamble(len(sections), fmt.minor_version(cm))
    parts = []
    for kind, name, payload in sections:
        parts.append(fmt.frame(kind, name, payload, prefix=prefix))
        prefix = b""
    return b"".join(parts)


def _same_tensor(a: CodedTensor, b: CodedTensor) -> str | None:
    for key in ("name", "bits", "axis", "coder", "min_symbol"):
        if getattr(a, key) != getattr(b, key):
            return key
    if tuple(int(d) for d in a.shape) != b.shape:
        return "shape"
    if bytes(a.payload) != b.payload:
        return "payload"
    sa = np.asarray(a.scales, dtype=np.float32).reshape(-1)
    if sa.shape != b.scales.shape or sa.view(np.uint32).tolist() != b.scales.view(np.uint32).tolist():
        return "scales"
    if [int(f) for f in np.asarray(a.frequencies).reshape(-1)] != b.frequencies.tolist():
        return "frequencies"
    if [int(p) for p in a.params] != list(b.params):
        return "params"
    return None


def _check_read_back(cm: CompressedModel, back: CompressedModel) -> None:
    problems = []
    if fmt.video_fields(cm.video) != fmt.video_fields(back.video):
        problems.append("video")
    if fmt.json_bytes(cm.model) != fmt.json_bytes(back.model):
        problems.append("model")
    if fmt.json_bytes(cm.extra or {}) != fmt.json_bytes(back.extra):
        problems.append("extra")
    if bool(cm.tensor_block and cm.tensors) != back.tensor_block:
        problems.append("tensor block")
    if len(cm.tensors) != len(back.tensors):
        problems.append("tensor count")
    else:
        for a, b in zip(cm.tensors, back.tensors):
            key = _same_tensor(a, b)
            if key:
                problems.append(f"tensor {a.name!r} {key}")
    if len(cm.groups) != len(back.groups):
        problems.append("group count")
    else:
        for a, b in zip(cm.groups, back.groups):
            if (a.index, a.start, a.frames, bool(a.key), len(a.tensors)) != \
                    (b.index, b.start, b.frames, b.key, len(b.tensors)):
                problems.append(f"group {a.index} head")
            problems += [f"group {a.index} tensor {x.name!r} {key}" for x, y in zip(a.tensors, b.tensors)
                         if (key := _same_tensor(x, y))]
    if problems:
        raise RuntimeError("container self-check failed: " + ", ".join(problems)
                           + " differ after reading the bytes back (a bug in inr_codec.container)")


def to_bytes(cm: CompressedModel) -> bytes:
    """Serialise ``cm``; the bytes are parsed back with the reader and compared field by field.

    Raises ValueError for a record that cannot be stored (bad types, non-JSON config values,
    inconsistent tensor fields) and RuntimeError if the read-back check fails.
    """
    if not isinstance(cm, CompressedModel):
        raise ValueError(f"expected a CompressedModel, got {type(cm).__name__}")
    data = _serialise(cm)
    try:
        back = from_bytes(data, name="<serialised model>")
    except ContainerError as e:
        raise RuntimeError(f"container self-check failed: {e}") from e
    _check_read_back(cm, back)
    return data


def write(path: str | os.PathLike, cm: CompressedModel) -> int:
    """Write ``cm`` to ``path`` atomically; returns the number of bytes written.

    The bytes go to a temporary file in the same folder, are fsynced, then renamed over
    ``path``; on any failure the temporary file is removed and ``path`` is left as it was.
    """
    data = to_bytes(cm)
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as e:
        raise InputError(_one_line(f"cannot write {path}: {e.strerror or e}")) from None
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(e, OSError):
            raise InputError(_one_line(f"cannot write {path}: {e.strerror or e}")) from None
        raise
    try:  # make the rename durable; not possible on every platform/filesystem
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass
    return len(data)
