"""The model.bin format in code (docs/format.md is the same spec in prose).

A file is a short preamble followed by CRC-terminated sections::

    preamble  b"INRC" | major u8 | minor u8 | section count uvar
    section   kind u8 | name str | payload length uvar | payload | crc32 u32le

Each section's CRC32 covers every byte from the end of the previous section (for the
first section: the start of the file, so the preamble is covered too) up to the CRC.

Field types used below: ``u8``/``i8`` one byte; ``u32le`` four bytes little-endian;
``uvar`` an unsigned LEB128 varint (7 bits per byte, low group first, at most 5 bytes,
no redundant trailing zero groups); ``svar`` a zigzag-mapped ``uvar``; ``str`` a
``uvar`` byte length then UTF-8 bytes; ``f32`` IEEE-754 binary32 little-endian;
``packed`` (a list whose count is known) nothing if empty, else a ``u8`` bit width w in
1..32 then every value in w bits, most significant bit first, zero-padded to a byte.

Record layouts are written once, as functions over a ``Stream`` (``layout_video``,
``layout_tensor``). The same function writes (``Packer``) and reads (``Unpacker``), so
the encoder runs the decoder's exact field walk every time.
"""
from __future__ import annotations

import json
import math
import numbers
import struct
import zlib
from fractions import Fraction

import numpy as np

from .learned import CODER_MINOR, LEARNED_CODERS, MAX_MODELS, check_learned, learned_model_count, param_count
from .records import CodedGroup, CodedTensor, VideoMeta

MAGIC = b"INRC"
VERSION_MAJOR = 1
VERSION_MINOR = 8            # the newest minor version this code writes and reads
# 1.1 added group sections (group-wise models such as NIRVANA). A file without groups is
# still written as 1.0, byte for byte what 1.0 wrote; a file with groups is written as 1.1.
MINOR_GROUPS = 1
# 1.2 added the learned entropy models' coders (laplace, laplace_prev); a file using them is 1.2.
MINOR_LEARNED = 2
# 1.3 added the zero-inflated Laplace (coder laplace0); a file using it is 1.3.
MINOR_ZERO_LAPLACE = 3
# 1.4 added the latent grids' context model (coder laplace_ctx); a file using it is 1.4.
MINOR_LATENT_CONTEXT = 4
# 1.5 added the latent grids' wider context model (coder laplace_nb); a file using it is 1.5.
MINOR_LATENT_NEIGHBOURS = 5
# 1.6 added the latent model's motion (architecture key "motion": the levels fetched along a stored velocity
# field, models/grid_motion.py); a file with it is 1.6 (a 1.5 reader refuses it by its tensors).
MINOR_LATENT_MOTION = 6
# 1.7 added closed groups to the latent model (architecture key "gop": one independent latent model per group of
# gop frames, each in a group section); a latent file with groups is 1.7, one without is written as before.
MINOR_LATENT_GROUPS = 7
# 1.8 added laplace_nb with a motion-compensated context (coder laplace_nbm) and the tensor block (section kind 6:
# every tensor in one section, names front-coded, container/tensor_block.py); a file using either is 1.8.
MINOR_LATENT_MC = 8
MINOR_TENSOR_BLOCK = 8
MAX_LATENT_GOP = 1 << 20

# Section kinds. A kind >= KIND_OPTIONAL_MIN that a reader does not know is skipped (a
# newer minor version may add such sections); an unknown kind below it is an error.
KIND_VIDEO = 1
KIND_MODEL = 2
KIND_EXTRA = 3
KIND_TENSOR = 4
KIND_GROUP = 5               # format 1.1
KIND_TENSORS = 6             # format 1.8: the tensor block
KIND_OPTIONAL_MIN = 128
KIND_NAMES = {KIND_VIDEO: "video", KIND_MODEL: "model", KIND_EXTRA: "extra", KIND_TENSOR: "tensor",
              KIND_GROUP: "group", KIND_TENSORS: "tensors"}
MAX_GROUP_TENSORS = 4096

