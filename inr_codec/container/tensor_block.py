"""The tensor block (section kind 6, format 1.8): every tensor of a model in one section, names front-coded.

A file of kind-4 tensor sections spends on each tensor a kind byte, a CRC-32 and its whole name (about 20
bytes for "synthesis.mlp.0.weight"): some 400 bytes of a 6 kB latent file. The block holds the same tensor
records (``format.layout_tensor``) behind one CRC, each name stored as the count of leading bytes it shares
with the previous name and the rest::

    count    uvar
    tensor × count
        shared   uvar    bytes of the previous tensor's UTF-8 name that this one starts with (0 first)
        suffix   str     the rest of the name
        length   uvar
        payload  length bytes: the tensor record

The writer shares the longest common prefix that ends on a character boundary.
"""
from __future__ import annotations

import os

from . import format as fmt


def shared_prefix(a: str, b: str) -> int:
    """Bytes of ``a``'s UTF-8 that ``b`` starts with, whole characters only."""
    n = len(os.path.commonprefix([a, b]))
    return len(a[:n].encode("utf-8"))


def pack_block(entries: list[tuple[str, bytes]]) -> bytes:
    """The block's payload for (name, tensor record) pairs in file order."""
    out = [fmt.uvar_bytes(len(entries))]
    prev = ""
    for name, payload in entries:
        shared = shared_prefix(prev, name)
        suffix = name.encode("utf-8")[shared:]
        out += [fmt.uvar_bytes(shared), fmt.uvar_bytes(len(suffix)), suffix, fmt.uvar_bytes(len(payload)), payload]
        prev = name
    return b"".join(out)


def unpack_block(payload: bytes) -> list[tuple[str, bytes]]:
    """(name, tensor record) pairs of a block's payload; ``format.Malformed`` for any bad field."""
    u = fmt.Unpacker(payload)
    count = u.read_uvar()
    if count > u.remaining:  # each entry takes at least three bytes
        raise fmt.Malformed(f"a tensor block of {count} tensors", truncated=(count, u.remaining))
    entries, prev = [], b""
    for _ in range(count):
        shared = u.read_uvar()
        if shared > len(prev):
            raise fmt.Malformed(f"a tensor name shares {shared} bytes with a name of {len(prev)}")
        rest = {}
        u.str("suffix", rest)
        raw = prev[:shared] + rest["suffix"].encode("utf-8")
        try:
            name = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise fmt.Malformed("a tensor name is not valid UTF-8") from None
        length = u.read_uvar()
        entries.append((name, bytes(u.take(length))))
        prev = raw
    if u.remaining:
        raise fmt.Malformed(f"{u.remaining} bytes after the tensor block's last tensor")
    return entries
