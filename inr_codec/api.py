"""The Python API behind the command line: fit(), decode(), info(), evaluate()."""
from __future__ import annotations

import hashlib
import logging
import os
import platform
import time
from fractions import Fraction
from importlib import resources
from pathlib import Path

import numpy as np
import torch
from omegaconf import OmegaConf

from . import __version__, container
from .compress.pipeline import compress_decoder
from .compress.target import plan_params, prune_to_target, target_bytes
from .config import compose, model_settings, parse_fps, validate
from .container.records import CompressedModel, VideoMeta
from .data import FrameSet
from .decode.reference import build_decoder, decode_batches
from .errors import BackendError, InputError
from .io import Video, centre_crop, check_output, open_writer, parse_crop, probe_video, read_video
from .models import get_model_class
from .resources import check_fit_memory
from .runs import attach_log, check_writable, detach_log, new_run_dir, write_json
from .train import Trainer, distributed
from .train.phases import budget_share, compression_phases

log = logging.getLogger("inr_codec")

SAMPLE_CLIP = "bunny_256x144_48f.mkv"


def sample_clip() -> Path:
    """The bundled sample: 48 frames of Big Buck Bunny at 256x144 (c) Blender Foundation, CC-BY 3.0."""
    return Path(str(resources.files("inr_codec.assets") / SAMPLE_CLIP))


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise InputError(f"device={name} is not a device; use auto, cpu, cuda or cuda:N") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise BackendError(f"device={name} asked for, but this machine has no usable CUDA GPU; use device=cpu")
    if dev.type not in ("cpu", "cuda"):
        raise InputError(f"device={name} is not supported; use auto, cpu, cuda or cuda:N")
    return dev


def load_video(path: str | Path, cfg) -> Video:
    d = cfg.data
    video = read_video(str(path), width=d.width, height=d.height, pix_fmt=d.pix_fmt, fps=parse_fps(d.fps),
                       max_frames=d.max_frames, start=d.start or 0)
    crop = parse_crop(d.get("crop"))
    return centre_crop(video, *crop) if crop else video


def check_video_memory(path: str | Path, cfg) -> None:
    """Refuse up front (with the numbers) a video whose frames would not fit in memory."""
    d = cfg.data
    n, h, w, _ = probe_video(str(path), width=d.width, height=d.height, pix_fmt=d.pix_fmt, fps=parse_fps(d.fps),
                             max_frames=d.max_frames, start=d.start or 0)
    check_fit_memory(path, n, h, w)


def bpp(nbytes: int, video: VideoMeta) -> float:
    """Bits per pixel of a file: 8 × bytes / (width × height × frames)."""
    return 8.0 * nbytes / (video.width * video.height * video.frames)


def _fingerprint(video: Video, cfg, arch: dict) -> dict:
    # sha1 of a buffer view: no copy of the frames  # noqa: S324 (identity, not security)
    digest = hashlib.sha1(memoryview(np.ascontiguousarray(video.frames))).hexdigest()[:16]  # noqa: S324
    return {"video": f"{video.width}x{video.height}x{video.num_frames} sha1:{digest}",
            "architecture": repr(sorted(arch.items())), "seed": int(cfg.seed),
            "loss": cfg.train.loss, "batch_size": int(cfg.train.batch_size)}