# Coders of a tensor's symbols (the ``coder`` byte).
CODERS = {"raw": 0, "range": 1, "laplace": 2, "laplace_prev": 3, "laplace0": 4, "laplace_ctx": 5, "laplace_nb": 6,
          "laplace_nbm": 7}
CODER_NAMES = {v: k for k, v in CODERS.items()}

MAX_UVAR = 2**32 - 1         # every uvar fits in 32 bits
MAX_NDIM = 16
MAX_ELEMENTS = 2**28         # per tensor; bounds what a decoder allocates for one tensor
MAX_SECTIONS = 1 << 20
MAX_BITS = 16

_U32 = struct.Struct("<I")


class Malformed(Exception):
    """A problem found while parsing; the reader turns it into a one-line ContainerError."""

    def __init__(self, problem: str, truncated: tuple[int, int] | None = None):
        super().__init__(problem)
        self.problem = problem
        self.truncated = truncated  # (bytes expected, bytes found) when data ran out


# ---------------------------------------------------------------------------- streams

def uvar_bytes(value: int) -> bytes:
    if not 0 <= value <= MAX_UVAR:
        raise ValueError(f"value {value} does not fit an unsigned 32-bit varint")
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def zigzag(value: int) -> int:
    return 2 * value if value >= 0 else -2 * value - 1


def unzigzag(value: int) -> int:
    return value >> 1 if value % 2 == 0 else -((value + 1) >> 1)


class Stream:
    """One field walk, two directions. ``v`` is the dict of field values."""

    def u8(self, key: str, v: dict) -> None: ...
    def i8(self, key: str, v: dict) -> None: ...
    def uvar(self, key: str, v: dict) -> None: ...
    def svar(self, key: str, v: dict) -> None: ...
    def str(self, key: str, v: dict) -> None: ...
    def uvars(self, key: str, v: dict, count: int) -> None: ...
    def f32s(self, key: str, v: dict, count: int) -> None: ...
    def packed(self, key: str, v: dict, count: int) -> None: ...
    def rest(self, key: str, v: dict) -> None: ...


class Packer(Stream):
    def __init__(self) -> None:
        self.out = bytearray()

    def u8(self, key, v):
        self.out += struct.pack("<B", int(v[key]))

    def i8(self, key, v):
        self.out += struct.pack("<b", int(v[key]))

    def uvar(self, key, v):
        self.out += uvar_bytes(int(v[key]))

    def svar(self, key, v):
        self.out += uvar_bytes(zigzag(int(v[key])))

    def str(self, key, v):
        raw = v[key].encode("utf-8")
        self.out += uvar_bytes(len(raw)) + raw

    def uvars(self, key, v, count):
        values = v[key]
        assert len(values) == count
        self.out += b"".join(uvar_bytes(int(x)) for x in values)

    def f32s(self, key, v, count):
        values = np.asarray(v[key], dtype="<f4").reshape(-1)
        assert values.size == count
        self.out += values.tobytes()

    def packed(self, key, v, count):
        values = np.asarray(v[key], dtype=np.uint64).reshape(-1)
        assert values.size == count
        if count:
            width = packed_width(values)
            self.out += bytes([width]) + pack_bits(values, width)

    def rest(self, key, v):
        self.out += bytes(v[key])


