"""Read model.bin into a CompressedModel; every malformed file gives a one-line ContainerError."""
from __future__ import annotations

import os
from pathlib import Path

from ..errors import ContainerError, InputError
from . import format as fmt
from .records import CompressedModel
from .tensor_block import unpack_block

_FIX = "re-create or re-download it"


def _one_line(text: str) -> str:
    return text.replace("\r", "\\r").replace("\n", "\\n")


def _error(message: str) -> ContainerError:
    return ContainerError(_one_line(message))


def _parse(data, name: str) -> tuple[CompressedModel, list[tuple[str, int]]]:
    data = memoryview(data).cast("B") if not isinstance(data, bytes) else data
    n = len(data)
    if n == 0:
        raise _error(f"{name} is empty (0 bytes); {_FIX}")
    head = bytes(data[:4])
    if head != fmt.MAGIC:
        if n < 4 and fmt.MAGIC.startswith(head):
            raise _error(f"{name} is truncated (expected at least 7 bytes of header, found {n}); {_FIX}")
        raise _error(f"{name} is not an inrcodec model file (bad magic {head!r})")
    if n < 6:
        raise _error(f"{name} is truncated (expected at least 7 bytes of header, found {n}); {_FIX}")
    major, minor = data[4], data[5]
    if major > fmt.VERSION_MAJOR:
        raise _error(f"{name} was written by a newer inrcodec (format {major}.x); upgrade inrcodec")
    if major < 1:
        raise _error(f"{name} has unsupported format version {major}.{minor}")

    u = fmt.Unpacker(data, 6)
    where = "the header"
    try:
        count = u.read_uvar()
        sizes = [("header", u.pos)]
        video = model = extra = None
        tensors = []
        groups, heads = [], []
        names: set[str] = set()
        last_kind = 0
        block_read = False
        crc_from = 0  # the first section's CRC also covers the preamble
        for i in range(count):
            start = u.pos
            where = f"section {i}"
            kind = u.take(1)[0]
            sec_name = {}
            u.str("name", sec_name)
            sec_name = sec_name["name"]
            label = fmt.KIND_NAMES.get(kind, f"kind {kind}")
            if kind == fmt.KIND_TENSOR:
                label = f"tensor:{sec_name}"
            elif kind == fmt.KIND_GROUP:
                label = f"group:{len(heads)}"
            elif kind == fmt.KIND_TENSORS:
                label = "tensors"
            where = f"section {i} ({label!r})"
            length = u.read_uvar()
            payload = u.take(length)
            crc_end = u.pos
            stored = fmt.read_crc(u)
            if fmt.crc32(data[crc_from:crc_end]) != stored:
                raise _error(f"{name} is corrupted (CRC32 mismatch in {where}); {_FIX}")
            crc_from = u.pos
            sizes.append((label, u.pos - start))

            if kind >= fmt.KIND_OPTIONAL_MIN:
                continue  # an optional section from a newer minor version
            if kind not in fmt.KIND_NAMES:
                raise _error(f"{name} has a section of unknown kind {kind} (format {major}.{minor}); "
                             "upgrade inrcodec")
            if kind == fmt.KIND_TENSORS and minor < fmt.MINOR_TENSOR_BLOCK:
                raise fmt.Malformed(f"a tensor block in a {major}.{minor} file "
                                    f"(it came in 1.{fmt.MINOR_TENSOR_BLOCK})")
            if kind == fmt.KIND_GROUP and minor < fmt.MINOR_GROUPS:
                raise fmt.Malformed(f"a group section in a {major}.{minor} file (groups came in 1.{fmt.MINOR_GROUPS})")
            if kind < last_kind or (kind == last_kind and kind not in (fmt.KIND_TENSOR, fmt.KIND_GROUP)):
                raise fmt.Malformed("sections are out of order or repeated")
            if kind == fmt.KIND_TENSORS and (tensors or groups):
                raise fmt.Malformed("a tensor block beside tensor or group sections")
            last_kind = kind
            if kind != fmt.KIND_TENSOR and sec_name:
                raise fmt.Malformed("section has a name but its kind takes none")
            payload = bytes(payload)
            if kind == fmt.KIND_VIDEO:
                v = fmt.unpack(fmt.layout_video, payload)
                fmt._raise(fmt.check_video(v))
                video = fmt.video_record(v)
            elif kind == fmt.KIND_MODEL:
                model = fmt.parse_json(payload)
                if isinstance(model, dict) and model.get("motion") and minor < fmt.MINOR_LATENT_MOTION:
                    raise fmt.Malformed(f"a latent model with motion in a {major}.{minor} file "
                                        f"(motion came in 1.{fmt.MINOR_LATENT_MOTION})")
            elif kind == fmt.KIND_GROUP:
                head, entries = fmt.unpack_group(payload)
                heads.append(head)
                groups.append(fmt.group_record(head, entries))
            elif kind == fmt.KIND_EXTRA:
                extra = fmt.parse_json(payload)
                if not extra:
                    raise fmt.Malformed("extra section is empty")
            else:
                block = kind == fmt.KIND_TENSORS
                for tensor_name, record in unpack_block(payload) if block else [(sec_name, payload)]:
                    tensors.append(_tensor(tensor_name, record, names, major, minor))
                if block and not tensors:
                    raise fmt.Malformed("an empty tensor block")
                block_read = block_read or block
        where = "the groups"
        if video is not None:
            fmt._raise(fmt.check_group_order(heads, video.frames))
        fmt._raise(fmt.check_latent_groups(model, heads, len(tensors), minor))
    except fmt.Malformed as e:
        if e.truncated is not None:
            expected, found = e.truncated
            raise _error(f"{name} is truncated (expected {expected} bytes in {where}, found {found}); "
                         f"{_FIX}") from None
        raise _error(f"{name} is corrupted ({e.problem} in {where}); {_FIX}") from None
    if u.remaining:
        raise _error(f"{name} has {u.remaining} unexpected bytes after its last section; {_FIX}")
    if video is None or model is None:
        missing = "video" if video is None else "model"
        raise _error(f"{name} is corrupted (no {missing} section); {_FIX}")
    return CompressedModel(video=video, model=model, tensors=tensors, extra=extra or {}, groups=groups,
                           tensor_block=block_read), sizes


