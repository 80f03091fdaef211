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

from . import __version__
from .errors import FitInterrupted, InputError

EPILOG_FIT = """overrides (key=value), for example:
  model=hnerv|nerv  model.size_m=0.5  train.epochs=300  train.budget_s=120  train.loss=l1+msssim
  compress.bits=6  compress.prune=0.2  device=cpu|cuda  seed=1
  data.width=1920 data.height=1080 data.pix_fmt=yuv420p data.fps=25   (raw .yuv input)
sweep with -m and comma lists: inrcodec fit video.mp4 -m model=nerv,hnerv compress.bits=4,6,8
  in parallel (pip install 'inrcodec[cluster]'): ... hydra/launcher=joblib hydra.launcher.n_jobs=2
  on SLURM: ... hydra/launcher=slurm hydra.launcher.partition=gpu   (see docs/cli.md)"""
THREADS_HELP = ("intra-op CPU threads (default auto: this process's share of the cores, fewer on a busy machine; "
                "OMP_NUM_THREADS wins)")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="inrcodec", description="Compress videos into small neural networks.")
    p.add_argument("--version", action="version", version=f"inrcodec {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    f = sub.add_parser("fit", help="fit a video and write model.bin", epilog=EPILOG_FIT,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    f.add_argument("args", nargs="*", metavar="[VIDEO] [OVERRIDES]",
                   help="video file, .y4m, .yuv or PNG folder (default: the bundled sample), then key=value overrides")
    f.add_argument("-o", "--out", help="write the model file here (default: RUN_DIR/model.bin)")
    f.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted fit from its run directory")
    f.add_argument("-m", "--multirun", action="store_true", help="sweep: run every combination of comma lists")
    f.add_argument("--outputs", default="outputs", help="root of run directories (default: ./outputs)")
    f.add_argument("-q", "--quiet", action="store_true", help="no progress bar")

    d = sub.add_parser("decode", help="decode model.bin to a video or a folder of PNGs")
    d.add_argument("file")
    d.add_argument("-o", "--out", required=True, help="output: .mp4 .mkv .y4m .yuv, or a folder for PNGs")
    d.add_argument("--backend", default="torch", choices=["torch", "triton"],
                   help="decoder: torch (the reference) or triton (fused kernels; CUDA, or CPU with TRITON_INTERPRET=1)")
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
                   help="CRF values, for every codec or one (repeatable); defaults in docs/benchmarks.md")
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


def _print_fit(summary: dict) -> None:
    s = summary
    print(f"wrote {s['file']}")
    if s.get("groups"):  # group-wise (NIRVANA): quantized while training, so no "before compression" figure
        print(f"  frames {s['frames']} of {s['width']}x{s['height']} at {s['fps']} fps, model {s['model']}, "
              f"{s['groups']} groups in {s['segments']} segments of {s['params']:,} parameters each, fitted in "
              f"{s['fit_seconds']:.1f} s by {s['processes']} process(es) on {s['device']}{_threads(s)}")
        print(f"  {s['bytes']:,} bytes, {s['bpp']:.4f} bpp, {_quality(s)}")
        return
    print(f"  frames {s['frames']} of {s['width']}x{s['height']} at {s['fps']} fps, model {s['model']}, "
          f"{s['params']:,} parameters, fitted in {s['fit_seconds']:.1f} s ({s['epochs']} epochs) on {s['device']}"
          f"{_threads(s)}")
    before = "" if s["psnr_before_compression"] is None else f" ({s['psnr_before_compression']:.2f} dB before compression)"
    print(f"  {s['bytes']:,} bytes, {s['bpp']:.4f} bpp, {_quality(s)}{before}")


def _threads(s: dict) -> str:
    return f", {s['threads']} thread(s)" if s.get("threads") else ""


def _quality(s: dict) -> str:
    if s["psnr"] is None:
        return f"quality not measured (measure=none): inrcodec eval {s['file']} --ref VIDEO"
    ssim = "" if s["msssim"] is None else f", MS-SSIM {s['msssim']:.4f}"
    return f"PSNR {s['psnr']:.2f} dB{ssim} measured by decoding the file"


