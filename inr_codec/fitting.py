"""``inrcodec fit``: fit, compress, write model.bin and measure the written file.

One network for the whole clip (HNeRV, NeRV: ``train.Trainer`` then the compression phases) or,
for NIRVANA, group by group (``train.groups``), with the run directory, log, checkpoints and
summary.json around either.
"""
from __future__ import annotations

import hashlib
import logging
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch
from omegaconf import OmegaConf

from . import __version__, container
from . import threads as thread_policy
from .compress import learned_quant
from .compress.pipeline import EMBEDDINGS, check_settings, compress_decoder
from .compress.target import LEARNED_BITS_PER_WEIGHT, plan_params, prune_to_target, steps_to_target, target_bytes
from .config import MEASURES, compose, model_settings, validate
from .container.records import CompressedModel, VideoMeta
from .data import FrameSet
from .errors import FitInterrupted, InputError
from .group_run import NAMES as _NAMES
from .group_run import GroupInput, write_and_measure
from .io import Video, probe_video
from .measure import Worst, bpp, measure_file, measure_worst
from .models import get_model_class
from .preflight import RESUME_ONE_PROCESS, run_record
from .resources import check_fit_memory
from .runs import attach_log, check_writable, detach_log, new_run_dir, write_json, write_yaml
from .runtime import check_video_memory, device_name, load_video, resolve_device, sample_clip, video_selection
from .stages import Stages
from .train import Trainer, candidates, distributed
from .train.phases import budget_share, compression_phases
from .words import plural

log = logging.getLogger("inr_codec")


def fit(video_path: str | Path | None = None, overrides=(), *, out: str | Path | None = None,
        resume: str | Path | None = None, outputs_root: str | Path = "outputs", show_progress: bool = True) -> dict:
    """Fit, compress and write model.bin; returns the summary (also written as summary.json). The fit runs
    on the threads ``threads=`` decides (inr_codec/threads.py); the caller's thread count is kept."""
    with thread_policy.kept():
        return _fit(video_path, overrides, out=out, resume=resume, outputs_root=outputs_root,
                    show_progress=show_progress)


