"""The checks a command makes before its work starts, without torch: usage, options and inputs.

Each command line runs its checks here first, so a mistake (a missing file, a file that is no video or no
model, an output folder that takes no files, a bad override or ``--threads``) is one line within a second,
not after torch has loaded (many seconds on a loaded machine). Everything used here is torch-free: Hydra and
OmegaConf, the video readers' probes, the container reader. The work (``api``) repeats the checks that it
needs for callers of the Python API; the video probe is cached, so a fit probes its input once.
"""
from __future__ import annotations

import os
from pathlib import Path

from .errors import InputError

RESUME_ONE_PROCESS = "--resume runs in one process; resume without torchrun (the checkpoint is rank 0's)"


def world_size_from_env() -> int:
    """torchrun's WORLD_SIZE (1 outside torchrun), read before torch.distributed is."""
    try:
        return max(1, int(os.environ.get("WORLD_SIZE", "1")))
    except ValueError:
        return 1


def fit(video: str | None, overrides: list[str], *, out: str | None, resume: str | None, outputs: str,
        multirun: bool) -> None:
    """Everything ``inrcodec fit`` can check before fitting: the sweep, ``--resume``, every job's overrides
    (``threads=`` included), the video with each job's ``data.*`` selection, the output paths."""
    from .config import compose, validate
    from .launch import launcher_of
    from .runs import check_writable
    from .runtime import check_video_memory, sample_clip
    from .sweep import check_jobs, expand
    jobs = expand(overrides) if multirun else [overrides]
    if multirun and resume:
        raise InputError("--resume continues one run; it cannot be combined with a -m sweep")
    if multirun and out:
        raise InputError("-o names one file; a sweep writes one model per run directory, so drop -o")
    if resume is not None:
        video, jobs = _resumed(video, jobs[0], Path(resume))
    if multirun:
        check_jobs(jobs)
    if launcher_of(overrides) is not None and not multirun:
        raise InputError("hydra/launcher= chooses where a sweep's jobs run; add -m (a sweep) or drop it")
    path = Path(video) if video is not None else sample_clip()
    seen = set()
    for job in jobs:
        own = [o for o in job if not o.lstrip("+~").startswith("hydra")]  # a launcher's keys are Hydra's
        try:
            cfg = compose(own)
            if not multirun:  # check_jobs has validated every job of a sweep
                validate(cfg)
            key = repr(sorted((k, str(v)) for k, v in cfg.data.items()))
            if key in seen:
                continue
            seen.add(key)
            video_dims(path, cfg)
            if cfg.model.name != "nirvana":  # nirvana reads group by group: fitting checks one group's memory
                check_video_memory(path, cfg)
        except InputError as e:
            if not multirun:
                raise
            raise InputError(f"sweep job [{' '.join(job)}]: {e}") from None  # as check_jobs names a job
    if out is not None:
        check_writable(Path(out))
    if resume is None:
        creatable(Path(outputs), "--outputs")


def run_record(run_dir: Path, video=None):
    """A fit run directory's config.yaml (what ``--resume`` continues), checked against ``video`` where
    one is given; ``fitting`` reads it the same way."""
    from omegaconf import OmegaConf
    saved = run_dir / "config.yaml"
    if not saved.is_file():
        raise InputError(f"cannot resume: {run_dir} is not a fit run directory (no config.yaml)")
    state = OmegaConf.load(saved)
    if video is not None and Path(video).resolve() != Path(state.video).resolve():
        raise InputError(f"cannot resume: {run_dir} fitted {state.video}, not {video}")
    return state


def _resumed(video: str | None, overrides: list[str], run_dir: Path) -> tuple[str, list[list[str]]]:
    """The video and overrides ``--resume RUN_DIR`` continues with (as ``fitting`` reads them)."""
    if world_size_from_env() > 1:
        raise InputError(RESUME_ONE_PROCESS)
    state = run_record(run_dir, video)
    return state.video, [list(state.overrides) + list(overrides)]