def _tensor(name: str, payload: bytes, names: set[str], major: int, minor: int):
    """One tensor record, checked; ``names``: the names so far (each must be new)."""
    if not name or name in names:
        raise fmt.Malformed(f"tensor name {name!r} is empty or repeated")
    names.add(name)
    v = fmt.unpack(fmt.layout_tensor, payload)
    fmt._raise(fmt.check_tensor(v))
    ct = fmt.tensor_record(name, v)
    came = fmt.CODER_MINOR.get(ct.coder, 0)
    if minor < came:
        raise fmt.Malformed(f"a {ct.coder} tensor in a {major}.{minor} file (that coder came in 1.{came})")
    return ct


def from_bytes(data: bytes, name: str = "model.bin") -> CompressedModel:
    """Parse model.bin bytes; ``name`` appears in error messages."""
    return _parse(data, name)[0]


def _read_bytes(path) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise InputError(_one_line(f"cannot read {path}: {e.strerror or e}")) from None


def read(path: str | os.PathLike) -> CompressedModel:
    """Read and check a model.bin file (magic, version, every section's CRC32 and fields)."""
    return _parse(_read_bytes(path), str(path))[0]


def section_sizes(path_or_bytes) -> list[tuple[str, int]]:
    """[(section name, bytes)] for ``inrcodec info``: "header", "video", "model", "extra",
    "tensor:<name>"; each size includes the section's framing, so the sizes sum to the file size."""
    if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
        return _parse(path_or_bytes, "model.bin")[1]
    return _parse(_read_bytes(path_or_bytes), str(path_or_bytes))[1]
