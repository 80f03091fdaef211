"""The container's rules for tensors under learned entropy models: integer model parameters instead of
a frequency table (``docs/format.md``, "Learned entropy models").

The rules are restated here rather than imported from ``compress.entropy_models``: the container
never imports the codec; the models check the same ranges before they build a table.
"""
from __future__ import annotations

# The minor version that brought each learned coder; a file using one is at least that version.
CODER_MINOR = {"laplace": 2, "laplace_prev": 2, "laplace0": 3, "laplace_ctx": 4, "laplace_nb": 5, "laplace_nbm": 8}
LEARNED_CODERS = set(CODER_MINOR)
# Parameters per model: laplace, laplace_prev, laplace_ctx's and laplace_nb's streams: S, K; laplace0: Z, S, K.
PARAMS_PER_MODEL = {"laplace": 2, "laplace_prev": 2, "laplace0": 3, "laplace_ctx": 2, "laplace_nb": 2, "laplace_nbm": 2}
ZERO_ONE = 2 ** 16           # a zero-inflated Laplace's Z (probability of 0, Q16) lies in 1..ZERO_ONE-1
LAPLACE_ONE = 2 ** 32        # a Laplace parameter S lies in 1..LAPLACE_ONE-1
LAPLACE_MAX_K = 65535        # and its symbols in [-K, K], K <= LAPLACE_MAX_K
LEARNED_BITS = 16            # the bits field of every learned-coder tensor
MAX_MODELS = 1 << 16
# laplace_ctx (format 1.4): a (frames, height, width) latent grid; CTX_COEFFS zigzagged prediction
# coefficients (|c| <= CTX_MAX_COEFF) come before the S, K of its CTX_STREAMS streams.
CTX_COEFFS = 5
CTX_MAX_COEFF = 1 << 16
CTX_STREAMS = 16
# laplace_nb (format 1.5): NB_MEAN zigzagged mean coefficients (|c| <= CTX_MAX_COEFF), then NB_ACT activity
# coefficients (0..CTX_MAX_COEFF), before the S, K of its NB_STREAMS streams.
NB_MEAN = 22
NB_ACT = 24
NB_STREAMS = 32
NB_MAX_K = 4095              # laplace_nb's K (its tables are built per phase)
# laplace_nbm (format 1.8): laplace_nb's parameters, then a zigzagged (dy, dx) per slice after the first, each
# |d| <= MC_MAX_SHIFT: where that slice's predecessor is read from.
MC_MAX_SHIFT = 255
SHIFTED_CODERS = ("laplace_nbm",)
# The grid coders' coefficients before their models' S, K: (signed prediction ones, non-negative activity ones).
GRID_COEFFS = {"laplace_ctx": (CTX_COEFFS, 0), "laplace_nb": (NB_MEAN, NB_ACT), "laplace_nbm": (NB_MEAN, NB_ACT)}
GRID_CODERS = tuple(GRID_COEFFS)  # (frames, height, width) grids


def shift_count(coder: str, shape) -> int:
    """How many shift parameters follow the models' (laplace_nbm: two per slice after the first)."""
    return 2 * max(int(shape[0]) - 1, 0) if coder in SHIFTED_CODERS and len(shape) == 3 else 0


def param_count(coder: str, model_count: int, shape=()) -> int:
    """How many integer parameters a tensor of this coder and ``shape`` stores for ``model_count`` models."""
    return PARAMS_PER_MODEL[coder] * model_count + sum(GRID_COEFFS.get(coder, (0, 0))) + shift_count(coder, shape)


def learned_model_count(coder: str, shape) -> int:
    """How many entropy models a learned coder's tensor has: one (laplace, laplace0), one per channel,
    the index along axis 1 (laplace_prev, whose context runs along axis 0), CTX_STREAMS (laplace_ctx) or
    NB_STREAMS (laplace_nb)."""
    if coder == "laplace_ctx":
        return CTX_STREAMS
    if coder in ("laplace_nb", "laplace_nbm"):
        return NB_STREAMS
    return shape[1] if coder == "laplace_prev" else 1


def _is_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _unzigzag(u: int) -> int:
    return u // 2 if u % 2 == 0 else -(u + 1) // 2


def check_learned(coder: str, v: dict) -> str | None:
    shape = v["shape"]
    if coder == "laplace_prev" and len(shape) < 2:
        return "a laplace_prev tensor needs at least 2 dimensions"
    if coder in GRID_CODERS and len(shape) != 3:
        return f"a {coder} tensor needs 3 dimensions (frames, height, width)"
    if v["bits"] != LEARNED_BITS:
        return f"a {coder} tensor has bits {v['bits']}, {LEARNED_BITS} expected"
    n, per = learned_model_count(coder, shape), PARAMS_PER_MODEL[coder]
    params = list(v["params"])
    if v["model_count"] != n or len(params) != param_count(coder, n, shape):
        return f"a {coder} tensor of shape {tuple(shape)} has {v['model_count']} models, {n} expected"
    shifts = shift_count(coder, shape)
    if shifts:
        params, tail = params[:len(params) - shifts], params[len(params) - shifts:]
        if any(not _is_int(d) or abs(_unzigzag(d)) > MC_MAX_SHIFT for d in tail):
            return f"a context shift is outside -{MC_MAX_SHIFT}..{MC_MAX_SHIFT}"
    if coder in GRID_COEFFS:
        signed, unsigned = GRID_COEFFS[coder]
        mean, act, params = params[:signed], params[signed:signed + unsigned], params[signed + unsigned:]
        if any(not _is_int(c) or abs(_unzigzag(c)) > CTX_MAX_COEFF for c in mean):
            return f"a prediction coefficient is outside -{CTX_MAX_COEFF}..{CTX_MAX_COEFF}"
        if any(not _is_int(d) or not 0 <= d <= CTX_MAX_COEFF for d in act):
            return f"an activity coefficient is outside 0..{CTX_MAX_COEFF}"
    if coder in ("laplace_nb", "laplace_nbm") and any(_is_int(k) and k > NB_MAX_K for k in params[1::2]):
        return f"a {coder} range is outside 0..{NB_MAX_K}"
    for i in range(0, len(params), per):
        *Z, S, K = params[i:i + per]
        if Z and (not _is_int(Z[0]) or not 1 <= Z[0] < ZERO_ONE):
            return f"zero probability {Z[0]!r} is outside 1..2**16-1"
        if not _is_int(S) or not 1 <= S < LAPLACE_ONE:
            return f"Laplace parameter {S!r} is outside 1..2**32-1"
        if not _is_int(K) or not 0 <= K <= LAPLACE_MAX_K:
            return f"Laplace range {K!r} is outside 0..{LAPLACE_MAX_K}"
    if len(v["payload"]) % 4:
        return f"range payload length {len(v['payload'])} is not a multiple of 4"
    return None