def _fit(video_path, overrides, *, out, resume, outputs_root, show_progress: bool) -> dict:
    run_dir = None
    if resume is not None and distributed.world_size() > 1:
        raise InputError(RESUME_ONE_PROCESS)
    if resume is not None:
        run_dir = Path(resume)
        state = run_record(run_dir, video_path)
        video_path = state.video
        overrides = list(state.overrides) + list(overrides)
        out = out if out is not None else state.get("out")
    video_path = Path(video_path) if video_path is not None else sample_clip()
    cfg = compose(overrides)
    validate(cfg)
    threads = thread_policy.configure(cfg.threads, command="fit")  # before the first parallel op (inr_codec/threads.py)
    device = distributed.init(resolve_device(cfg.device))  # under torchrun: join the group; cuda:LOCAL_RANK
    main = distributed.is_main()  # only rank 0 writes (run directory, log, checkpoints, model.bin)
    out_path = Path(out) if out is not None else None
    if out_path is not None:
        check_writable(out_path)
    from .train.latent_groups import gop_of
    gop = gop_of(cfg)  # model=latent model.gop=N: closed groups (fitting_gop.py), resumable group by group
    if gop is not None:
        from .fitting_gop import fit_gop
        return fit_gop(video_path, cfg, gop, list(overrides), device, out_path, Path(outputs_root), run_dir, threads,
                       show_progress)
    if cfg.model.name == "nirvana":  # group-wise: its own loop (train/groups.py), resumable group by group
        return _fit_groups(video_path, cfg, list(overrides), device, out_path, Path(outputs_root), run_dir, threads,
                           show_progress)

    stages = Stages(show_progress and main)
    check_video_memory(video_path, cfg)
    n_frames = probe_video(str(video_path), **video_selection(cfg))[0]
    with stages.frames(f"reading {video_path} ({plural(n_frames, 'frame')})", n_frames, "reading") as bar:
        video = load_video(video_path, cfg, progress=bar.update if stages.show else None)
    torch.manual_seed(int(cfg.seed))
    np.random.seed(int(cfg.seed))
    settings = model_settings(cfg, video.num_frames, video.height, video.width)
    target = target_bytes(cfg.compress, video.width, video.height, video.num_frames)
    if target is not None and cfg.model.size_m in ("auto", None):
        settings["size_m"] = _size_for_target(settings, target, cfg.compress, video)
    cls = get_model_class(settings["name"])
    model = cls.create(settings, video.num_frames, video.height, video.width).to(device)
    arch = model.arch
    check_settings(cfg.compress, list(model.decoder.state_dict()))  # e.g. layer_bits naming no layer: before fitting
    frames = padded_frames(arch, video.frames, device)
    pad_h, pad_w = frames.pad_height, frames.pad_width

    if run_dir is None and main:
        run_dir = new_run_dir(Path(outputs_root), video_path.stem)
    model_file = out_path or (run_dir / "model.bin" if main else None)
    record = _run_record(video_path, overrides, out_path, cfg)
    if resume is None and main:
        write_yaml(run_dir / "config.yaml", record)
    handler = attach_log(run_dir) if main else None
    show_progress = show_progress and main
    try:
        log.info("inrcodec %s: fitting %s (%dx%d, %s, %s fps) with %s, %d decoder parameters, on %s",
                 __version__, video_path, video.width, video.height, plural(video.num_frames, "frame"), video.fps,
                 cls.name, model.decoder_params(), device)
        log.info("architecture %s; frames padded to %dx%d", arch, pad_w, pad_h)
        log.info("threads: %s", threads.describe())
        fingerprint = _fingerprint(video, cfg, arch)
        # Under train.budget_s the fit gets its share of the budget, the fine-tuning phases the rest.
        fit_cfg = OmegaConf.merge(cfg.train, {"budget_s": budget_share(cfg, "fit", _planned_prune(cfg, target))})
        learned = cfg.compress.get("entropy", "static") == "learned"
        ckpt = run_dir / "checkpoints" / "fit.pt" if main else None
        if candidates.count(cfg) > 1 and not (resume is not None and ckpt.is_file()):
            def build():
                m = cls.create(settings, video.num_frames, video.height, video.width).to(device)
                m.prime(frames)
                return m, (_fit_rate(m, frames, cfg) if learned else None)
            model, extra_loss = candidates.warm_up(
                build, frames, cfg, seed=int(cfg.seed), run_dir=run_dir, fingerprint=fingerprint,
                show_progress=show_progress, resume=resume is not None,
                budget_s=budget_share(cfg, "candidates", _planned_prune(cfg, target)))
        else:
            if not (resume is not None and ckpt.is_file()):  # a checkpoint holds what priming would start
                model.prime(frames)
            extra_loss = _fit_rate(model, frames, cfg) if learned else None
        trainer = Trainer(model, frames, fit_cfg, seed=int(cfg.seed), run_dir=run_dir, fingerprint=fingerprint,
                          show_progress=show_progress, extra_loss=extra_loss)
        if resume is not None and ckpt.is_file():
            trainer.resume(ckpt)
        if resume is not None:  # only now: a refused resume leaves the run's config as it was
            write_yaml(run_dir / "config.yaml", record)
        state = trainer.fit()

        decoder = model.export_decoder(frames.batch)
        meta = VideoMeta(width=video.width, height=video.height, frames=video.num_frames, fps=Fraction(video.fps),
                         pad_width=pad_w, pad_height=pad_h, source_pix_fmt=video.source_pix_fmt)
        metrics = MEASURES[cfg.measure]
        psnr_fp32 = None
        if main and metrics:
            with stages.frames("measuring the fitted network before compression (PSNR)", meta.frames,
                               "measuring") as bar:
                psnr_fp32 = measure_file(CompressedModel(video=meta, model={}), video.frames, device, ("psnr",),
                                         decoder=decoder, progress=bar.update)["psnr"]
        notes = {"inrcodec": __version__, "epochs": state.epoch, "seed": int(cfg.seed)}

        def build(prune_fraction: float) -> CompressedModel:
            return compress_decoder(decoder, cls.name, arch, meta, cfg.compress, extra=notes, prune=prune_fraction)

        pruned = float(cfg.compress.prune)
        if target is not None and not learned:  # how much pruning the target needs, so the phases can heal it
            stages.say(f"searching the pruning fraction that brings the file to {target:,} bytes")
            _, _, pruned = prune_to_target(build, target, already=pruned)
        finetune_s = compression_phases(decoder, frames, cfg, run_dir=run_dir, seed=int(cfg.seed),
                                        fingerprint=fingerprint, show_progress=show_progress,
                                        resume=resume is not None, prune_fraction=pruned)
        if not main:  # every rank holds the same weights now; rank 0 writes, the others wait for its summary
            return distributed.broadcast_object(None)
        stages.say(f"quantizing and entropy-coding the weights ({_coding(cfg.compress, learned, target)})")
        if target is None:
            cm = build(0.0)  # the phases have pruned already
        elif learned:  # the rate term aimed at the target; one factor on every step lands the real file
            cm, _, factor = steps_to_target(lambda f: compress_decoder(decoder, cls.name, arch, meta, cfg.compress,
                                                                       extra=notes, step_factor=f), target)
            log.info("rate target: quantization steps x %.4f", factor)
        else:  # fine-tuning moved the weights: land the real file within the tolerance again
            cm, _, pruned = prune_to_target(build, target, already=pruned)
        stages.say(f"writing {model_file}")
        nbytes = container.write(model_file, cm)
        # The figure we report is measured by decoding the file we wrote, not the model in memory.
        written = container.read(model_file)
        measured, worst = {}, None
        if metrics:
            with stages.frames(f"measuring {model_file}: decoding it, {' and '.join(_NAMES[m] for m in metrics)} "
                               f"of every frame", meta.frames, "measuring") as bar:
                measured, worst = measure_worst(written, video.frames, device, metrics, progress=bar.update)
        psnr_file, msssim_file = measured.get("psnr"), measured.get("msssim")
        x265 = _stand(stages, video.frames, video.fps, meta, nbytes, psnr_file, state.elapsed_s + finetune_s, cfg)
        summary = {
            "file": str(model_file), "bytes": nbytes, "bpp": bpp(nbytes, meta), "psnr": psnr_file,
            "psnr_before_compression": psnr_fp32, "msssim": msssim_file, "frames": meta.frames, "width": meta.width,
            "height": meta.height, "fps": str(meta.fps), "params": model.decoder_params(),
            "stored_values": sum(int(np.prod(t.shape)) for t in cm.tensors),
            "fit_seconds": round(state.elapsed_s + finetune_s, 2), "epochs": state.epoch,
            "epochs_asked": int(cfg.train.epochs), "stopped_by_budget": state.budget_ended,
            "finetune_seconds": round(finetune_s, 2), "device": device_name(device),
            "model": cls.name, "bits": int(cfg.compress.bits), "prune": round(pruned, 4),
            "entropy": cfg.compress.get("entropy", "static"), "lmbda": float(cfg.compress.lmbda),
            "layer_bits": {t.name: t.bits for t in cm.tensors if t.bits != int(cfg.compress.bits) and len(t.shape) > 1
                           and t.name != "embeddings"} or None,
            "target_bytes": target, "video": str(video_path), "run_dir": str(run_dir), "inrcodec": __version__,
            "processes": distributed.world_size(), **_threads_summary(threads),
            "worst_frame": _worst_picture(run_dir, worst), "x265": x265,
        }
        write_json(run_dir / "summary.json", summary)
        log.info("wrote %s: %d bytes, %.4f bpp, %s", model_file, nbytes, summary["bpp"],
                 "quality not measured (measure=none)" if psnr_file is None else
                 f"PSNR {psnr_file:.2f} dB (before compression {psnr_fp32:.2f} dB)")
        return distributed.broadcast_object(summary)
    finally:
        if handler is not None:
            detach_log(handler)


