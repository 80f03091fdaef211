"""The ``inrcodec`` command: fit, decode, info, eval, bench, gather.

Arguments that ``fit`` does not know (``key=value``) become Hydra overrides.
Exit status: 0 success, 2 bad input or usage (one line on stderr), 1 internal error.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from pathlib import Path

from . import __version__, preflight
from .cli_print import print_bench, print_eval, print_fit, print_info
from .errors import FitInterrupted, InputError
from .words import plural

EPILOG_FIT = """models (model=NAME; each one's settings in docs/cli.md):
{models}
overrides (key=value), for example:
  quality=1..5 (smallest..best)  compress.lmbda=0.01  compress.target_kb=30  train.budget_s=120
  model={choices}  model.size_m=0.5 (hnerv, nerv)  compress=full|rd|default  compress.bits=6
  device=cpu|cuda  seed=1  measure=full|psnr|none (+x265: always the x265 line, -x265: never)
  an override that would change nothing under the chosen model and preset is refused, naming what would
  make it act
  data.width=1920 data.height=1080 data.pix_fmt=yuv420p data.fps=25   (raw .yuv input)
  data.start=100 data.max_frames=24   (a part of the video)
the run directory, OUTPUTS/<video stem>/<time>/, keeps config.yaml, fit.log, checkpoints, summary.json and
worst_frame.png, and model.bin unless -o names another file (the run directory is made all the same)
sweep with -m and comma lists: inrcodec fit video.mp4 -m quality=1,3,5   (or -m model=nerv,hnerv ...)
  in parallel (pip install 'inrcodec[cluster]'): ... hydra/launcher=joblib hydra.launcher.n_jobs=2
  on SLURM: ... hydra/launcher=slurm hydra.launcher.partition=gpu   (see docs/cli.md)"""


def fit_epilog() -> str:
    """fit's help text: the models from conf/model/ (the options ``model=`` takes, one per registered model:
    tests/unit/test_fast_start.py checks they agree), each with the first line of its config's comment."""
    from importlib import resources

    from .overrides import default_option, group_options
    names, default = group_options("model"), default_option("model")
    rows = []
    for name in names:
        text = (resources.files("inr_codec.conf") / "model" / f"{name}.yaml").read_text()
        first = next((ln.lstrip("# ").strip() for ln in text.splitlines()
                      if ln.startswith("#") and not ln.startswith("# @")), "")  # not Hydra's "# @package"
        label = f"{name} (default)" if name == default else name
        rows.append(f"  {label:<16} {first.split(' (see')[0].rstrip(':.')}")
    return EPILOG_FIT.format(models="\n".join(rows), choices="|".join(names))