def cmd_fit(a) -> None:
    from . import api
    from .sweep import expand
    from .train.distributed import barrier, is_main
    main_rank = is_main()  # under torchrun only rank 0 prints and writes
    video, overrides = split_fit_args(a.args)
    jobs = expand(overrides) if a.multirun else [overrides]
    if a.multirun and a.resume:
        raise InputError("--resume continues one run; it cannot be combined with a -m sweep")
    if a.multirun and a.out:
        raise InputError("-o names one file; a sweep writes one model per run directory, so drop -o")
    if a.multirun:
        from .sweep import check_jobs
        check_jobs(jobs)
    from .launch import launcher_of
    if launcher_of(overrides) is not None:  # Hydra's multirun with a launcher plugin (inr_codec/launch.py)
        if not a.multirun:
            raise InputError("hydra/launcher= chooses where a sweep's jobs run; add -m (a sweep) or drop it")
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
            _print_fit(summary)
        summaries.append(summary)
        if a.multirun and main_rank:  # rewritten after every job, so a failed or stopped sweep keeps what it finished
            csv_path, png = write_results(folder, jobs[:len(summaries)], summaries)
    if a.multirun and main_rank:
        print(f"sweep: {len(jobs)} runs, results in {csv_path}" + (f" and {png}" if png else ""))
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
        _print_fit(summary)
    csv_path, png = write_results(folder, [j for j, _ in results], [s for _, s in results])
    print(f"sweep: {len(results)} runs, results in {csv_path}" + (f" and {png}" if png else ""))


def cmd_decode(a) -> None:
    from . import api
    if a.batch_size < 1:
        raise InputError(f"--batch-size {a.batch_size} must be at least 1")
    r = api.decode(a.file, a.out, backend=a.backend, device=a.device, dtype=a.dtype, frames=a.frames,
                   batch_size=a.batch_size, threads=a.threads)
    print(f"wrote {r['file']}: {r['frames']} frames of {r['width']}x{r['height']} at {r['fps']} fps "
          f"(decoded in {r['decode_seconds']:.2f} s by the {r['backend']} backend, {r['dtype']} on {r['device']}, "
          f"{r['threads']} thread(s): {r['threads_why']})")


def cmd_info(a) -> None:
    from . import api
    r = api.info(a.file)
    if a.json:
        print(json.dumps(r, indent=2))
        return
    v = r["video"]
    print(f"{r['file']}: inrcodec model format {r['format']}, {r['bytes']:,} bytes, {r['bpp']:.4f} bpp")
    print(f"video   {v['width']}x{v['height']}, {v['frames']} frames at {v['fps']} fps "
          f"(network output {v['padded']}, source {v['source_pix_fmt']})")
    arch = ", ".join(f"{k}={val}" for k, val in r["model"].items() if k != "name")
    print(f"model   {r['model'].get('name')}, {r['params']:,} parameters: {arch}")
    print("sections")
    for s in r["sections"]:
        print(f"  {s['name']:<40} {s['bytes']:>10,} bytes")
    if r.get("groups"):
        segs = r["groups"][-1]["segment"] + 1
        print(f"groups  {len(r['groups'])} in {segs} segments (key = stored whole, else a residual on the previous group)")
        print(f"  {'group':>5} {'frames':>13} {'segment':>7} {'kind':>8} {'bits':>4} {'bytes':>9}")
        for g in r["groups"]:
            print(f"  {g['index']:>5} {g['frames']:>13} {g['segment']:>7} {'key' if g['key'] else 'residual':>8} "
                  f"{g['bits']:>4} {g['bytes']:>9,}")
        print("tensors of group 0 (the first key group):")
    print("tensors (bytes: coded payload + table as stored (learned models: their parameters); model = the entropy model's estimate of the payload "
          "(learned models: the rate training minimised); entropy = ideal code for the symbols; huffman = a "
          "Huffman code of them, table not counted)")
    print(f"  {'name':<36} {'shape':>14} {'bits':>4} {'zeros':>6} {'coder':>12} {'payload':>9} {'model':>9} "
          f"{'table':>6} {'entropy':>9} {'huffman':>9}")
    for t in r["tensors"]:
        shape = "x".join(map(str, t["shape"]))
        print(f"  {t['name']:<36} {shape:>14} {t['bits']:>4} {t['zeros']:>6.1%} {t['coder']:>12} "
              f"{t['payload_bytes']:>9,} {t['model_bytes']:>9,.0f} {t['table_bytes']:>6,} {t['entropy_bytes']:>9,.0f} "
              f"{t['huffman_bytes']:>9,}")
    keys = ("payload_bytes", "model_bytes", "table_bytes", "entropy_bytes", "huffman_bytes")
    tot = {k: sum(t[k] for t in r["tensors"]) for k in keys}
    print(f"  {'all tensors':<36} {'':>14} {'':>4} {'':>6} {'':>12} {tot['payload_bytes']:>9,} "
          f"{tot['model_bytes']:>9,.0f} {tot['table_bytes']:>6,} {tot['entropy_bytes']:>9,.0f} {tot['huffman_bytes']:>9,}")