def _stand(stages: Stages, frames, fps, meta: VideoMeta, nbytes: int, psnr, fit_s: float, cfg) -> dict | None:
    """The x265 line (standing.py) on the frames the PSNR was measured on, said as a stage and logged."""
    from . import standing
    result = standing.stand(frames, fps, (meta.frames, meta.height, meta.width), nbytes, psnr,
                            fit_seconds=fit_s, measure=cfg.measure, announce=stages.say)
    if result is not None:
        log.info("%s", result["text"])
    return result


def _whole_video(video_path: Path, cfg) -> np.ndarray | None:
    """NIRVANA's input in one array, for the x265 line; None where it would not fit in memory."""
    try:
        check_video_memory(video_path, cfg)
    except InputError:
        return None
    return load_video(video_path, cfg).frames


def _coding(ccfg, learned: bool, target: int | None) -> str:
    """How the weights are coded, for the stage's line."""
    how = "learned steps, entropy models" if learned else f"{int(ccfg.bits)} bits, range coder"
    return how + (f", aiming at {target:,} bytes" if target is not None else "")


def _worst_picture(run_dir: Path, worst: Worst | None) -> dict | None:
    """worst_frame.png in the run directory: source, decoded and error map of the worst frame, as ``eval
    --plots`` draws it; summary.json's ``worst_frame`` (None where nothing was measured)."""
    if worst is None:
        return None
    from .bench.plots import worst_frame_image
    path = run_dir / "worst_frame.png"
    label = f"(frame {worst.index}, {worst.value:.2f} dB)" if worst.by == "psnr" else f"(frame {worst.index})"
    worst_frame_image(path, worst.source, worst.decoded, label)
    return {"index": worst.index, worst.by: round(worst.value, 4), "image": str(path)}


