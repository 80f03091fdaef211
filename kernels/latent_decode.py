"""The latent codec's whole decoder in one kernel: for a tile of pixels, every level's blend in time and
bilinear upsampling, the synthesis's 1x1 layers, the layer to RGB, the 3x3 refinement, sigmoid and the
uint8 RGB store of the crop.

A program owns a TH×TW halo tile of the padded frame and writes its (TH−2)×(TW−2) interior:

* features: for each level (a static loop), the four bilinear taps of the level's grid (``upsample_bilinear2d``
  with align_corners=False: source (dst + ½)·in/out − ½, clamped at 0) are each blended between the frame's
  two slices ((1 − w)·a + w·b, as ``LatentDecoder.features``), in fp32. Column ``levels`` is 1: the first
  layer's bias is a row of its packed matrix.
* the 1x1 layers are ``tl.dot`` chains on the (TH·TW, channels) tile in the chosen dtype with fp32
  accumulation; channels are padded to powers of two ≥ 16 (zero rows and columns change nothing).
* the refinement needs each pixel's 8 neighbours, which live in other rows of the register tile: RGB
  (zero outside the padded frame, the conv's padding) goes to a per-program fp32 scratch of TH·TW·4
  values (L1/L2 resident), and after a barrier the implicit-GEMM ``conv_tile`` reads it back as a
  4-channel image, the residual folded into the centre tap.

Rounding is half away from zero (floor(v + 0.5)) as in ``conv_head_uint8``; the reference rounds half to
even, which differs only on exact .5 values. The halo costs (TH·TW)/((TH−2)·(TW−2)) of the work: 1.3x at 16×16.
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

from ._common import SUPPORTED_DTYPES, configs, conv_tile, dot_precision, upcast_dot

# Two on the GPU (every (levels, layers, dtype) compiles each once). Compiled here for sm_90 (ptxas -v), the
# default architecture in fp16 and bf16 uses 138-140 registers and spills nothing at 16x16 or 8x32 on 8 warps;
# 16x16 on 4 warps and 16x32 on 8 used 255 and spilled 740 bytes.
_CONFIGS = configs(
    gpu=[dict(TH=16, TW=16), dict(TH=8, TW=32)],
    warps=[8, 8],
    stages=[1, 1],
    interp=dict(TH=8, TW=8),
)
_TL = {torch.float32: tl.float32, torch.float16: tl.float16, torch.bfloat16: tl.bfloat16}
MAX_HIDDEN = 128  # registers: a (TH·TW, 128) fp32 accumulator per program at most


def _pow2(n: int) -> int:
    return max(16, triton.next_power_of_2(int(n)))


@triton.jit
def _act(x, ACT: tl.constexpr):
    if ACT == 1:
        return tl.maximum(x, 0.0)
    return 0.5 * x * (1.0 + tl.math.erf(x * 0.7071067811865476))  # F.gelu (erf)


@triton.autotune(configs=_CONFIGS, key=["H", "W", "OH", "OW", "LEVELS", "HP", "LAYERS"])
@triton.jit
def _latent_decode_kernel(
    g_ptr, lvl_ptr, frm_ptr, w1_ptr, wh_ptr, bh_ptr, w3_ptr, b3_ptr, wr_ptr, br_ptr, s_ptr, y_ptr,
    H, W, OH, OW, TOP, LEFT,
    LEVELS: tl.constexpr, LP: tl.constexpr, HP: tl.constexpr, LAYERS: tl.constexpr, ACT: tl.constexpr,
    DTYPE: tl.constexpr, PRECISION: tl.constexpr, UPCAST: tl.constexpr, TH: tl.constexpr, TW: tl.constexpr,
):
    BLOCK: tl.constexpr = TH * TW
    pid = tl.program_id(0)
    tiles_x = tl.cdiv(OW, TW - 2)
    tiles_y = tl.cdiv(OH, TH - 2)
    tx = pid % tiles_x
    t = pid // tiles_x
    ty = t % tiles_y
    b = t // tiles_y
    m = tl.arange(0, BLOCK)
    i = m // TW
    j = m % TW
    hp = TOP + ty * (TH - 2) - 1 + i  # halo tile position in the padded frame
    wp = LEFT + tx * (TW - 2) - 1 + j
    inside = (hp >= 0) & (hp < H) & (wp >= 0) & (wp < W)
    hc = tl.minimum(tl.maximum(hp, 0), H - 1)
    wc = tl.minimum(tl.maximum(wp, 0), W - 1)

    # features (BLOCK, LP): level l in column l, ones in column LEVELS
    col = tl.arange(0, LP)
    feats = tl.where(col[None, :] == LEVELS, 1.0, 0.0) + tl.zeros((BLOCK, LP), dtype=tl.float32)
    for lv in tl.static_range(LEVELS):
        lh = tl.load(lvl_ptr + lv * 4)
        lw = tl.load(lvl_ptr + lv * 4 + 1)
        sh = tl.load(lvl_ptr + lv * 4 + 2).to(tl.float32, bitcast=True)  # in / out, as PyTorch computes it
        sw = tl.load(lvl_ptr + lv * 4 + 3).to(tl.float32, bitcast=True)
        o0 = tl.load(frm_ptr + (b * LEVELS + lv) * 3).to(tl.int64)  # the two slices' offsets, the blend weight
        o1 = tl.load(frm_ptr + (b * LEVELS + lv) * 3 + 1).to(tl.int64)
        bw = tl.load(frm_ptr + (b * LEVELS + lv) * 3 + 2).to(tl.float32, bitcast=True)
        src_y = tl.maximum(sh * (hc.to(tl.float32) + 0.5) - 0.5, 0.0)
        src_x = tl.maximum(sw * (wc.to(tl.float32) + 0.5) - 0.5, 0.0)
        y0 = src_y.to(tl.int32)
        x0 = src_x.to(tl.int32)
        ly = src_y - y0.to(tl.float32)
        lx = src_x - x0.to(tl.float32)
        y1 = tl.where(y0 < lh - 1, y0 + 1, y0)
        x1 = tl.where(x0 < lw - 1, x0 + 1, x0)
        a00 = y0 * lw + x0
        a01 = y0 * lw + x1
        a10 = y1 * lw + x0
        a11 = y1 * lw + x1
        v00 = tl.load(g_ptr + o0 + a00) * (1 - bw) + tl.load(g_ptr + o1 + a00) * bw
        v01 = tl.load(g_ptr + o0 + a01) * (1 - bw) + tl.load(g_ptr + o1 + a01) * bw
        v10 = tl.load(g_ptr + o0 + a10) * (1 - bw) + tl.load(g_ptr + o1 + a10) * bw
        v11 = tl.load(g_ptr + o0 + a11) * (1 - bw) + tl.load(g_ptr + o1 + a11) * bw
        v = (1 - ly) * ((1 - lx) * v00 + lx * v01) + ly * ((1 - lx) * v10 + lx * v11)
        feats = tl.where(col[None, :] == lv, v[:, None], feats)

    # the 1x1 layers: (BLOCK, LP) @ (LP, HP), then LAYERS - 1 of (HP, HP), then (HP, 16) to RGB
    kh = tl.arange(0, HP)
    n16 = tl.arange(0, 16)
    w1 = tl.load(w1_ptr + col[:, None] * HP + kh[None, :])
    a = feats.to(DTYPE)
    if UPCAST:
        a = a.to(tl.float32)
        w1 = w1.to(tl.float32)
    h = _act(tl.dot(a, w1, input_precision=PRECISION), ACT)
    for layer in tl.static_range(LAYERS - 1):
        wl = tl.load(wh_ptr + layer * HP * HP + kh[:, None] * HP + kh[None, :])
        hb = h.to(DTYPE)
        if UPCAST:
            hb = hb.to(tl.float32)
            wl = wl.to(tl.float32)
        h = _act(tl.dot(hb, wl, input_precision=PRECISION) + tl.load(bh_ptr + layer * HP + kh)[None, :], ACT)
    w3 = tl.load(w3_ptr + kh[:, None] * 16 + n16[None, :])
    hb = h.to(DTYPE)
    if UPCAST:
        hb = hb.to(tl.float32)
        w3 = w3.to(tl.float32)
    rgb = tl.dot(hb, w3, input_precision=PRECISION) + tl.load(b3_ptr + n16)[None, :]
    rgb = tl.where(inside[:, None], rgb, 0.0)  # the refinement's zero padding outside the padded frame

    # the refinement reads its neighbours back from this program's scratch (a TH×TW image of 4 channels)
    s_base = pid.to(tl.int64) * BLOCK * 4
    tl.store(s_ptr + s_base + m[:, None] * 4 + n16[None, :], rgb, mask=n16[None, :] < 4)
    tl.debug_barrier()
    interior = (i >= 1) & (i < TH - 1) & (j >= 1) & (j < TW - 1)
    r = hp - TOP  # position in the crop
    c = wp - LEFT
    ok = interior & (r < OH) & (c < OW)
    acc = conv_tile(s_ptr, wr_ptr, s_base + m * 4, i, j, ok, n16, n16 < 3, TH, TW, 4, 3, 36,
                    3, "ieee", False, BLOCK, 16, 64)
    v = tl.sigmoid(acc + tl.load(br_ptr + n16)[None, :]) * 255.0
    v = tl.minimum(tl.maximum(tl.floor(v + 0.5), 0.0), 255.0)
    out = ((b.to(tl.int64) * OH + r) * OW + c) * 3
    tl.store(y_ptr + out[:, None] + n16[None, :], v.to(tl.uint8), mask=ok[:, None] & (n16[None, :] < 3))


def _f32_bits(x: torch.Tensor) -> torch.Tensor:
    return x.to(torch.float32).contiguous().view(torch.int32)


class LatentPack:
    """A latent decoder's grids and synthesis packed for the kernel, on one device, in one dtype."""

    def __init__(self, decoder: torch.nn.Module, dtype: torch.dtype):
        if dtype not in SUPPORTED_DTYPES:
            raise ValueError(f"dtype {dtype} is not one of float32, float16, bfloat16")
        syn, a = decoder.synthesis, decoder.arch
        convs = list(syn.mlp)
        hidden = convs[0].out_channels if convs else 3
        if not convs or hidden > MAX_HIDDEN:
            raise ValueError(f"the latent kernel takes 1 to {MAX_HIDDEN} hidden channels and at least one "
                             f"1x1 layer, not {len(convs)} layers of {hidden}")
        grids = [g.detach().float() for g in decoder.latents.grids()]
        dev = grids[0].device
        self.dtype, self.levels, self.layers = dtype, len(grids), len(convs)
        self.size = (int(a["h0"]), int(a["w0"]))
        self.act = 1 if a.get("act", "gelu") == "relu" else 0
        self.t_strides = list(decoder.latents.t_strides)
        self.grid = torch.cat([g.reshape(-1) for g in grids])
        starts = torch.tensor([0] + [g.numel() for g in grids]).cumsum(0)[:-1]
        self.starts, self.slices = starts.tolist(), [g.shape[0] for g in grids]
        self.plane = [g.shape[1] * g.shape[2] for g in grids]
        h, w = self.size
        sizes = torch.tensor([[g.shape[1], g.shape[2]] for g in grids], dtype=torch.int32)
        scales = sizes.float() / torch.tensor([h, w], dtype=torch.float32)  # in / out in fp32, as PyTorch
        self.level_table = torch.cat([sizes, scales.view(torch.int32)], 1).contiguous().to(dev)
        self.lp, self.hp = _pow2(self.levels + 1), _pow2(hidden)
        lp, hp = self.lp, self.hp
        w1 = torch.zeros(lp, hp, device=dev)
        w1[:self.levels, :hidden] = convs[0].weight.detach()[:, :, 0, 0].t()
        w1[self.levels, :hidden] = convs[0].bias.detach()
        wh = torch.zeros(max(len(convs) - 1, 1), hp, hp, device=dev)
        bh = torch.zeros(max(len(convs) - 1, 1), hp, device=dev)
        for k, conv in enumerate(convs[1:]):
            wh[k, :hidden, :hidden] = conv.weight.detach()[:, :, 0, 0].t()
            bh[k, :hidden] = conv.bias.detach()
        w3 = torch.zeros(hp, 16, device=dev)
        w3[:hidden, :3] = syn.to_rgb.weight.detach()[:, :, 0, 0].t()
        b3 = torch.zeros(16, device=dev)
        b3[:3] = syn.to_rgb.bias.detach()
        refine = syn.refine.weight.detach().float().clone()
        refine[:, :, 1, 1] += torch.eye(3, device=dev)  # x + conv(x): the residual in the centre tap
        wr = torch.zeros(3, 3, 4, 3, device=dev)  # (ky, kx, c_in of 4, c_out): conv_tile's K order
        wr[:, :, :3, :] = refine.permute(2, 3, 1, 0)
        br = torch.zeros(16, device=dev)
        br[:3] = syn.refine.bias.detach()
        self.w1, self.wh, self.w3 = w1.to(dtype), wh.to(dtype).contiguous(), w3.to(dtype)
        self.bh, self.b3, self.wr, self.br = bh, b3, wr.reshape(36, 3).contiguous(), br

    def frame_table(self, idx: torch.Tensor) -> torch.Tensor:
        """(B, levels, 3) int32: each frame's two slice offsets into ``grid`` and its blend weight's bits."""
        from ..models.latent import time_weights
        cols = []
        for start, n, plane, stride in zip(self.starts, self.slices, self.plane, self.t_strides):
            if stride == 1:
                i0 = i1 = idx.long()
                w = torch.zeros(idx.shape, device=idx.device)
            else:
                i0, i1, w = time_weights(idx, stride, n)
            cols.append(torch.stack([(start + i0 * plane).to(torch.int32), (start + i1 * plane).to(torch.int32),
                                     _f32_bits(w.to(idx.device))], -1))
        return torch.stack(cols, 1).contiguous()