class Unpacker(Stream):
    """Reads from a bytes-like object; every length is checked against what remains."""

    def __init__(self, data, pos: int = 0, end: int | None = None) -> None:
        self.data = memoryview(data)
        self.pos = pos
        self.end = len(self.data) if end is None else end

    @property
    def remaining(self) -> int:
        return self.end - self.pos

    def take(self, n: int) -> memoryview:
        if n > self.remaining:
            raise Malformed("data ends early", truncated=(n, self.remaining))
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def read_uvar(self) -> int:
        value = shift = 0
        for i in range(5):
            if self.pos >= self.end:
                raise Malformed("data ends inside a varint", truncated=(1, 0))
            byte = self.data[self.pos]
            self.pos += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                if i > 0 and byte == 0:
                    raise Malformed("non-canonical varint")
                if value > MAX_UVAR:
                    raise Malformed("varint out of range")
                return value
        raise Malformed("varint longer than 5 bytes")

    def u8(self, key, v):
        v[key] = self.take(1)[0]

    def i8(self, key, v):
        v[key] = struct.unpack("<b", self.take(1))[0]

    def uvar(self, key, v):
        v[key] = self.read_uvar()

    def svar(self, key, v):
        v[key] = unzigzag(self.read_uvar())

    def str(self, key, v):
        n = self.read_uvar()
        raw = self.take(n)  # bounded before any allocation
        try:
            v[key] = bytes(raw).decode("utf-8")
        except UnicodeDecodeError:
            raise Malformed(f"field {key!r} is not valid UTF-8") from None

    def uvars(self, key, v, count):
        if count > self.remaining:  # each varint is at least one byte
            raise Malformed(f"field {key!r} needs {count} values", truncated=(count, self.remaining))
        v[key] = [self.read_uvar() for _ in range(count)]

    def f32s(self, key, v, count):
        raw = self.take(4 * count)
        v[key] = np.frombuffer(raw, dtype="<f4").astype(np.float32)

    def packed(self, key, v, count):
        if not count:
            v[key] = []
            return
        width = self.take(1)[0]
        if not 1 <= width <= 32:
            raise Malformed(f"field {key!r} has bit width {width} (1..32 allowed)")
        nbytes = (count * width + 7) // 8
        raw = self.take(nbytes)  # bounded before unpacking
        values = unpack_bits(raw, count, width)
        if pack_bits(values, width) != bytes(raw):
            raise Malformed(f"field {key!r} has non-zero padding bits")
        v[key] = values.tolist()

    def rest(self, key, v):
        v[key] = bytes(self.take(self.remaining))


def packed_width(values) -> int:
    """Bits per entry of a packed integer list: the bit length of its largest value (at least 1)."""
    return max(1, int(np.max(values, initial=0)).bit_length())


def pack_bits(values, width: int) -> bytes:
    """Unsigned integers < 2**width (width 1..32), ``width`` bits each, most significant bit
    first, the last byte padded with zero bits."""
    v = np.asarray(values, dtype=">u4").reshape(-1, 1)
    as_bits = np.unpackbits(v.view(np.uint8), axis=1)
    return np.packbits(as_bits[:, 32 - width:].reshape(-1)).tobytes()


def unpack_bits(data, count: int, width: int) -> np.ndarray:
    """Inverse of ``pack_bits``: ``count`` uint32 values (``data`` holds at least count*width bits)."""
    as_bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8))[:count * width]
    full = np.zeros((count, 32), dtype=np.uint8)
    full[:, 32 - width:] = as_bits.reshape(count, width)
    return np.packbits(full, axis=1).view(">u4").reshape(-1).astype(np.uint32)


# ---------------------------------------------------------------------------- layouts

def layout_video(s: Stream, v: dict) -> None:
    for key in ("width", "height", "frames", "fps_num", "fps_den",
                "pad_width", "pad_height", "crop_left", "crop_top"):
        s.uvar(key, v)
    s.str("colour", v)
    s.str("source_pix_fmt", v)


def scale_count(v: dict) -> int:
    return 1 if v["axis"] == -1 else v["shape"][v["axis"]]


def layout_tensor(s: Stream, v: dict) -> None:
    """A tensor section's payload (its name is the section name)."""
    s.u8("ndim", v)
    if isinstance(s, Unpacker) and v["ndim"] > MAX_NDIM:
        raise Malformed(f"ndim {v['ndim']} exceeds {MAX_NDIM}")
    s.uvars("shape", v, v["ndim"])
    if isinstance(s, Unpacker) and element_count(v["shape"]) > MAX_ELEMENTS:
        raise Malformed(f"shape {tuple(v['shape'])} has more than {MAX_ELEMENTS} elements")
    s.u8("bits", v)
    s.i8("axis", v)
    if isinstance(s, Unpacker):
        _raise(check_axis(v["axis"], len(v["shape"])))
    s.u8("coder", v)
    s.f32s("scales", v, scale_count(v))
    if CODER_NAMES.get(v["coder"]) in LEARNED_CODERS:  # 1.2: the models' integer parameters
        s.uvar("model_count", v)
        if isinstance(s, Unpacker) and v["model_count"] > MAX_MODELS:
            raise Malformed(f"{v['model_count']} entropy models exceed {MAX_MODELS}")
        s.uvars("params", v, param_count(CODER_NAMES[v["coder"]], v["model_count"], v["shape"]))
    else:
        s.svar("min_symbol", v)
        s.uvar("table_len", v)
        s.packed("frequencies", v, v["table_len"])
    s.rest("payload", v)


