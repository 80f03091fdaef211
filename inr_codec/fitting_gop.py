"""``inrcodec fit model.gop=N``: the latent model in closed groups (train/latent_groups.py), with the run
directory, log, resumable progress, the file (format 1.7: one group section per group) and the written file's
measurement around it, a group of frames in memory at a time (as NIRVANA's ``fitting._fit_groups``)."""
from __future__ import annotations

import logging
import math
import time
from fractions import Fraction
from pathlib import Path

from omegaconf import OmegaConf

from . import __version__
from . import threads as thread_policy
from .config import model_settings
from .container.records import CompressedModel, VideoMeta
from .errors import FitInterrupted
from .group_run import GroupInput, write_and_measure
from .measure import bpp
from .models.latent import LatentModel
from .resources import check_fit_memory
from .runs import attach_log, detach_log, new_run_dir, write_json, write_yaml
from .runtime import device_name
from .stages import Stages
from .train import distributed
from .train.group_progress import GroupProgress
from .train.latent_groups import LatentGroupFitter, fit_latent_groups, groups_count
from .words import plural

log = logging.getLogger("inr_codec")


def fit_gop(video_path: Path, cfg, gop: int, overrides: list, device, out_path: Path | None, outputs_root: Path,
            resume_dir: Path | None, threads: thread_policy.Choice, show_progress: bool = False) -> dict:
    """Fit the latent model group by group, write one file, measure it; returns the summary."""
    from . import fitting
    source = GroupInput.probe(video_path, cfg)
    n, h, w, fps = source.n, source.h, source.w, source.fps
    settings = model_settings(cfg, min(gop, n), h, w)
    arch = {"name": "latent", "gop": gop, **LatentModel.solve_arch(settings, gop, h, w)}  # a full group's
    check_fit_memory(video_path, min(n, gop), h, w)  # one group at a time
    count = groups_count(n, gop)
    stream = source.open(gop)  # opened now: it knows the source's pix_fmt
    meta = VideoMeta(width=w, height=h, frames=n, fps=Fraction(fps), pad_width=w, pad_height=h,
                     source_pix_fmt=stream.source_pix_fmt)
    main = distributed.is_main()
    run_dir = resume_dir or (new_run_dir(outputs_root, video_path.stem) if main else None)
    run_dir = distributed.broadcast_object(run_dir)  # every rank keeps its groups' progress there
    model_file = out_path or (run_dir / "model.bin" if main else None)
    fingerprint = {"video": f"{w}x{h}x{n}", "arch": repr(sorted(arch.items())), "seed": int(cfg.seed),
                   "model": OmegaConf.to_container(cfg.model, resolve=True),
                   "train": OmegaConf.to_container(cfg.train, resolve=True),
                   "compress": OmegaConf.to_container(cfg.compress, resolve=True)}
    progress = GroupProgress(run_dir, fingerprint, resume=resume_dir is not None)
    progress.check()  # a refused resume leaves the run directory as it was

    def save_config() -> None:
        if main:
            write_yaml(run_dir / "config.yaml", fitting._run_record(video_path, overrides, out_path, cfg))

    if resume_dir is None:
        save_config()
    handler = attach_log(run_dir) if main else None
    stages = Stages(show_progress and main)
    try:
        log.info("inrcodec %s: fitting %s (%dx%d, %s, %s fps) with latent in closed groups of %d frames, %s, on %s",
                 __version__, video_path, w, h, plural(n, "frame"), fps, gop,
                 plural(distributed.world_size(), "process"), device)
        log.info("architecture of a full group %s", arch)
        log.info("threads: %s", threads.describe())
        t0 = time.perf_counter()
        stages.say(f"fitting {video_path} in closed groups: {plural(n, 'frame')} in {plural(count, 'group')} of "
                   f"{gop}, read as each group starts")
        fitter = LatentGroupFitter(arch, settings, cfg, meta, device, fitting._fit_rate,
                                   show_progress=show_progress and main)
        groups, stats = fit_latent_groups(source.chunks(stream), fitter, gop, progress, announce=stages.say)
        if resume_dir is not None:  # only now: a resume refused on the way (the video changed) leaves it as it was
            save_config()
        fit_s = time.perf_counter() - t0
        if not main:
            return distributed.broadcast_object(None)
        notes = {"inrcodec": __version__, "epochs": int(cfg.train.epochs), "seed": int(cfg.seed)}
        cm = CompressedModel(video=meta, model=arch, groups=groups, extra=notes)
        nbytes, measured, worst = write_and_measure(stages, cm, model_file, source, gop, device, cfg.measure)
        stored = sum(math.prod(t.shape) for g in groups for t in g.tensors)
        x265 = fitting._stand(stages, lambda: fitting._whole_video(video_path, cfg), meta.fps, meta, nbytes,
                              measured.get("psnr"), fit_s, cfg)
        summary = {
            "file": str(model_file), "bytes": nbytes, "bpp": bpp(nbytes, meta), "psnr": measured.get("psnr"),
            "psnr_before_compression": None, "msssim": measured.get("msssim"), "frames": n, "width": w, "height": h,
            "fps": str(meta.fps), "params": stored // len(groups), "stored_values": stored,
            "gop": gop, "groups": len(groups), "segments": len(groups), "group_stats": stats,
            "fit_seconds": round(fit_s, 2), "epochs": int(cfg.train.epochs), "epochs_asked": int(cfg.train.epochs),
            "device": device_name(device), "model": "latent", "bits": int(cfg.compress.bits), "prune": 0.0,
            "entropy": cfg.compress.get("entropy", "static"),
            "lmbda": float(cfg.compress.lmbda), "target_bytes": None, "video": str(video_path),
            "run_dir": str(run_dir), "inrcodec": __version__, "processes": distributed.world_size(),
            **fitting._threads_summary(threads), "worst_frame": fitting._worst_picture(run_dir, worst), "x265": x265,
        }
        write_json(run_dir / "summary.json", summary)
        log.info("wrote %s: %d bytes, %.4f bpp, %s, %d closed groups", model_file, nbytes, summary["bpp"],
                 "quality not measured (measure=none)" if summary["psnr"] is None else f"PSNR {summary['psnr']:.2f} dB",
                 len(groups))
        return distributed.broadcast_object(summary)
    except (KeyboardInterrupt, FitInterrupted):  # Ctrl-C or SIGTERM: every group coded so far is kept
        if resume_dir is not None:
            save_config()  # the next resume continues with this one's overrides
        raise FitInterrupted(f"fit interrupted after {progress.count()} coded group(s) of {count}, kept in "
                             f"{run_dir / 'checkpoints'}; continue with: inrcodec fit --resume {run_dir}") from None
    finally:
        if handler is not None:
            detach_log(handler)