THREADS_HELP = ("intra-op CPU threads (default auto: this process's share of the cores, fewer on a busy machine; "
                "OMP_NUM_THREADS wins)")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="inrcodec", description="Compress videos into small neural networks.")
    p.add_argument("--version", action="version", version=f"inrcodec {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    f = sub.add_parser("fit", help="fit a video and write model.bin", epilog=fit_epilog(),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    f.add_argument("args", nargs="*", metavar="[VIDEO] [OVERRIDES]",
                   help="video file, .y4m, .yuv or PNG folder (default: the bundled sample), then key=value overrides")
    f.add_argument("-o", "--out", help="write the model file here (default: RUN_DIR/model.bin); the run directory is still made under "
                        "--outputs and keeps the rest")
    f.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted fit from its run directory")
    f.add_argument("-m", "--multirun", action="store_true", help="sweep: run every combination of comma lists")
    f.add_argument("--outputs", default="outputs", help="root of run directories (default: ./outputs)")
    f.add_argument("-q", "--quiet", action="store_true", help="no progress bar")

    d = sub.add_parser("decode", help="decode model.bin to a video or a folder of PNGs")
    d.add_argument("file")
    d.add_argument("-o", "--out", required=True, help="output: .mp4 .mkv .y4m .yuv, or a folder for PNGs")
    d.add_argument("--backend", default="auto", choices=["auto", "torch", "fused", "triton"],
                   help="decoder: auto (fused for latent files on the CPU, else torch), torch (the reference), fused "
                        "(the latent codec's tiled CPU decoder) or triton (fused kernels; CUDA, or CPU with "
                        "TRITON_INTERPRET=1)")
    d.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    d.add_argument("--dtype", default="fp32", choices=["fp32", "fp16", "bf16"])
    d.add_argument("--frames", metavar="A:B", help="decode only frames A (inclusive) to B (exclusive)")
    d.add_argument("--batch-size", type=int, default=8, metavar="N", help="frames per batch (default 8)")
    d.add_argument("--threads", default="auto", metavar="N", help=THREADS_HELP)

    i = sub.add_parser("info", help="show a model.bin's header, model and section sizes")
    i.add_argument("file")
    i.add_argument("--json", action="store_true", help="print JSON")

    e = sub.add_parser("eval", help="measure a model.bin against the reference video")
    e.add_argument("file")
    e.add_argument("--ref", required=True, help="the video the file was fitted on")
    e.add_argument("--device", default="auto")
    e.add_argument("--json", metavar="PATH", help="also write the results as JSON here")
    e.add_argument("--metrics", default="psnr,msssim",
                   help="comma list of psnr (RGB and BT.709 Y/U/V), msssim, lpips (default: psnr,msssim)")
    e.add_argument("--csv", metavar="PATH", help="write the per-frame values here")
    e.add_argument("--plots", metavar="DIR", help="write a per-frame PSNR plot and the worst frame (PNG) here")
    e.add_argument("--threads", default="auto", metavar="N", help=THREADS_HELP)
    e.add_argument("overrides", nargs="*", help="data.* overrides for raw .yuv references")

    b = sub.add_parser("bench", help="rate-distortion of x264/x265/SVT-AV1 and INR fits on one video, BD-rate")
    b.add_argument("args", nargs="*", metavar="[VIDEO] [OVERRIDES]",
                   help="the video (default: the bundled sample clip), then data.* overrides for raw .yuv")
    b.add_argument("--codecs", default="x264,x265,av1", help="anchors: comma list of x264, x265, av1")
    b.add_argument("--crfs", action="append", metavar="[CODEC=]A,B,...",
                   help="CRF values, for every codec or one (repeatable); defaults in docs/experiments.md")
    b.add_argument("--inr", action="append", nargs="+", default=[], metavar="[LABEL=]PATH",
                   help="one INR curve: summary.json files, run or sweep folders (repeatable: one curve each)")
    b.add_argument("--anchors", metavar="CSV", help="reuse the anchor rows of an earlier rd.csv instead of encoding")
    b.add_argument("--metrics", default="psnr,msssim", help="comma list of psnr, msssim, lpips")
    b.add_argument("--device", default="cpu", help="device for decoding INR files and for the metrics")
    b.add_argument("-o", "--out", metavar="DIR", help="output folder (default: outputs/bench/<video stem>)")
    b.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    b.add_argument("--threads", default="auto", metavar="N", help=THREADS_HELP)

    g = sub.add_parser("gather", help="one CSV row per fit run (summary.json) under run or sweep folders")
    g.add_argument("paths", nargs="+", metavar="DIR", help="run directories, sweep or outputs roots, summary.json files")
    g.add_argument("-o", "--out", default="summary.csv", help="the CSV to write (default: summary.csv)")
    return p


def split_fit_args(args: list[str]) -> tuple[str | None, list[str]]:
    """The first argument that is not key=value (or that names an existing path) is the video."""
    video, overrides = None, []
    for a in args:
        if video is None and ("=" not in a or Path(a).exists()):
            video = a
        elif "=" in a:
            overrides.append(a)
        else:
            raise InputError(f"unexpected argument '{a}': give one video, then key=value overrides")
    return video, overrides


def cmd_fit(a) -> None:
    video, overrides = split_fit_args(a.args)
    preflight.fit(video, overrides, out=a.out, resume=a.resume, outputs=a.outputs, multirun=a.multirun)
    from . import api  # torch loads here, once every check above has passed
    from .launch import launcher_of
    from .sweep import expand
    from .train.distributed import barrier, is_main
    main_rank = is_main()  # under torchrun only rank 0 prints and writes
    jobs = expand(overrides) if a.multirun else [overrides]
    if launcher_of(overrides) is not None:  # Hydra's multirun with a launcher plugin (inr_codec/launch.py)
        return _fit_launched(a, video, overrides)
    summaries = []
    if a.multirun:
        import datetime as dt
        from .sweep import write_results
        folder = Path(a.outputs) / "sweeps" / dt.datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    for n, job in enumerate(jobs):
        if a.multirun and main_rank:
            print(f"[{n + 1}/{len(jobs)}] {' '.join(job)}", flush=True)
        summary = api.fit(video, job, out=a.out, resume=a.resume, outputs_root=a.outputs,
                          show_progress=not a.quiet)
        if main_rank:
            print_fit(summary)
        summaries.append(summary)
        if a.multirun and main_rank:  # rewritten after every job, so a failed or stopped sweep keeps what it finished
            csv_path, png = write_results(folder, jobs[:len(summaries)], summaries)
    if a.multirun and main_rank:
        print(f"sweep: {plural(len(jobs), 'run')}, results in {csv_path}" + (f" and {png}" if png else ""))
    barrier()  # under torchrun: every rank done (rank 0 has written) before the group is torn down