# ---------------------------------------------------------------------------- checks
# Each returns a problem string or None; the writer raises ValueError, the reader
# ContainerError, from the same rules.

def _raise(problem: str | None) -> None:
    if problem:
        raise Malformed(problem)


def _is_int(x) -> bool:
    return isinstance(x, numbers.Integral) and not isinstance(x, bool)


def check_axis(axis: int, ndim: int) -> str | None:
    if axis != -1 and not 0 <= axis < ndim:
        return f"axis {axis} is invalid for a {ndim}-d tensor (use -1 for one scale)"
    return None


def check_video(v: dict) -> str | None:
    for key in ("width", "height", "frames", "fps_num", "fps_den",
                "pad_width", "pad_height", "crop_left", "crop_top"):
        if not _is_int(v[key]) or not 0 <= v[key] <= MAX_UVAR:
            return f"video field {key} = {v[key]!r} is not an integer in 0..2**32-1"
    for key in ("width", "height", "frames", "fps_num", "fps_den"):
        if v[key] == 0:
            return f"video field {key} is 0"
    if math.gcd(v["fps_num"], v["fps_den"]) != 1:
        return "video fps fraction is not in lowest terms"
    if v["crop_left"] + v["width"] > v["pad_width"] or v["crop_top"] + v["height"] > v["pad_height"]:
        return (f"video crop ({v['crop_left']},{v['crop_top']}) + size {v['width']}x{v['height']} "
                f"exceeds the padded size {v['pad_width']}x{v['pad_height']}")
    for key in ("colour", "source_pix_fmt"):
        if not isinstance(v[key], str) or not v[key]:
            return f"video field {key} must be a non-empty string"
    return None


def element_count(shape) -> int:
    return math.prod(shape)


def check_tensor(v: dict) -> str | None:
    """Rules every tensor record obeys (shape, bits, axis, scales, table, payload size)."""
    shape, bits = v["shape"], v["bits"]
    if len(shape) > MAX_NDIM:
        return f"ndim {len(shape)} exceeds {MAX_NDIM}"
    if any(not _is_int(d) or not 0 <= d <= MAX_UVAR for d in shape):
        return f"shape {shape} has a dimension that is not an integer in 0..2**32-1"
    n = element_count(shape)
    if n > MAX_ELEMENTS:
        return f"shape {tuple(shape)} has {n} elements (at most {MAX_ELEMENTS} per tensor)"
    if not _is_int(bits) or not 1 <= bits <= MAX_BITS:
        return f"bits {bits!r} is not in 1..{MAX_BITS}"
    if not _is_int(v["axis"]):
        return f"axis {v['axis']!r} is not an integer"
    problem = check_axis(v["axis"], len(shape))
    if problem:
        return problem
    coder = v["coder"]
    if coder not in CODER_NAMES:
        return f"unknown coder {coder}"
    scales = v["scales"]
    if scales.shape != (scale_count(v),):
        return f"{scales.size} scales given, {scale_count(v)} expected"
    if not np.all(np.isfinite(scales)) or np.any(scales < 0):
        return "scales must be finite and >= 0"
    qmax = 2 ** (bits - 1) - 1
    if np.any(scales.astype(np.float64) * qmax > np.finfo(np.float32).max):
        return f"a scale is so large that symbol {qmax} * scale overflows float32"
    if CODER_NAMES[coder] in LEARNED_CODERS:
        return check_learned(CODER_NAMES[coder], v)
    lo, table = v["min_symbol"], v["frequencies"]
    if not _is_int(lo) or not -qmax <= lo <= qmax:
        return f"min_symbol {lo!r} is outside [-{qmax}, {qmax}] for {bits} bits"
    if any(not 0 <= int(f) <= MAX_UVAR for f in table):
        return "frequency table has a value outside 0..2**32-1"
    if lo + len(table) - 1 > qmax:
        return f"frequency table ({len(table)} entries from {lo}) exceeds {qmax} for {bits} bits"
    payload = v["payload"]
    if CODER_NAMES[coder] == "raw":
        if len(table):
            return "a raw-coded tensor has a frequency table"
        need = (n * bits + 7) // 8
        if len(payload) != need:
            return f"raw payload has {len(payload)} bytes, {need} expected for {n} symbols of {bits} bits"
    else:
        if n == 0:
            if len(table) or len(payload):
                return "an empty range-coded tensor has a table or payload"
        else:
            if not len(table) or sum(int(f) for f in table) == 0:
                return "range-coded tensor has an empty frequency table"
            if len(table) == 1 and len(payload):
                return "a single-symbol range-coded tensor has a payload"
            if len(payload) % 4:
                return f"range payload length {len(payload)} is not a multiple of 4"
    return None