def fit(video_path: str | Path | None = None, overrides=(), *, out: str | Path | None = None,
        resume: str | Path | None = None, outputs_root: str | Path = "outputs", show_progress: bool = True) -> dict:
    """Fit, compress and write model.bin; returns the summary (also written as summary.json)."""
    run_dir = None
    if resume is not None and distributed.world_size() > 1:
        raise InputError("--resume runs in one process; resume without torchrun (the checkpoint is rank 0's)")
    if resume is not None:
        run_dir = Path(resume)
        saved = run_dir / "config.yaml"
        if not saved.is_file():
            raise InputError(f"cannot resume: {run_dir} is not a fit run directory (no config.yaml)")
        state = OmegaConf.load(saved)
        if video_path is not None and Path(video_path).resolve() != Path(state.video).resolve():
            raise InputError(f"cannot resume: {run_dir} fitted {state.video}, not {video_path}")
        video_path = state.video
        overrides = list(state.overrides) + list(overrides)
        out = out if out is not None else state.get("out")
    video_path = Path(video_path) if video_path is not None else sample_clip()
    cfg = compose(overrides)
    validate(cfg)
    device = distributed.init(resolve_device(cfg.device))  # under torchrun: join the group; cuda:LOCAL_RANK
    main = distributed.is_main()  # only rank 0 writes (run directory, log, checkpoints, model.bin)
    out_path = Path(out) if out is not None else None
    if out_path is not None:
        check_writable(out_path)
    if cfg.model.name == "nirvana":  # group-wise: its own loop (train/groups.py), no resume
        if resume is not None:
            raise InputError("--resume does not apply to model=nirvana (its groups are fitted in one pass); fit again")
        return _fit_groups(video_path, cfg, list(overrides), device, out_path, Path(outputs_root), show_progress)

    check_video_memory(video_path, cfg)
    video = load_video(video_path, cfg)
    torch.manual_seed(int(cfg.seed))
    np.random.seed(int(cfg.seed))
    settings = model_settings(cfg, video.num_frames, video.height, video.width)
    target = target_bytes(cfg.compress, video.width, video.height, video.num_frames)
    if target is not None and cfg.model.size_m in ("auto", None):
        settings["size_m"] = _size_for_target(settings, target, cfg.compress, video)
    cls = get_model_class(settings["name"])
    model = cls.create(settings, video.num_frames, video.height, video.width).to(device)
    arch = model.arch
    scale = int(np.prod(arch["strides"]))
    pad_h, pad_w = arch["h0"] * scale, arch["w0"] * scale
    frames = FrameSet(video.frames, pad_h, pad_w, device)

    if run_dir is None and main:
        run_dir = new_run_dir(Path(outputs_root), video_path.stem)
    model_file = out_path or (run_dir / "model.bin" if main else None)
    record = {"video": str(video_path.resolve()), "overrides": list(overrides),
              "out": str(out_path) if out_path else None, "version": __version__,
              "config": OmegaConf.to_container(cfg, resolve=True)}
    if resume is None and main:
        OmegaConf.save(OmegaConf.create(record), run_dir / "config.yaml")
    handler = attach_log(run_dir) if main else None
    show_progress = show_progress and main
    try:
        log.info("inrcodec %s: fitting %s (%dx%d, %d frames, %s fps) with %s, %d decoder parameters, on %s",
                 __version__, video_path, video.width, video.height, video.num_frames, video.fps,
                 cls.name, model.decoder_params(), device)
        log.info("architecture %s; frames padded to %dx%d", arch, pad_w, pad_h)
        fingerprint = _fingerprint(video, cfg, arch)
        # Under train.budget_s the fit gets its share of the budget, the fine-tuning phases the rest.
        fit_cfg = OmegaConf.merge(cfg.train, {"budget_s": budget_share(cfg, "fit", _planned_prune(cfg, target))})
        trainer = Trainer(model, frames, fit_cfg, seed=int(cfg.seed), run_dir=run_dir,
                          fingerprint=fingerprint, show_progress=show_progress)
        ckpt = run_dir / "checkpoints" / "fit.pt" if main else None
        if resume is not None and ckpt.is_file():
            trainer.resume(ckpt)
        if resume is not None:  # only now: a refused resume leaves the run's config as it was
            OmegaConf.save(OmegaConf.create(record), run_dir / "config.yaml")
        state = trainer.fit()

        decoder = model.export_decoder(frames.batch)
        meta = VideoMeta(width=video.width, height=video.height, frames=video.num_frames, fps=Fraction(video.fps),
                         pad_width=pad_w, pad_height=pad_h, source_pix_fmt=video.source_pix_fmt)
        psnr_fp32 = _measure(CompressedModel(video=meta, model={}), video.frames, device, ("psnr",),
                             decoder=decoder)["psnr"] if main else None
        notes = {"inrcodec": __version__, "epochs": state.epoch, "seed": int(cfg.seed)}

        def build(prune_fraction: float) -> CompressedModel:
            return compress_decoder(decoder, cls.name, arch, meta, cfg.compress, extra=notes, prune=prune_fraction)

        pruned = float(cfg.compress.prune)
        if target is not None:  # how much pruning the target needs, so the fine-tuning phases can heal it
            _, _, pruned = prune_to_target(build, target, already=pruned)
        finetune_s = compression_phases(decoder, frames, cfg, run_dir=run_dir, seed=int(cfg.seed),
                                        fingerprint=fingerprint, show_progress=show_progress,
                                        resume=resume is not None, prune_fraction=pruned)
        if not main:  # every rank holds the same weights now; rank 0 writes, the others wait for its summary
            return distributed.broadcast_object(None)
        if target is None:
            cm = build(0.0)  # the phases have pruned already
        else:  # fine-tuning moved the weights: land the real file within the tolerance again
            cm, _, pruned = prune_to_target(build, target, already=pruned)
        nbytes = container.write(model_file, cm)
        # The figure we report is measured by decoding the file we wrote, not the model in memory.
        written = container.read(model_file)
        measured = _measure(written, video.frames, device, ("psnr", "msssim"))
        psnr_file, msssim_file = measured["psnr"], measured["msssim"]
        summary = {
            "file": str(model_file), "bytes": nbytes, "bpp": bpp(nbytes, meta), "psnr": psnr_file,
            "psnr_before_compression": psnr_fp32, "msssim": msssim_file, "frames": meta.frames, "width": meta.width,
            "height": meta.height, "fps": str(meta.fps), "params": model.decoder_params(),
            "stored_values": sum(int(np.prod(t.shape)) for t in cm.tensors),
            "fit_seconds": round(state.elapsed_s + finetune_s, 2), "epochs": state.epoch,
            "finetune_seconds": round(finetune_s, 2), "device": device_name(device),
            "model": cls.name, "bits": int(cfg.compress.bits), "prune": round(pruned, 4),
            "target_bytes": target, "video": str(video_path), "run_dir": str(run_dir), "inrcodec": __version__,
            "processes": distributed.world_size(),
        }
        write_json(run_dir / "summary.json", summary)
        log.info("wrote %s: %d bytes, %.4f bpp, PSNR %.2f dB (before compression %.2f dB)",
                 model_file, nbytes, summary["bpp"], psnr_file, psnr_fp32)
        return distributed.broadcast_object(summary)
    finally:
        if handler is not None:
            detach_log(handler)