def _fit_rate(model, frames: FrameSet, cfg):
    """``compress.rd_fit``: the decoder's weights train under quantization noise and the rate term from
    the fit's first step (HNeRV's embeddings join when the encoder has made them, in the phases after)."""
    if not cfg.compress.get("rd_fit", False):
        return None
    quants = learned_quant.attach(model.decoder, cfg.compress, skip=(EMBEDDINGS,))
    return learned_quant.fit_loss(quants, cfg.compress, frames)


def _threads_summary(choice: thread_policy.Choice) -> dict:
    """summary.json's thread fields: the count the fit ended with, how it was chosen, what auto aimed at."""
    return {"threads": choice.threads, "threads_source": choice.source, "threads_target": choice.target}


def _run_record(video_path: Path, overrides, out_path: Path | None, cfg) -> dict:
    """A run directory's config.yaml: what ``--resume`` needs to continue it, and the resolved config."""
    return {"video": str(video_path.resolve()), "overrides": list(overrides),
            "out": str(out_path) if out_path else None, "version": __version__,
            "config": OmegaConf.to_container(cfg, resolve=True)}


def padded_frames(arch: dict, frames: np.ndarray, device) -> FrameSet:
    """The frames cached for fitting, padded to the network's output size (h0, w0 times the strides)."""
    scale = int(np.prod(arch["strides"]))
    return FrameSet(frames, arch["h0"] * scale, arch["w0"] * scale, device)