# ---------------------------------------------------------------------------- records

def video_fields(meta: VideoMeta) -> dict:
    fps = meta.fps
    if not isinstance(fps, (Fraction, numbers.Integral)) or isinstance(fps, bool):
        raise ValueError(f"VideoMeta.fps must be a Fraction or int, got {fps!r}")
    fps = Fraction(fps)
    return {"width": meta.width, "height": meta.height, "frames": meta.frames,
            "fps_num": fps.numerator, "fps_den": fps.denominator,
            "pad_width": meta.pad_width, "pad_height": meta.pad_height,
            "crop_left": meta.crop_left, "crop_top": meta.crop_top,
            "colour": meta.colour, "source_pix_fmt": meta.source_pix_fmt}


def video_record(v: dict) -> VideoMeta:
    return VideoMeta(width=v["width"], height=v["height"], frames=v["frames"],
                     fps=Fraction(v["fps_num"], v["fps_den"]),
                     pad_width=v["pad_width"], pad_height=v["pad_height"],
                     crop_left=v["crop_left"], crop_top=v["crop_top"],
                     colour=v["colour"], source_pix_fmt=v["source_pix_fmt"])


def tensor_fields(ct: CodedTensor) -> dict:
    if ct.coder not in CODERS:
        raise ValueError(f"tensor {ct.name!r}: unknown coder {ct.coder!r} (expected one of {', '.join(CODERS)})")
    scales = np.asarray(ct.scales)
    if scales.dtype != np.float32:
        raise ValueError(f"tensor {ct.name!r}: scales must be float32, got {scales.dtype}")
    table = np.asarray(ct.frequencies)
    if table.ndim != 1 or (table.size and table.dtype.kind not in "ui"):
        raise ValueError(f"tensor {ct.name!r}: frequencies must be a 1-d integer array")
    shape = list(ct.shape)
    return {"ndim": len(shape), "shape": shape, "bits": ct.bits, "axis": ct.axis,
            "coder": CODERS[ct.coder], "scales": scales.reshape(-1),
            "min_symbol": ct.min_symbol, "table_len": int(table.size),
            "frequencies": [int(f) for f in table], "payload": bytes(ct.payload),
            "model_count": learned_model_count(ct.coder, shape) if ct.coder in LEARNED_CODERS else 0,
            "params": [int(p) for p in ct.params]}


def layout_group_head(s: Stream, v: dict) -> None:
    """The start of a group section's payload; ``count`` tensor entries follow, each
    ``name str | length uvar | a tensor section's payload (layout_tensor)``."""
    for key in ("index", "start", "frames"):
        s.uvar(key, v)
    s.u8("key", v)
    s.uvar("count", v)


def check_group(g: dict) -> str | None:
    for key in ("index", "start", "frames"):
        if not _is_int(g[key]) or not 0 <= g[key] <= MAX_UVAR:
            return f"group field {key} = {g[key]!r} is not an integer in 0..2**32-1"
    if g["frames"] == 0:
        return "a group holds 0 frames"
    if g["key"] not in (0, 1):
        return f"group key flag {g['key']!r} is not 0 or 1"
    return None