def _fit_groups(video_path: Path, cfg, overrides: list, device, out_path: Path | None, outputs_root: Path,
                show_progress: bool) -> dict:
    """model=nirvana: fit group by group (memory bounded by a group), write, and measure the written file."""
    from .io import iter_video
    from .io.video import centre_crop_frames
    from .models.nirvana import Nirvana, pad_size
    from .train.groups import fit_groups
    d = cfg.data
    sel = dict(width=d.width, height=d.height, pix_fmt=d.pix_fmt, fps=parse_fps(d.fps), max_frames=d.max_frames,
               start=d.start or 0)
    n, h, w, fps = probe_video(str(video_path), **sel)
    crop = parse_crop(d.get("crop"))
    if crop and (crop[0] > w or crop[1] > h):
        raise InputError(f"cannot crop {video_path} ({w}x{h}) to {crop[0]}x{crop[1]}: the crop must fit inside "
                         f"the frame")
    w, h = crop or (w, h)

    def chunks(size: int):  # the input, a group at a time, cropped as asked
        for c in iter_video(str(video_path), chunk=size, **sel):
            yield centre_crop_frames(c, w, h, video_path) if crop else c

    arch = Nirvana.solve_arch(OmegaConf.to_container(cfg.model, resolve=True), n, h, w)
    check_fit_memory(video_path, min(n, arch["gop"]), h, w)  # one group at a time
    pix = read_video(str(video_path), **dict(sel, max_frames=1)).source_pix_fmt
    pad_h, pad_w = pad_size(arch)
    meta = VideoMeta(width=w, height=h, frames=n, fps=Fraction(fps), pad_width=pad_w, pad_height=pad_h,
                     source_pix_fmt=pix)
    main = distributed.is_main()
    run_dir = new_run_dir(outputs_root, video_path.stem) if main else None
    model_file = out_path or (run_dir / "model.bin" if main else None)
    if main:
        OmegaConf.save(OmegaConf.create({"video": str(video_path.resolve()), "overrides": overrides,
                                         "out": str(out_path) if out_path else None, "version": __version__,
                                         "config": OmegaConf.to_container(cfg, resolve=True)}), run_dir / "config.yaml")
    handler = attach_log(run_dir) if main else None
    try:
        log.info("inrcodec %s: fitting %s (%dx%d, %d frames, %s fps) with nirvana in groups of %d frames, "
                 "%d processes, on %s", __version__, video_path, w, h, n, fps, arch["gop"], distributed.world_size(),
                 device)
        t0 = time.perf_counter()
        groups, stats = fit_groups(chunks(arch["gop"]), n, arch, cfg, device)
        fit_s = time.perf_counter() - t0
        if not main:
            return distributed.broadcast_object(None)
        notes = {"inrcodec": __version__, "seed": int(cfg.seed), "key_steps": int(cfg.model.key_steps),
                 "steps": int(cfg.model.steps)}
        cm = CompressedModel(video=meta, model={"name": "nirvana", **arch}, groups=groups, extra=notes)
        nbytes = container.write(model_file, cm)
        written = container.read(model_file)  # the reported quality is the written file's
        measured = _measure_stream(written, chunks(arch["gop"]), device)
        params = sum(int(np.prod(t.shape)) for t in groups[0].tensors)
        summary = {
            "file": str(model_file), "bytes": nbytes, "bpp": bpp(nbytes, meta), "psnr": measured["psnr"],
            "psnr_before_compression": None, "msssim": measured["msssim"], "frames": n, "width": w, "height": h,
            "fps": str(meta.fps), "params": params, "stored_values": params * len(groups),
            "groups": len(groups), "segments": -(-len(groups) // arch["segment"]),
            "group_stats": stats, "fit_seconds": round(fit_s, 2), "epochs": None,
            "device": device_name(device), "model": "nirvana", "bits": int(cfg.compress.bits), "prune": 0.0,
            "target_bytes": None, "video": str(video_path), "run_dir": str(run_dir), "inrcodec": __version__,
            "processes": distributed.world_size(),
        }
        write_json(run_dir / "summary.json", summary)
        log.info("wrote %s: %d bytes, %.4f bpp, PSNR %.2f dB, %d groups", model_file, nbytes, summary["bpp"],
                 summary["psnr"], len(groups))
        return distributed.broadcast_object(summary)
    finally:
        if handler is not None:
            detach_log(handler)


def _measure_stream(cm: CompressedModel, chunks, device, metrics=("psnr", "msssim")) -> dict[str, float]:
    """Mean metrics of a group-wise file against the source read chunk by chunk (chunk = gop = a group, and
    decoded batches of gop frames never cross a group, so they line up)."""
    from .metrics.frames import FrameMeter
    cols: dict[str, list] = {}
    batches = decode_batches(cm, device=device, batch_size=cm.model["gop"])
    for ref in chunks:
        meter = FrameMeter(ref, metrics, device=device)
        meter.add(next(batches))
        for k, v in meter.per_frame().items():
            cols.setdefault(k, []).append(v)
    return {k: float(np.mean(np.concatenate(v))) for k, v in cols.items()}


@torch.no_grad()
def _measure(cm: CompressedModel, source: np.ndarray, device, metrics, decoder=None) -> dict[str, float]:
    """Mean metrics of the decoded frames against the source, one batch in memory at a time.

    With ``decoder`` (an in-memory network) the frames are converted exactly as the file's are.
    """
    from .metrics.frames import FrameMeter
    meter = FrameMeter(source, metrics, device=device)
    for batch in decode_batches(cm, device=device, decoder=decoder):
        meter.add(batch)
    return meter.means()


def _planned_prune(cfg, target: int | None) -> float:
    """The pruning fraction the phases will use, as far as it is known before fitting (a rate target
    decides it after the fit; it is then positive, which is all the budget split needs)."""
    return float(cfg.compress.prune) if target is None else max(float(cfg.compress.prune), 0.01)


def _size_for_target(settings: dict, target: int, ccfg, video: Video) -> float:
    """Decoder size (millions) for a target file size, counting HNeRV's stored embeddings."""
    per_frame = 0
    if settings["name"] == "hnerv":
        arch = get_model_class("hnerv").solve_arch(dict(settings, size_m=0.01), video.num_frames, video.height,
                                                   video.width)
        per_frame = arch["embed_dim"] * arch["h0"] * arch["w0"]
    embed_bits = per_frame * video.num_frames * int(ccfg.embed_bits)
    stored = int(embed_bits / max(int(ccfg.bits), 1))  # embeddings expressed in weight-equivalents
    return plan_params(target, ccfg, stored_overhead_values=stored)


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)"


