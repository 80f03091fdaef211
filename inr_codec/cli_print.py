"""The lines the ``inrcodec`` commands print on success (stdout): fit's summary, info's tables, eval's and
bench's results."""
from __future__ import annotations

from .words import plural


def print_fit(summary: dict) -> None:
    s = summary
    print(f"wrote {s['file']}")
    if s.get("groups"):  # group-wise (NIRVANA, latent closed groups): no "before compression" figure
        groups = (f"{plural(s['groups'], 'closed group')} of up to {s['gop']} frames, {s['params']:,} parameters each "
                  "on average" if s.get("gop") else f"{plural(s['groups'], 'group')} in "
                  f"{plural(s['segments'], 'segment')} of {plural(s['params'], 'parameter', fmt=',')} each")
        print(f"  {plural(s['frames'], 'frame')} of {s['width']}x{s['height']} at {s['fps']} fps, model {s['model']}, "
              f"{groups}, fitted in {s['fit_seconds']:.1f} s by "
              f"{plural(s['processes'], 'process')} on {s['device']}{_threads(s)}")
        print(f"  {plural(s['bytes'], 'byte', fmt=',')}, {s['bpp']:.4f} bpp, {_quality(s)}")
    else:
        print(f"  {plural(s['frames'], 'frame')} of {s['width']}x{s['height']} at {s['fps']} fps, model {s['model']}, "
              f"{plural(s['params'], 'parameter', fmt=',')}, fitted in {s['fit_seconds']:.1f} s ({_epochs(s)}) on "
              f"{s['device']}{_threads(s)}")
        before = ("" if s["psnr_before_compression"] is None else
                  f" ({s['psnr_before_compression']:.2f} dB before compression)")
        print(f"  {plural(s['bytes'], 'byte', fmt=',')}, {s['bpp']:.4f} bpp, {_quality(s)}{before}")
    if s.get("x265"):  # where the file stands against x265 slow (standing.py)
        print(f"  {s['x265']['text']}")
    w = s.get("worst_frame")
    if w:
        print(f"  worst frame {w['index']} ({w['psnr']:.2f} dB): source, decoded and error map in {w['image']}")
    if s.get("run_dir") and not str(s["file"]).startswith(str(s["run_dir"])):
        print(f"  run directory {s['run_dir']} (config.yaml, fit.log, checkpoints, summary.json)")


def _epochs(s: dict) -> str:
    if s.get("stopped_by_budget"):
        return f"{s['epochs']} of {plural(s['epochs_asked'], 'epoch')}: train.budget_s ended the fit"
    return plural(s["epochs"], "epoch")


def _threads(s: dict) -> str:
    return f", {plural(s['threads'], 'thread')}" if s.get("threads") else ""


def _quality(s: dict) -> str:
    if s["psnr"] is None:
        return f"quality not measured (measure=none): inrcodec eval {s['file']} --ref VIDEO"
    ssim = "" if s["msssim"] is None else f", MS-SSIM {s['msssim']:.4f}"
    return f"PSNR {s['psnr']:.2f} dB{ssim} measured by decoding the file"


def print_info(r: dict) -> None:
    v = r["video"]
    print(f"{r['file']}: inrcodec model format {r['format']}, {plural(r['bytes'], 'byte', fmt=',')}, {r['bpp']:.4f} bpp")
    print(f"video   {v['width']}x{v['height']}, {plural(v['frames'], 'frame')} at {v['fps']} fps "
          f"(network output {v['padded']}, source {v['source_pix_fmt']})")
    arch = ", ".join(f"{k}={val}" for k, val in r["model"].items() if k != "name")
    print(f"model   {r['model'].get('name')}, {plural(r['params'], 'parameter', fmt=',')}: {arch}")
    print(f"decoder {r['macs_per_pixel']:,.0f} MACs per pixel (multiply-accumulates of one frame / its width x height)")
    print("sections")
    for s in r["sections"]:
        print(f"  {s['name']:<40} {s['bytes']:>10,} bytes")
    if r.get("groups"):
        segs = r["groups"][-1]["segment"] + 1
        if r["model"].get("name") == "latent":  # model.gop: closed groups, each its own model
            print(f"groups  {len(r['groups'])} closed groups of up to {r['model'].get('gop')} frames, each an "
                  "independent latent model (a range of frames decodes only the groups it touches)")
        else:
            print(f"groups  {len(r['groups'])} in {plural(segs, 'segment')} (key = stored whole, else a residual on "
                  "the previous group)")
        print(f"  {'group':>5} {'frames':>13} {'segment':>7} {'kind':>8} {'bits':>4} {'bytes':>9}")
        for g in r["groups"]:
            print(f"  {g['index']:>5} {g['frames']:>13} {g['segment']:>7} {'key' if g['key'] else 'residual':>8} "
                  f"{g['bits']:>4} {g['bytes']:>9,}")
        print("tensors of group 0 (the first key group):")
    print("tensors (bytes: coded payload + table as stored (learned models: their parameters); model = the entropy "
          "model's estimate of the payload (learned models: the rate training minimised); entropy = ideal code for "
          "the symbols; huffman = a Huffman code of them, table not counted)")
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


def print_eval(r: dict) -> None:
    parts = []
    if "psnr" in r:
        parts.append(f"PSNR {r['psnr']:.2f} dB (RGB); Y {r['psnr_y']:.2f}, U {r['psnr_u']:.2f}, V {r['psnr_v']:.2f}, "
                     f"YUV 6:1:1 {r['psnr_yuv']:.2f} dB (BT.709)")
    if "msssim" in r:
        parts.append(f"MS-SSIM {r['msssim']:.4f}")
    if "lpips" in r:
        parts.append(f"LPIPS {r['lpips']:.4f} (alex)")
    print(f"{r['file']} against {r['ref']} ({plural(r['frames'], 'frame')}): {r['bpp']:.4f} bpp "
          f"({plural(r['bytes'], 'byte', fmt=',')})")
    print("  " + "; ".join(parts))
    w = r["worst_frame"]
    print(f"  worst frame {w['index']} (by {w['by']}: {w[w['by']]:.4f}); {plural(r['threads'], 'thread')}: {r['threads_why']}")
    for f in [r.get("csv")] + r.get("plots", []):
        if f:
            print(f"  wrote {f}")


def print_bench(r: dict) -> None:
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
