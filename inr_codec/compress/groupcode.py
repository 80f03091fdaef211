"""Group-wise coding (NIRVANA): a key group's weights, or a residual on the previous group's decoded weights.

A group's tensors are quantized per channel and range-coded like any tensor (``codec.code_tensor``):

    key group:      stored = w_k                      decoded_k = dequantize(stored symbols)
    residual group: stored = w_k - decoded_{k-1}      decoded_k = decoded_{k-1} + dequantize(stored symbols)

(float32 additions in numpy: the same bits on every machine). The encoder returns the state the
decoder will hold, computed by ``apply_group`` (the decoder's own routine), and the next group
is fitted on top of exactly that state, so quantization error never accumulates along a chain.
"""
from __future__ import annotations

import numpy as np

from ..container.records import CodedGroup
from ..errors import ContainerError
from .codec import code_tensor, decode_tensor

State = dict[str, np.ndarray]


def apply_group(prev: State | None, group: CodedGroup) -> State:
    """The decoded float32 weights of ``group``; ``prev`` is group index-1's (ignored for a key group)."""
    values = {ct.name: decode_tensor(ct) for ct in group.tensors}
    if group.key:
        return values
    if prev is None or set(prev) != set(values) or any(prev[n].shape != v.shape for n, v in values.items()):
        raise ContainerError(f"group {group.index} is a residual whose tensors do not match group {group.index - 1}'s;"
                             " the model file is corrupted")
    return {n: np.add(prev[n], v, dtype=np.float32) for n, v in values.items()}


def code_group(index: int, start: int, frames: int, weights: State, prev: State | None,
               plan) -> tuple[CodedGroup, State]:
    """Code ``weights`` (float32 arrays) as group ``index``: whole if ``prev`` is None, else as the residual
    on ``prev``. ``plan(name, ndim) -> (bits, axis, scales or None)``. Returns the group and its decoded state."""
    tensors = []
    for name, w in weights.items():
        w = np.asarray(w, dtype=np.float32)
        stored = w if prev is None else np.subtract(w, prev[name], dtype=np.float32)
        tensors.append(code_tensor(name, stored, *plan(name, w.ndim)))
    group = CodedGroup(index=index, start=start, frames=frames, key=prev is None, tensors=tensors)
    return group, apply_group(prev, group)


def chain_start(groups: list[CodedGroup], k: int) -> int:
    """The key group that group ``k``'s chain starts from."""
    while not groups[k].key:
        k -= 1
    return k