def parse_frames(spec: str | None, total: int) -> tuple[int, int] | None:
    """'A:B' (either side may be empty) → (A, B) within 0..total."""
    if spec is None:
        return None
    try:
        a, b = spec.split(":")
        lo, hi = int(a) if a else 0, int(b) if b else total
    except ValueError:
        raise InputError(f"--frames {spec} is not a range; use A:B, e.g. --frames 0:10") from None
    if not 0 <= lo < hi <= total:
        raise InputError(f"--frames {spec} is outside the video's 0:{total}")
    return lo, hi


def decode_stream(model_file, *, backend: str = "torch", device: str = "auto", dtype: str = "fp32",
                  frames: str | tuple[int, int] | None = None, batch_size: int = 8):
    """(record, batches): the file's CompressedModel and a generator of uint8 (B, H, W, 3) numpy batches in order.

    ``model_file`` is a path or a CompressedModel; ``frames`` is "A:B" or (A, B). Everything that can fail
    before decoding (the file, the range, the backend on this device) fails here, not at the first batch.
    Memory stays bounded by a batch or two whatever the video's length.
    """
    from .decode import backend_batches
    cm = model_file if isinstance(model_file, CompressedModel) else container.read(model_file)
    batches_of = backend_batches(backend)
    dev = resolve_device(device)
    if backend == "torch" and dtype == "fp16" and dev.type == "cpu":
        raise BackendError("fp16 decoding with the torch backend needs a GPU; use --dtype fp32 or bf16 on the CPU")
    if isinstance(frames, tuple):
        frames = f"{frames[0]}:{frames[1]}"
    rng = parse_frames(frames, cm.video.frames)
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