def creatable(folder: Path, what: str) -> None:
    """``folder`` exists as a folder that takes files, or can be created (its nearest existing parent can)."""
    probe = folder
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise InputError(f"{what} {folder}: {probe} is a file, not a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise InputError(f"{what} {folder}: cannot create files in {probe} (permission denied)")


def video_dims(path, cfg) -> tuple[int, int, int]:
    """(width, height, frames) of the video as ``data.*`` selects it (crop included), from its headers."""
    from .io import parse_crop, probe_video
    from .io.video import check_crop
    from .runtime import video_selection
    n, h, w, _ = probe_video(str(path), **video_selection(cfg))
    crop = parse_crop(cfg.data.get("crop"))
    if crop:
        check_crop(w, h, *crop, path)
        w, h = crop
    return w, h, n


def model_file(path) -> "CompressedModel":  # noqa: F821 (container.records, imported when needed)
    """The model file read and checked (magic, version, every section's CRC32): one line if it is none."""
    from . import container
    p = Path(path)
    if p.is_dir():
        raise InputError(f"{path} is a folder, not an inrcodec model file (model.bin)")
    return container.read(p)


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


def decode(file: str, out: str, *, threads, batch_size: int, frames: str | None):
    """``inrcodec decode``'s checks, in the order a user meets them; returns the model file as read."""
    from .io import check_output
    from .threads import parse
    parse(threads, what="--threads")
    if batch_size < 1:
        raise InputError(f"--batch-size {batch_size} must be at least 1")
    check_output(out)
    cm = model_file(file)
    parse_frames(frames, cm.video.frames)
    return cm


def evaluate(file: str, ref: str, overrides: list[str], *, threads, metrics: str, outputs=(),
             plots: str | None = None) -> None:
    """``inrcodec eval``'s checks: options, the files it will write (``outputs``: (--json, --csv); ``plots``: a
    folder), the model file, the reference as ``data.*`` selects it."""
    from .config import compose
    from .metrics.names import parse_metrics
    from .runs import check_writable
    from .threads import parse
    parse(threads, what="--threads")
    parse_metrics(metrics)
    for out, example in zip(outputs, ("eval.json", "frames.csv")):
        if out:
            check_writable(Path(out), example)
    if plots:
        creatable(Path(plots), "--plots")
    cm = model_file(file)
    cfg = compose(overrides, only=("data",), command="eval")
    check_reference(file, cm.video, ref, video_dims(ref, cfg), overrides)


def bench(video: str | None, overrides: list[str], *, threads, metrics: str, inr: list[str],
          out: str | None = None) -> None:
    """``inrcodec bench``'s checks: options, its output folder, the video, every ``--inr`` curve against the
    video's size."""
    from .bench.inr import load_points, parse_spec
    from .config import compose
    from .metrics.names import parse_metrics
    from .runtime import sample_clip
    from .threads import parse
    parse(threads, what="--threads")
    parse_metrics(metrics)
    if out:
        creatable(Path(out), "-o")
    cfg = compose(overrides, only=("data",), command="bench")
    path = video if video is not None else sample_clip()
    dims = video_dims(path, cfg)
    for spec in inr:
        for p in load_points(parse_spec(spec)[1]):
            check_point(p, path, dims, overrides)


def check_reference(model_path, meta, ref, dims: tuple[int, int, int], overrides) -> None:
    """A reference of another size or length than the file's is refused, naming the ``data.*`` selection the
    fit read its video with when the file sits in a run directory (its config.yaml says)."""
    held = (meta.width, meta.height, meta.frames)
    if tuple(dims) == held:
        return
    raise InputError(f"reference {ref} is {_size(dims)} but the file holds {_size(held)}; "
                     f"{selection_hint(Path(model_path).parent, overrides, 'give the video the file was fitted on')}")


def check_point(point: dict, video, dims: tuple[int, int, int], overrides) -> None:
    """bench's check of one INR point (a summary.json) against the video's (width, height, frames)."""
    held = (point["width"], point["height"], point["frames"])
    if tuple(dims) == held:
        return
    hint = selection_hint(Path(point["summary"]).parent, overrides, "bench INR points on the video they were fitted on")
    raise InputError(f"{point['summary']} is a fit of {_size(held)}, but {video} is {_size(dims)}; {hint}")


def _size(dims) -> str:
    w, h, n = dims
    return f"{w}x{h}, {n} frame{'' if n == 1 else 's'}"


def selection_hint(run_dir: Path, overrides, otherwise: str) -> str:
    """What to add so that the video is read as the run at ``run_dir`` read it (its config.yaml's ``data.*``
    settings that differ from the defaults and from ``overrides``); ``otherwise`` where no run says."""
    run = run_selection(run_dir)
    if run is None:
        return otherwise + " (with the data.* selection the fit used, e.g. data.start= and data.max_frames=)"
    video, used = run
    missing = [o for o in used if o not in set(overrides)]
    where = run_dir / "config.yaml"
    if not missing:
        return f"{otherwise}: the fit read {video} with {' '.join(used) or 'no data.* selection'} ({where})"
    return f"the fit read its video with {' '.join(used)} ({where}): add {' '.join(missing)}"


def run_selection(run_dir: Path) -> tuple[str, list[str]] | None:
    """(the video, the ``data.*`` overrides that reproduce its selection) of a fit run, from its config.yaml;
    None when ``run_dir`` is no fit run directory."""
    from importlib import resources

    from omegaconf import OmegaConf
    saved = run_dir / "config.yaml"
    if not saved.is_file():
        return None
    try:
        state = OmegaConf.load(saved)
        data = OmegaConf.to_container(state.config.data, resolve=True)
        video = str(state.get("video", "?"))
    except Exception:  # an unreadable or foreign config.yaml says nothing about the selection
        return None
    defaults = OmegaConf.to_container(OmegaConf.load(str(resources.files("inr_codec.conf") / "data" / "default.yaml")))
    return video, [f"data.{k}={v}" for k, v in data.items() if v != defaults.get(k) and not (k == "start" and not v)]