def pack_group(head: dict, tensors: list[tuple[str, bytes]]) -> bytes:
    """A group section's payload from its head fields and (name, tensor payload) pairs."""
    p = Packer()
    layout_group_head(p, dict(head, count=len(tensors)))
    for name, payload in tensors:
        p.str("name", {"name": name})
        p.uvar("n", {"n": len(payload)})
        p.out += payload
    return bytes(p.out)


def unpack_group(payload) -> tuple[dict, list[tuple[str, dict]]]:
    """Inverse of ``pack_group``: head fields and (name, tensor fields) pairs, every field checked."""
    u = Unpacker(payload)
    head: dict = {}
    layout_group_head(u, head)
    _raise(check_group(head))
    if head["count"] > MAX_GROUP_TENSORS:
        raise Malformed(f"group holds {head['count']} tensors (at most {MAX_GROUP_TENSORS})")
    tensors, names = [], set()
    for _ in range(head["count"]):
        entry: dict = {}
        u.str("name", entry)
        u.uvar("n", entry)
        if not entry["name"] or entry["name"] in names:
            raise Malformed(f"group tensor name {entry['name']!r} is empty or repeated")
        names.add(entry["name"])
        v = unpack(layout_tensor, u.take(entry["n"]))
        _raise(check_tensor(v))
        tensors.append((entry["name"], v))
    if u.remaining:
        raise Malformed(f"{u.remaining} unexpected bytes at the end of the group")
    return head, tensors


def check_group_order(heads: list[dict], frames: int) -> str | None:
    """Groups are numbered 0, 1, ... in file order, tile frames 0..frames-1, and the first is a key group."""
    if not heads:
        return None
    expect = 0
    for i, g in enumerate(heads):
        if g["index"] != i or g["start"] != expect:
            return f"group {i} has index {g['index']} and first frame {g['start']}, expected {i} and {expect}"
        expect += g["frames"]
    if expect != frames:
        return f"the groups hold {expect} frames, the video {frames}"
    if not heads[0]["key"]:
        return "the first group is not a key group"
    return None


def check_latent_groups(model: dict, heads: list[dict], tensors: int, minor: int) -> str | None:
    """A latent file's closed groups (1.7): ``gop`` in 1..2**20 with one group section per group, every group a
    key group (independent), every group but the last exactly gop frames (the last 1..gop), and no tensor
    sections; a latent file without ``gop`` has no groups. Other models: nothing to check here."""
    if not isinstance(model, dict) or model.get("name") != "latent":
        return None
    gop = model.get("gop")
    if gop is None:
        return "latent groups without a gop in the model" if heads else None
    if minor < MINOR_LATENT_GROUPS:
        return f"a latent model with groups in a 1.{minor} file (they came in 1.{MINOR_LATENT_GROUPS})"
    if not _is_int(gop) or not 1 <= gop <= MAX_LATENT_GOP:
        return f"latent gop {gop!r} is not an integer in 1..{MAX_LATENT_GOP}"
    if not heads or tensors:
        return "a latent model with a gop needs group sections and no tensor sections"
    for g in heads:
        if not g["key"]:
            return f"latent group {g['index']} is not a key group (closed groups depend on nothing)"
        last = g is heads[-1]
        if g["frames"] > gop or (not last and g["frames"] != gop):
            return f"latent group {g['index']} holds {g['frames']} frames with a gop of {gop}"
    return None


def tensor_record(name: str, v: dict) -> CodedTensor:
    return CodedTensor(name=name, shape=tuple(int(d) for d in v["shape"]), bits=v["bits"],
                       axis=v["axis"], scales=np.asarray(v["scales"], dtype=np.float32),
                       coder=CODER_NAMES[v["coder"]], min_symbol=v.get("min_symbol", 0),
                       frequencies=np.asarray(v.get("frequencies", []), dtype=np.uint32),
                       payload=v["payload"], params=list(v.get("params", [])))