def decode(model_file: str | Path, out: str | Path, *, backend: str = "torch", device: str = "auto",
           dtype: str = "fp32", frames: str | None = None, batch_size: int = 8) -> dict:
    """Decode model.bin to a video file (the output's extension picks the format) or a PNG folder."""
    check_output(out)  # a bad output path fails now, not after decoding every frame
    t0 = time.perf_counter()
    cm, batches = decode_stream(model_file, backend=backend, device=device, dtype=dtype, frames=frames,
                                batch_size=batch_size)
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
            "device": str(resolve_device(device))}


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
        "tensors": [_tensor_report(t) for t in cm.tensors],
        "sections": [{"name": n, "bytes": b} for n, b in container.section_sizes(path)],
        "extra": cm.extra,
        **(_groups_report(cm) if cm.groups else {}),
    }


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
    symbols = decode_symbols(t)
    return {"name": t.name, "shape": list(t.shape), "bits": t.bits, "coder": t.coder,
            "payload_bytes": len(t.payload), "table_bytes": table_bytes(t.frequencies),
            "entropy_bytes": round(estimate_bits(symbols) / 8, 1), "huffman_bytes": -(-huffman_bits(symbols) // 8),
            "zeros": round(float(np.mean(symbols == 0)) if symbols.size else 0.0, 4)}


def evaluate(model_file: str | Path, ref: str | Path, *, overrides=(), device: str = "auto",
             metrics=("psnr", "msssim"), csv: str | Path | None = None, plots: str | Path | None = None,
             lpips_net=None) -> dict:
    """Decode the file and measure it against a reference video (see docs/metrics.md).

    ``metrics``: any of psnr (RGB, plus Y/U/V and the 6:1:1 average in BT.709), msssim, lpips.
    Returns the means over frames, bpp from the file size and the worst frame; ``csv`` writes the
    per-frame values, ``plots`` a folder with a per-frame PSNR plot and the worst frame's image.
    """
    from .bench.evaluate import measure_batches, worst_key
    from .metrics.frames import parse_metrics, write_csv
    metrics = parse_metrics(",".join(metrics)) if not isinstance(metrics, str) else parse_metrics(metrics)
    cm = container.read(model_file)
    cfg = compose(overrides)
    video = load_video(ref, cfg)
    v = cm.video
    if (video.width, video.height, video.num_frames) != (v.width, v.height, v.frames):
        raise InputError(f"reference {ref} is {video.width}x{video.height}x{video.num_frames} but the file holds "
                         f"{v.width}x{v.height}x{v.frames}; give the video the file was fitted on")
    dev = resolve_device(device)
    per_frame, worst, worst_img = measure_batches(decode_batches(cm, device=dev), video.frames, metrics,
                                                  device=dev, lpips_net=lpips_net)
    nbytes = Path(model_file).stat().st_size
    result = {"file": str(model_file), "ref": str(ref), "frames": v.frames, "bytes": nbytes, "bpp": bpp(nbytes, v),
              **{k: float(np.mean(a)) for k, a in per_frame.items()},
              "worst_frame": {"index": worst, "by": worst_key(per_frame)[0],
                              **{k: float(a[worst]) for k, a in per_frame.items()}},
              "colour": "PSNR psnr: RGB; psnr_y/u/v/yuv: BT.709 limited-range Y'CbCr 4:4:4, yuv = (6Y+U+V)/8"}
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
          progress=print) -> dict:
    """Rate-distortion points of x264/x265/SVT-AV1 on the video's frames, the INR points of fit runs,
    BD-rate of every curve against every anchor, CSV, JSON and RD plots (see docs/benchmarks.md)."""
    from .bench.run import run
    from .metrics.frames import parse_metrics
    metrics = parse_metrics(metrics if isinstance(metrics, str) else ",".join(metrics))
    return run(video if video is not None else sample_clip(), codecs=codecs, crfs=crfs, inr=inr, out_dir=out,
               metrics=metrics, device=str(resolve_device(device)), overrides=overrides, anchors_csv=anchors_csv,
               plots=plots, progress=progress)