def scratch_size(batch: int, height: int, width: int) -> int:
    """fp32 values of scratch the largest configuration needs for ``batch`` cropped frames."""
    return max(batch * triton.cdiv(height, c.kwargs["TH"] - 2) * triton.cdiv(width, c.kwargs["TW"] - 2)
               * c.kwargs["TH"] * c.kwargs["TW"] * 4 for c in _CONFIGS)


def latent_decode(pack: LatentPack, idx: torch.Tensor, crop: tuple[int, int, int, int] | None = None,
                  out: torch.Tensor | None = None, scratch: torch.Tensor | None = None) -> torch.Tensor:
    """uint8 frames (B, height, width, 3) of frames ``idx`` (a 1-D integer tensor on the pack's device).

    ``crop`` = (top, left, height, width) of the padded frame (default: all of it)."""
    h, w = pack.size
    top, left, oh, ow = crop if crop is not None else (0, 0, h, w)
    if not (0 <= top and 0 <= left and oh > 0 and ow > 0 and top + oh <= h and left + ow <= w):
        raise ValueError(f"crop {crop} is outside the {h}x{w} frame")
    if idx.dim() != 1 or idx.numel() == 0 or idx.dtype not in (torch.int32, torch.int64):
        raise ValueError(f"idx must be a non-empty 1-D integer tensor, got {tuple(idx.shape)} {idx.dtype}")
    bsz = idx.shape[0]
    shape = (bsz, oh, ow, 3)
    if out is None:
        out = torch.empty(shape, device=pack.grid.device, dtype=torch.uint8)
    elif tuple(out.shape) != shape or out.dtype != torch.uint8 or not out.is_contiguous():
        raise ValueError(f"out must be a contiguous {shape} uint8 tensor")
    need = scratch_size(bsz, oh, ow)
    if scratch is None:
        scratch = torch.empty(need, device=pack.grid.device, dtype=torch.float32)
    elif scratch.numel() < need or scratch.dtype != torch.float32:
        raise ValueError(f"scratch must hold {need} float32 values")
    frames = pack.frame_table(idx)

    def grid(meta):
        ty, tx = triton.cdiv(oh, meta["TH"] - 2), triton.cdiv(ow, meta["TW"] - 2)
        return (bsz * ty * tx,)

    _latent_decode_kernel[grid](
        pack.grid, pack.level_table, frames, pack.w1, pack.wh, pack.bh, pack.w3, pack.b3, pack.wr, pack.br,
        scratch, out, h, w, oh, ow, top, left,
        LEVELS=pack.levels, LP=pack.lp, HP=pack.hp, LAYERS=pack.layers, ACT=pack.act,
        DTYPE=_TL[pack.dtype], PRECISION=dot_precision(pack.dtype), UPCAST=upcast_dot(pack.dtype))
    return out

