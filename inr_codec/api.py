"""The Python API behind the command line: fit(), decode(), decode_stream(), info(), evaluate(), bench().

``fit`` lives in :mod:`inr_codec.fitting`; the helpers re-exported here (sample_clip, resolve_device,
load_video, bpp, ...) live in :mod:`inr_codec.runtime` and :mod:`inr_codec.measure`.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from . import container
from . import threads as thread_policy
from .config import compose
from .container.records import CompressedModel
from .decode.reference import build_decoder, checked_arch, decode_batches
from .errors import BackendError
from .fitting import fit
from .io import check_output, open_writer
from .measure import bpp, measure_file, measure_file_stream
from .preflight import check_reference, parse_frames, video_dims
from .runtime import check_video_memory, device_name, load_video, resolve_device, sample_clip

__all__ = ["bench", "bpp", "check_video_memory", "compose", "decode", "decode_stream", "device_name", "evaluate",
           "fit", "info", "load_video", "measure_file", "measure_file_stream", "parse_frames", "resolve_device",
           "sample_clip"]

log = logging.getLogger("inr_codec")



def decode_stream(model_file, *, backend: str = "auto", device: str = "auto", dtype: str = "fp32",
                  frames: str | tuple[int, int] | None = None, batch_size: int = 8):
    """(record, batches): the file's CompressedModel and a generator of uint8 (B, H, W, 3) numpy batches in order.

    ``model_file`` is a path or a CompressedModel; ``frames`` is "A:B" or (A, B). Everything that can fail
    before decoding (the file, the range, the backend on this device) fails here, not at the first batch.
    Memory stays bounded by a batch or two whatever the video's length.
    """
    from .decode import backend_batches, resolve_backend
    cm = model_file if isinstance(model_file, CompressedModel) else container.read(model_file)
    dev = resolve_device(device)
    backend = resolve_backend(backend, cm, dev, dtype)
    batches_of = backend_batches(backend)
    if backend == "torch" and dtype == "fp16" and dev.type == "cpu":
        raise BackendError("fp16 decoding with the torch backend needs a GPU; use --dtype fp32 or bf16 on the CPU")
    if isinstance(frames, tuple):
        frames = f"{frames[0]}:{frames[1]}"
    rng = parse_frames(frames, cm.video.frames)
    if cm.groups and cm.model.get("name") == "latent":  # closed groups (model.gop): the groups the range touches
        from .decode import latent_groups
        latent_groups.refuse_backend(backend)
        return cm, latent_groups.decode_batches(cm, backend=backend, device=dev, dtype=dtype, frames=rng,
                                                batch_size=batch_size)
    if cm.groups and backend != "torch":
        raise BackendError(f"the {backend} backend decodes single-network models; decode this "
                           f"{cm.model.get('name')} file with --backend torch")
    if cm.groups:
        from .decode.groups import check_arch
        check_arch(cm)  # a damaged file fails here, before the first batch
        prepared = {}
    elif backend == "triton":
        from .decode.triton import build_plan
        prepared = {"plan": build_plan(cm, dev, dtype)}
    else:
        prepared = {"decoder": build_decoder(cm, dev, dtype)}
    return cm, batches_of(cm, device=dev, dtype=dtype, frames=rng, batch_size=batch_size, **prepared)


def decode(model_file: str | Path | CompressedModel, out: str | Path, *, backend: str = "auto", device: str = "auto",
           dtype: str = "fp32", frames: str | None = None, batch_size: int = 8, threads=None) -> dict:
    """Decode model.bin (a path, or the file as ``container.read`` gave it) to a video file (the output's
    extension picks the format) or a PNG folder.
    ``threads``: intra-op CPU threads (None or "auto": inr_codec.threads decides; OMP_NUM_THREADS wins)."""
    with thread_policy.kept():
        chosen = thread_policy.configure(threads, what="--threads", command="decode")
        return _decode(model_file, out, backend, device, dtype, frames, batch_size, chosen)


def _decode(model_file, out, backend: str, device: str, dtype: str, frames, batch_size: int, chosen) -> dict:
    check_output(out)  # a bad output path fails now, not after decoding every frame
    t0 = time.perf_counter()
    from .decode import resolve_backend
    cm, batches = decode_stream(model_file, backend=backend, device=device, dtype=dtype, frames=frames,
                                batch_size=batch_size)
    backend = resolve_backend(backend, cm, resolve_device(device), dtype)  # the one auto chose, for the summary
    v = cm.video
    lo, hi = parse_frames(frames, v.frames) or (0, v.frames)
    # Each batch goes to the writer as it is decoded: memory holds a batch, not the video; the
    # output appears only once every frame is in (a failure leaves nothing at ``out``).
    seconds, n = time.perf_counter() - t0, 0  # reading the file and building the decoder count as decoding
    with open_writer(out, v.fps, total=hi - lo) as writer:
        while True:
            t = time.perf_counter()
            batch = next(batches, None)
            seconds += time.perf_counter() - t  # decoding only, not writing
            if batch is None:
                break
            writer.write(batch)
            n += len(batch)
    return {"file": str(out), "frames": n, "width": v.width, "height": v.height,
            "fps": str(v.fps), "decode_seconds": round(seconds, 3), "backend": backend, "dtype": dtype,
            "device": str(resolve_device(device)), "threads": chosen.threads, "threads_why": chosen.why}


def info(model_file: str | Path) -> dict:
    """Header, model, video metadata and the bytes of every section of a model.bin."""
    path = Path(model_file)
    cm = container.read(path)
    nbytes = path.stat().st_size
    with open(path, "rb") as f:
        preamble = f.read(6)  # magic, then the format's major and minor version
    v = cm.video
    return {
        "file": str(path), "format": f"{preamble[4]}.{preamble[5]}", "bytes": nbytes, "bpp": bpp(nbytes, v),
        "video": {"width": v.width, "height": v.height, "frames": v.frames, "fps": str(v.fps),
                  "padded": f"{v.pad_width}x{v.pad_height}", "crop": f"+{v.crop_left}+{v.crop_top}",
                  "colour": v.colour, "source_pix_fmt": v.source_pix_fmt},
        "model": cm.model,
        "params": sum(int(np.prod(t.shape)) for t in cm.tensors if t.name != "embeddings"),
        "macs_per_pixel": _macs_per_pixel(cm),
        "tensors": [_tensor_report(t) for t in cm.tensors],
        "sections": [{"name": n, "bytes": b} for n, b in container.section_sizes(path)],
        "extra": cm.extra,
        **(_groups_report(cm) if cm.groups else {}),
    }


def _macs_per_pixel(cm: CompressedModel) -> float:
    """The decoder's multiply-accumulates per delivered pixel (models/macs.py), from the file's architecture,
    checked first as decoding checks it: a damaged header is a one-line error, not a failure to build."""
    from .models.macs import macs_per_pixel
    if cm.groups and cm.model.get("name") == "latent":  # closed groups: each group's, weighted by its frames
        from .decode.latent_groups import macs_per_pixel as group_macs
        return round(group_macs(cm), 1)
    if cm.groups:
        from .decode.groups import check_arch
        name, arch = cm.model["name"], check_arch(cm)
    else:
        cls, arch = checked_arch(cm)
        name = cls.name
    return round(macs_per_pixel(name, arch, cm.video.width, cm.video.height), 1)


def _groups_report(cm: CompressedModel) -> dict:
    """A group-wise file: one network's parameters, and per group its frames, segment, bits and stored bytes."""
    from .compress.entropy import table_bytes
    rows, segment = [], -1
    for g in cm.groups:
        segment += g.key
        weights = [t for t in g.tensors if len(t.shape) > 1] or g.tensors
        rows.append({"index": g.index, "frames": f"{g.start}-{g.start + g.frames - 1}", "key": g.key,
                     "segment": segment, "bits": max(t.bits for t in weights),
                     "bytes": sum(len(t.payload) + table_bytes(t.frequencies) for t in g.tensors)})
    return {"params": sum(int(np.prod(t.shape)) for t in cm.groups[0].tensors), "groups": rows,
            "tensors": [_tensor_report(t) for t in cm.groups[0].tensors]}