def group_record(head: dict, entries: list[tuple[str, dict]]) -> CodedGroup:
    """The CodedGroup of ``unpack_group``'s result."""
    return CodedGroup(index=head["index"], start=head["start"], frames=head["frames"], key=bool(head["key"]),
                      tensors=[tensor_record(n, v) for n, v in entries])


def pack(layout, v: dict) -> bytes:
    p = Packer()
    layout(p, v)
    return bytes(p.out)


def unpack(layout, payload) -> dict:
    u = Unpacker(payload)
    v: dict = {}
    layout(u, v)
    if u.remaining:
        raise Malformed(f"{u.remaining} unexpected bytes at the end of the section")
    return v


# ---------------------------------------------------------------------------- JSON

def check_json_value(value, where: str) -> str | None:
    """Allowed: dict with str keys, list, str, int, float (finite), bool, None."""
    if value is None or isinstance(value, (str, bool)) or _is_plain_int(value):
        return None
    if type(value) is float:
        return None if math.isfinite(value) else f"{where} is {value} (not finite)"
    if type(value) is list:
        for i, item in enumerate(value):
            problem = check_json_value(item, f"{where}[{i}]")
            if problem:
                return problem
        return None
    if type(value) is dict:
        for key, item in value.items():
            if not isinstance(key, str):
                return f"{where} has a non-string key {key!r}"
            problem = check_json_value(item, f"{where}.{key}")
            if problem:
                return problem
        return None
    return f"{where} has a value of type {type(value).__name__} ({value!r:.40}); use str/int/float/bool/list"


def _is_plain_int(x) -> bool:
    return type(x) is int


def json_bytes(d: dict) -> bytes:
    """Canonical JSON: sorted keys, no spaces, UTF-8, no NaN/Infinity."""
    return json.dumps(d, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def parse_json(payload: bytes) -> dict:
    def no_dupes(pairs):
        d = dict(pairs)
        if len(d) != len(pairs):
            raise ValueError("duplicate key")
        return d

    def no_constants(name):
        raise ValueError(f"{name} is not allowed")

    try:
        d = json.loads(payload.decode("utf-8"), object_pairs_hook=no_dupes,
                       parse_constant=no_constants)
    except (ValueError, RecursionError, UnicodeDecodeError) as e:
        raise Malformed(f"invalid JSON ({str(e).splitlines()[0][:80]})") from None
    if not isinstance(d, dict):
        raise Malformed("JSON is not an object")
    try:
        canonical = json_bytes(d)
    except (ValueError, RecursionError):
        raise Malformed("JSON is not canonical") from None
    if canonical != payload:
        raise Malformed("JSON is not in canonical form (sorted keys, no spaces)")
    return d


# ---------------------------------------------------------------------------- framing

def minor_version(cm) -> int:
    """The oldest minor version that holds ``cm``: 1.0 files stay byte for byte what 1.0 wrote."""
    tensors = list(cm.tensors) + [t for g in cm.groups for t in g.tensors]
    motion = MINOR_LATENT_MOTION if isinstance(cm.model, dict) and cm.model.get("motion") else 0
    latent_groups = MINOR_LATENT_GROUPS if cm.groups and isinstance(cm.model, dict) and \
        cm.model.get("name") == "latent" else 0
    block = MINOR_TENSOR_BLOCK if cm.tensor_block and cm.tensors else 0
    return max([CODER_MINOR.get(t.coder, 0) for t in tensors] + [MINOR_GROUPS if cm.groups else 0, motion,
                                                                  latent_groups, block])


def preamble(section_count: int, minor: int = 0) -> bytes:
    return MAGIC + bytes([VERSION_MAJOR, minor]) + uvar_bytes(section_count)


def frame(kind: int, name: str, payload: bytes, prefix: bytes = b"") -> bytes:
    """One section; ``prefix`` (the preamble, for the first section) is covered by its CRC."""
    body = prefix + bytes([kind]) + pack(lambda s, v: s.str("name", v), {"name": name}) \
        + uvar_bytes(len(payload)) + payload
    return body + _U32.pack(zlib.crc32(body))


def crc32(data) -> int:
    return zlib.crc32(data)


def read_crc(u: Unpacker) -> int:
    return _U32.unpack(u.take(4))[0]