def cmd_eval(a) -> None:
    from . import api
    r = api.evaluate(a.file, a.ref, overrides=a.overrides, device=a.device, metrics=a.metrics, csv=a.csv,
                     plots=a.plots, threads=a.threads)
    parts = []
    if "psnr" in r:
        parts.append(f"PSNR {r['psnr']:.2f} dB (RGB); Y {r['psnr_y']:.2f}, U {r['psnr_u']:.2f}, V {r['psnr_v']:.2f}, "
                     f"YUV 6:1:1 {r['psnr_yuv']:.2f} dB (BT.709)")
    if "msssim" in r:
        parts.append(f"MS-SSIM {r['msssim']:.4f}")
    if "lpips" in r:
        parts.append(f"LPIPS {r['lpips']:.4f} (alex)")
    print(f"{r['file']} against {r['ref']} ({r['frames']} frames): {r['bpp']:.4f} bpp ({r['bytes']:,} bytes)")
    print("  " + "; ".join(parts))
    w = r["worst_frame"]
    print(f"  worst frame {w['index']} (by {w['by']}: {w[w['by']]:.4f}); {r['threads']} thread(s): {r['threads_why']}")
    for f in [r.get("csv")] + r.get("plots", []):
        if f:
            print(f"  wrote {f}")
    if a.json:
        from .runs import write_json
        write_json(Path(a.json), r)


def cmd_bench(a) -> None:
    from . import api
    video, overrides = split_fit_args(a.args)
    inr = [",".join(spec) for spec in a.inr]
    r = api.bench(video, codecs=a.codecs, crfs=a.crfs, inr=inr, out=a.out, metrics=a.metrics, device=a.device,
                  overrides=overrides, anchors_csv=a.anchors, plots=not a.no_plots, threads=a.threads)
    if r["bd"]:
        print("BD-rate (bpp at equal RGB PSNR, PCHIP) and BD-PSNR against each anchor:")
        for row in r["bd"]:
            rate = "n/a" if row["bd_rate_pct"] is None else f"{row['bd_rate_pct']:+.1f}%"
            dpsnr = "n/a" if row["bd_psnr_db"] is None else f"{row['bd_psnr_db']:+.2f} dB"
            note = f"  ({row['note']})" if row["note"] else ""
            span = ""
            if row["psnr_overlap_db"]:
                span = f"  over {row['psnr_overlap_db'][0]:.2f}-{row['psnr_overlap_db'][1]:.2f} dB"
            if row["bpp_overlap"]:
                span += f" / {row['bpp_overlap'][0]:.4g}-{row['bpp_overlap'][1]:.4g} bpp"
            print(f"  {row['test']:<22} vs {row['anchor']:<18} BD-rate {rate:>9}  BD-PSNR {dpsnr:>10}{span}{note}")
    for f in [r["csv"], r["bd_csv"]] + r["plots"]:
        print(f"wrote {f}")


def cmd_gather(a) -> None:
    from .gather import gather, table
    rows = gather(a.paths, a.out)
    print(table(rows))
    print(f"wrote {a.out}: {len(rows)} runs")


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
    args, extra = parser.parse_known_args(argv)
    if extra and (args.command != "fit" or any(e.startswith("-") for e in extra)):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if extra:
        args.args += extra
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