def _tensor_report(t) -> dict:
    """One tensor's rate: the file's actual bytes against the ideal (entropy) and a Huffman code."""
    from .compress.codec import decode_symbols
    from .compress.entropy import estimate_bits, huffman_bits, table_bytes
    from .compress.entropy_models import MODELS
    from .container.format import uvar_bytes
    symbols = decode_symbols(t)
    # The rate the entropy model estimates for the stored symbols (learned models: what training minimised,
    # under the decoder's integer tables; a stored table: its own code length).
    table = table_bytes(t.frequencies)
    if t.coder in MODELS:  # the models' stored parameters take the table's place
        model_bits = MODELS[t.coder].estimate_bits(symbols, list(t.params))
        table = sum(len(uvar_bytes(int(p))) for p in [len(t.params) // 2, *t.params])
    else:
        model_bits = estimate_bits(symbols) if t.coder == "range" else 8 * len(t.payload)
    return {"name": t.name, "shape": list(t.shape), "bits": t.bits, "coder": t.coder,
            "model_bytes": round(model_bits / 8, 1),
            "payload_bytes": len(t.payload), "table_bytes": table,
            "entropy_bytes": round(estimate_bits(symbols) / 8, 1), "huffman_bytes": -(-huffman_bits(symbols) // 8),
            "zeros": round(float(np.mean(symbols == 0)) if symbols.size else 0.0, 4)}


def evaluate(model_file: str | Path, ref: str | Path, *, overrides=(), device: str = "auto",
             metrics=("psnr", "msssim"), csv: str | Path | None = None, plots: str | Path | None = None,
             lpips_net=None, threads=None) -> dict:
    """Decode the file and measure it against a reference video (see docs/metrics.md).

    ``metrics``: any of psnr (RGB, plus Y/U/V and the 6:1:1 average in BT.709), msssim, lpips.
    Returns the means over frames, bpp from the file size and the worst frame; ``csv`` writes the
    per-frame values, ``plots`` a folder with a per-frame PSNR plot and the worst frame's image.
    """
    with thread_policy.kept():
        chosen = thread_policy.configure(threads, what="--threads", command="eval")
        return _evaluate(model_file, ref, overrides, device, metrics, csv, plots, lpips_net, chosen)


def _evaluate(model_file, ref, overrides, device: str, metrics, csv, plots, lpips_net, chosen) -> dict:
    from .bench.evaluate import measure_batches, worst_key
    from .metrics.frames import parse_metrics, write_csv
    metrics = parse_metrics(",".join(metrics)) if not isinstance(metrics, str) else parse_metrics(metrics)
    cm = container.read(model_file)
    cfg = compose(overrides, only=("data",), command="eval")
    v = cm.video
    check_reference(model_file, v, ref, video_dims(ref, cfg), overrides)  # before reading every frame
    video = load_video(ref, cfg)
    dev = resolve_device(device)
    per_frame, worst, worst_img = measure_batches(decode_batches(cm, device=dev), video.frames, metrics,
                                                  device=dev, lpips_net=lpips_net)
    nbytes = Path(model_file).stat().st_size
    result = {"file": str(model_file), "ref": str(ref), "frames": v.frames, "bytes": nbytes, "bpp": bpp(nbytes, v),
              **{k: float(np.mean(a)) for k, a in per_frame.items()},
              "worst_frame": {"index": worst, "by": worst_key(per_frame)[0],
                              **{k: float(a[worst]) for k, a in per_frame.items()}},
              "colour": "PSNR psnr: RGB; psnr_y/u/v/yuv: BT.709 limited-range Y'CbCr 4:4:4, yuv = (6Y+U+V)/8",
              "threads": chosen.threads, "threads_why": chosen.why}
    if csv is not None:
        write_csv(csv, per_frame)
        result["csv"] = str(csv)
    if plots is not None:
        from .bench.plots import write_eval_plots
        result["plots"] = write_eval_plots(plots, per_frame, video.frames[worst], worst_img, worst,
                                           title=f"{Path(model_file).name} against {Path(str(ref)).name}")
    return result


def bench(video: str | Path | None = None, *, codecs: str = "x264,x265,av1", crfs=None, inr=(), out=None,
          metrics=("psnr", "msssim"), device: str = "cpu", overrides=(), anchors_csv=None, plots: bool = True,
          progress=print, threads=None) -> dict:
    """Rate-distortion points of x264/x265/SVT-AV1 on the video's frames, the INR points of fit runs,
    BD-rate of every curve against every anchor, CSV, JSON and RD plots (see docs/experiments.md)."""
    from .bench.run import run
    from .metrics.frames import parse_metrics
    with thread_policy.kept():
        chosen = thread_policy.configure(threads, what="--threads", command="bench")
        progress(f"bench: {chosen.describe()}")
        metrics = parse_metrics(metrics if isinstance(metrics, str) else ",".join(metrics))
        return run(video if video is not None else sample_clip(), codecs=codecs, crfs=crfs, inr=inr, out_dir=out,
                   metrics=metrics, device=str(resolve_device(device)), overrides=overrides,
                   anchors_csv=anchors_csv, plots=plots, progress=progress)