def _fit_launched(a, video, overrides) -> None:
    import datetime as dt

    from . import launch
    from .sweep import write_results
    from .train.distributed import world_size
    if world_size() > 1:
        raise InputError("a hydra/launcher= sweep starts its own processes; run it without torchrun")
    folder = Path(a.outputs) / "sweeps" / dt.datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    results = launch.run(video, overrides, folder)
    for n, (job, summary) in enumerate(results):
        print(f"[{n + 1}/{len(results)}] {' '.join(job)}")
        print_fit(summary)
    csv_path, png = write_results(folder, [j for j, _ in results], [s for _, s in results])
    print(f"sweep: {plural(len(results), 'run')}, results in {csv_path}" + (f" and {png}" if png else ""))


def cmd_decode(a) -> None:
    cm = preflight.decode(a.file, a.out, threads=a.threads, batch_size=a.batch_size, frames=a.frames)
    from . import api
    r = api.decode(cm, a.out, backend=a.backend, device=a.device, dtype=a.dtype, frames=a.frames,
                   batch_size=a.batch_size, threads=a.threads)
    print(f"wrote {r['file']}: {plural(r['frames'], 'frame')} of {r['width']}x{r['height']} at {r['fps']} fps "
          f"(decoded in {r['decode_seconds']:.2f} s by the {r['backend']} backend, {r['dtype']} on {r['device']}, "
          f"{plural(r['threads'], 'thread')}: {r['threads_why']})")


def cmd_info(a) -> None:
    preflight.model_file(a.file)
    from . import api
    r = api.info(a.file)
    if a.json:
        print(json.dumps(r, indent=2))
    else:
        print_info(r)


def cmd_eval(a) -> None:
    preflight.evaluate(a.file, a.ref, a.overrides, threads=a.threads, metrics=a.metrics, outputs=(a.json, a.csv),
                       plots=a.plots)
    from . import api
    r = api.evaluate(a.file, a.ref, overrides=a.overrides, device=a.device, metrics=a.metrics, csv=a.csv,
                     plots=a.plots, threads=a.threads)
    print_eval(r)
    if a.json:
        from .runs import write_json
        write_json(Path(a.json), r)


def cmd_bench(a) -> None:
    video, overrides = split_fit_args(a.args)
    inr = [",".join(spec) for spec in a.inr]
    preflight.bench(video, overrides, threads=a.threads, metrics=a.metrics, inr=inr, out=a.out)
    from . import api
    r = api.bench(video, codecs=a.codecs, crfs=a.crfs, inr=inr, out=a.out, metrics=a.metrics, device=a.device,
                  overrides=overrides, anchors_csv=a.anchors, plots=not a.no_plots, threads=a.threads)
    print_bench(r)


def cmd_gather(a) -> None:
    from .gather import gather, table
    rows = gather(a.paths, a.out)
    print(table(rows))
    print(f"wrote {a.out}: {plural(len(rows), 'run')}")


COMMANDS = {"fit": cmd_fit, "decode": cmd_decode, "info": cmd_info, "eval": cmd_eval, "bench": cmd_bench,
            "gather": cmd_gather}


def _sigterm(signum, frame):
    raise KeyboardInterrupt  # the trainer saves a checkpoint on either


def main(argv: list[str] | None = None) -> int:
    code = _main(argv)
    if "inr_codec.train.distributed" in sys.modules:  # a torchrun worker ends here, past gloo's teardown
        sys.modules["inr_codec.train.distributed"].exit_now(code)
    return code


def _main(argv: list[str] | None = None) -> int:
    parser = _parser()
    # Overrides may stand before or after fit's options, which argparse cannot interleave itself.
    # Overrides may stand before or after a command's options, which argparse cannot interleave itself:
    # fit's and bench's join their [VIDEO] [OVERRIDES], eval's its data.* overrides.
    args, extra = parser.parse_known_args(argv)
    takes = {"fit": "args", "bench": "args", "eval": "overrides"}.get(args.command)
    if extra and (takes is None or any(e.startswith("-") for e in extra)):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if extra:
        setattr(args, takes, getattr(args, takes) + extra)
    signal.signal(signal.SIGTERM, _sigterm)
    try:
        COMMANDS[args.command](args)
    except FitInterrupted as e:  # a checkpoint was saved; the message says how to resume
        print(f"inrcodec: {e}", file=sys.stderr)
        return 130
    except InputError as e:
        print(f"inrcodec: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("inrcodec: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return 0
    except OSError as e:  # an output the user named cannot be written (or an input read)
        where = f"{e.filename}: " if e.filename else ""
        print(f"inrcodec: error: {where}{e.strerror or e}", file=sys.stderr)
        return 2
    except Exception as e:  # a bug: one line by default, the traceback on request
        if os.environ.get("INRCODEC_DEBUG"):
            raise
        first = (str(e).strip().splitlines() or [""])[0]
        print(f"inrcodec: internal error: {e.__class__.__name__}: {first} (set INRCODEC_DEBUG=1 for the "
              f"traceback, and please report it)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