def _fit_groups(video_path: Path, cfg, overrides: list, device, out_path: Path | None, outputs_root: Path,
                resume_dir: Path | None, threads: thread_policy.Choice, show_progress: bool = False) -> dict:
    """model=nirvana: fit group by group (memory bounded by a group), write, and measure the written file.
    Each coded group is kept in the run directory as it is done; ``resume_dir`` continues that run."""
    from .models.nirvana import Nirvana, pad_size
    from .train.group_progress import GroupProgress
    from .train.groups import fit_groups
    source = GroupInput.probe(video_path, cfg)
    n, h, w, fps = source.n, source.h, source.w, source.fps
    arch = Nirvana.solve_arch(OmegaConf.to_container(cfg.model, resolve=True), n, h, w)
    check_fit_memory(video_path, min(n, arch["gop"]), h, w)  # one group at a time
    stream = source.open(arch["gop"])  # opened now: it knows the source's pix_fmt
    pad_h, pad_w = pad_size(arch)
    meta = VideoMeta(width=w, height=h, frames=n, fps=Fraction(fps), pad_width=pad_w, pad_height=pad_h,
                     source_pix_fmt=stream.source_pix_fmt)
    main = distributed.is_main()
    run_dir = resume_dir or (new_run_dir(outputs_root, video_path.stem) if main else None)
    run_dir = distributed.broadcast_object(run_dir)  # every rank keeps its segments' progress there
    model_file = out_path or (run_dir / "model.bin" if main else None)
    fingerprint = {"video": f"{w}x{h}x{n}", "arch": repr(sorted(arch.items())), "seed": int(cfg.seed),
                   "model": OmegaConf.to_container(cfg.model, resolve=True),
                   "compress": OmegaConf.to_container(cfg.compress, resolve=True)}
    progress = GroupProgress(run_dir, fingerprint, resume=resume_dir is not None)
    progress.check()  # a refused resume leaves the run directory as it was

    def save_config() -> None:
        if main:
            write_yaml(run_dir / "config.yaml", _run_record(video_path, overrides, out_path, cfg))

    if resume_dir is None:
        save_config()
    handler = attach_log(run_dir) if main else None
    try:
        log.info("inrcodec %s: fitting %s (%dx%d, %s, %s fps) with nirvana in groups of %d frames, %s, on %s",
                 __version__, video_path, w, h, plural(n, "frame"), fps, arch["gop"],
                 plural(distributed.world_size(), "process"), device)
        log.info("threads: %s", threads.describe())
        t0 = time.perf_counter()
        stages = Stages(show_progress and main)
        stages.say(f"fitting {video_path} group by group: {plural(n, 'frame')} in "
                   f"{plural(-(-n // arch['gop']), 'group')} of {arch['gop']}, read as each group starts")
        groups, stats = fit_groups(source.chunks(stream), n, arch, cfg, device, progress,
                                   show_progress=show_progress and main)
        if resume_dir is not None:  # only now: a resume refused on the way (the video changed) leaves it as it was
            save_config()
        fit_s = time.perf_counter() - t0
        if not main:
            return distributed.broadcast_object(None)
        notes = {"inrcodec": __version__, "seed": int(cfg.seed), "key_steps": int(cfg.model.key_steps),
                 "steps": int(cfg.model.steps)}
        cm = CompressedModel(video=meta, model={"name": "nirvana", **arch}, groups=groups, extra=notes)
        nbytes, measured, worst = write_and_measure(stages, cm, model_file, source, arch["gop"], device, cfg.measure)
        params = sum(int(np.prod(t.shape)) for t in groups[0].tensors)
        x265 = _stand(stages, lambda: _whole_video(video_path, cfg), meta.fps, meta, nbytes, measured.get("psnr"),
                      fit_s, cfg)
        summary = {
            "file": str(model_file), "bytes": nbytes, "bpp": bpp(nbytes, meta), "psnr": measured.get("psnr"),
            "psnr_before_compression": None, "msssim": measured.get("msssim"), "frames": n, "width": w, "height": h,
            "fps": str(meta.fps), "params": params, "stored_values": params * len(groups),
            "groups": len(groups), "segments": -(-len(groups) // arch["segment"]),
            "group_stats": stats, "fit_seconds": round(fit_s, 2), "epochs": None,
            "device": device_name(device), "model": "nirvana", "bits": int(cfg.compress.bits), "prune": 0.0,
            "target_bytes": None, "video": str(video_path), "run_dir": str(run_dir), "inrcodec": __version__,
            "processes": distributed.world_size(), **_threads_summary(threads),
            "worst_frame": _worst_picture(run_dir, worst), "x265": x265,
        }
        write_json(run_dir / "summary.json", summary)
        log.info("wrote %s: %d bytes, %.4f bpp, %s, %d groups", model_file, nbytes, summary["bpp"],
                 "quality not measured (measure=none)" if summary["psnr"] is None else f"PSNR {summary['psnr']:.2f} dB",
                 len(groups))
        return distributed.broadcast_object(summary)
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM, fitting or measuring: every group coded so far is kept
        if resume_dir is not None:
            save_config()  # the next resume continues with this one's overrides
        raise FitInterrupted(f"fit interrupted after {progress.count()} coded group(s) of "
                             f"{-(-n // arch['gop'])}, kept in {run_dir / 'checkpoints'}; continue with: "
                             f"inrcodec fit --resume {run_dir}") from None
    finally:
        if handler is not None:
            detach_log(handler)


def _fingerprint(video: Video, cfg, arch: dict) -> dict:
    # sha1 of a buffer view: no copy of the frames  # noqa: S324 (identity, not security)
    digest = hashlib.sha1(memoryview(np.ascontiguousarray(video.frames))).hexdigest()[:16]  # noqa: S324
    fp = {"video": f"{video.width}x{video.height}x{video.num_frames} sha1:{digest}",
          "architecture": repr(sorted(arch.items())), "seed": int(cfg.seed),
          "loss": cfg.train.loss, "batch_size": int(cfg.train.batch_size)}
    if cfg.train.get("optimizer", "adam") != "adam":  # (absent for adam: older checkpoints stay resumable)
        fp["optimizer"] = cfg.train.optimizer
    if cfg.model.name == "latent" and cfg.compress.get("entropy") == "learned":  # the grids' training under rate
        c = cfg.compress
        fp["grid_coding"] = f"latent_model={c.get('latent_model', 'ctx')} soft_round={c.get('soft_round')}"
    return fp


def _planned_prune(cfg, target: int | None) -> float:
    """The pruning fraction the phases will use, as far as it is known before fitting (a rate target
    decides it after the fit; it is then positive, which is all the budget split needs)."""
    return float(cfg.compress.prune) if target is None else max(float(cfg.compress.prune), 0.01)


def _size_for_target(settings: dict, target: int, ccfg, video: Video) -> float:
    """Decoder size (millions) for a target file size, counting HNeRV's stored embeddings."""
    per_frame = 0
    if settings["name"] == "hnerv":  # the embedding's shape only (solving a probe size warned of its budget)
        _, h0, w0 = get_model_class("hnerv").layout(settings, video.height, video.width)
        per_frame = int(settings["embed_dim"]) * h0 * w0
    if ccfg.get("entropy", "static") == "learned":  # the previous-frame model: about 2 bits a value (sample)
        stored = int(per_frame * video.num_frames * 2 / LEARNED_BITS_PER_WEIGHT)
    else:
        embed_bits = per_frame * video.num_frames * int(ccfg.embed_bits)
        stored = int(embed_bits / max(int(ccfg.bits), 1))  # embeddings expressed in weight-equivalents
    return plan_params(target, ccfg, stored_overhead_values=stored)
