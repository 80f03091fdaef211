"""``inrcodec bench``: anchors, INR points, BD-rate table, CSV, JSON and RD plots."""
from __future__ import annotations

import csv
import datetime as _dt
import json
import logging
import os
import platform
from pathlib import Path

import av
import numpy as np

from inr_codec import __version__
from inr_codec.errors import InputError
from inr_codec.io.common import atomic_file
from inr_codec.metrics.bdrate import bd_psnr, bd_rate, overlap, rate_at_psnr
from inr_codec.metrics.frames import FrameMeter
from inr_codec.preflight import check_point

from . import anchors as A
from . import inr as I

log = logging.getLogger("inr_codec")

CSV_FIELDS = ["curve", "kind", "codec", "crf", "bits", "bytes", "bpp", "psnr", "psnr_y", "psnr_u", "psnr_v",
              "psnr_yuv", "msssim", "lpips", "encode_s", "settings", "source"]


def _measure(decoded: np.ndarray, ref: np.ndarray, metrics, lpips_net, device) -> dict:
    meter = FrameMeter(ref, metrics, lpips_net=lpips_net, device=device)
    for s in range(0, len(decoded), 16):
        meter.add(decoded[s:s + 16])
    return meter.means()


def _inr_metrics(point: dict, video, metrics, lpips_net, device) -> dict:
    """Decode the INR file (when it is there) and measure it exactly like the anchors."""
    from inr_codec import container
    from inr_codec.decode.reference import decode_batches
    f = point.get("file")
    if (not f or not Path(f).is_file()) and point["psnr"] is None:
        raise InputError(f"{point['summary']}: its model file {f} is gone and the fit did not measure it "
                         "(measure=none); give summaries whose model.bin is still there")
    if not f or not Path(f).is_file():
        log.warning("%s: model file %s not found; using the summary's PSNR only", point["summary"], f)
        return {"psnr": point["psnr"]}
    cm = container.read(f)
    meter = FrameMeter(video.frames, metrics, lpips_net=lpips_net, device=device)
    for batch in decode_batches(cm, device=device):
        meter.add(batch)
    return meter.means()


def bd_table(curves: list[dict], anchors: list[dict]) -> list[dict]:
    """BD-rate and BD-PSNR (RGB PSNR against bpp) of every curve against every anchor curve."""
    rows = []
    for c in curves:
        for a in anchors:
            if c is a:
                continue
            row = {"test": c["label"], "anchor": a["label"], "bd_rate_pct": None, "bd_psnr_db": None,
                   "psnr_overlap_db": None, "bpp_overlap": None,
                   "note": ""}
            if len(c["bpp"]) < 2 or len(a["bpp"]) < 2:
                row["note"] = "needs at least 2 points per curve"
                if len(c["bpp"]) == 1 and len(a["bpp"]) >= 2:
                    ra = rate_at_psnr(a["bpp"], a["psnr"], c["psnr"][0])
                    row["note"] += ("; its one point is outside the anchor's PSNR range" if np.isnan(ra) else
                                    f"; its one point: {c['bpp'][0]:.4f} bpp where the anchor needs {ra:.4f} bpp "
                                    f"for the same PSNR ({(c['bpp'][0] / ra - 1) * 100:+.0f}%)")
            else:
                try:
                    r = bd_rate(a["bpp"], a["psnr"], c["bpp"], c["psnr"])
                    p = bd_psnr(a["bpp"], a["psnr"], c["bpp"], c["psnr"])
                except ValueError as e:
                    row["note"] = str(e)
                else:
                    ov = overlap(a["bpp"], a["psnr"], c["bpp"], c["psnr"])
                    row["psnr_overlap_db"] = [round(v, 3) for v in ov["psnr"]] if ov["psnr"] else None
                    row["bpp_overlap"] = [round(v, 5) for v in ov["rate"]] if ov["rate"] else None
                    row["bd_rate_pct"] = None if np.isnan(r) else r
                    row["bd_psnr_db"] = None if np.isnan(p) else p
                    if np.isnan(r) or np.isnan(p):
                        row["note"] = ("PSNR ranges do not overlap" if np.isnan(r) else "") + \
                                      (("; " if np.isnan(r) else "") + "rate ranges do not overlap" if np.isnan(p) else "")
            rows.append(row)
    return rows


def _read_anchor_csv(path) -> list[dict]:
    rows = []
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            if r.get("kind") == "anchor":
                rows.append(r)
    if not rows:
        raise InputError(f"--anchors {path}: no anchor rows (kind=anchor) in this CSV")
    return rows


def _curves(rows: list[dict]) -> list[dict]:
    by: dict[str, dict] = {}
    for r in rows:
        c = by.setdefault(r["curve"], {"label": r["curve"], "kind": r["kind"], "bpp": [], "psnr": [], "msssim": [],
                                       "psnr_yuv": [], "lpips": []})
        for k in ("bpp", "psnr", "msssim", "psnr_yuv", "lpips"):
            v = r.get(k)
            c[k].append(float(v) if v not in (None, "") else float("nan"))
    return list(by.values())


def run(video_path, *, codecs: str = "x264,x265,av1", crfs: list[str] | None = None, inr: list[str] = (),
        out_dir=None, metrics=("psnr", "msssim"), device: str = "cpu", overrides=(), anchors_csv=None,
        plots: bool = True, progress=print) -> dict:
    from inr_codec.api import load_video
    from inr_codec.config import compose
    cfg = compose(list(overrides), only=("data",), command="bench")
    video = load_video(video_path, cfg)
    t, h, w = video.num_frames, video.height, video.width
    out = Path(out_dir) if out_dir else Path("outputs") / "bench" / Path(str(video_path)).stem
    out.mkdir(parents=True, exist_ok=True)
    if not os.access(out, os.W_OK):
        raise InputError(f"cannot write to {out}")
    lpips_net = None
    if "lpips" in metrics:
        from inr_codec.metrics.lpips import load_lpips
        lpips_net = load_lpips(device)

    # INR specs are checked before any encoding, so a typo does not cost an anchor run.
    inr_specs = []
    for spec in inr:
        label, files = I.parse_spec(spec)
        pts = I.load_points(files)
        for p in pts:
            check_point(p, video_path, (w, h, t), overrides)
        inr_specs.append((label or I.default_label(pts), pts))

    rows: list[dict] = []
    encoder_settings = {}
    if anchors_csv:
        rows += _read_anchor_csv(anchors_csv)
        progress(f"anchors read from {anchors_csv} ({len(rows)} points)")
    else:
        encs = A.parse_codecs(codecs)
        crf_lists = A.parse_crfs(crfs, encs)
        for enc in encs:
            encoder_settings[enc.key] = {**A.settings(enc), "crfs": crf_lists[enc.key]}
            for crf in crf_lists[enc.key]:
                p = A.encode_decode(video.frames, video.fps, enc, crf)
                m = _measure(p.decoded, video.frames, metrics, lpips_net, device)
                row = {"curve": enc.label, "kind": "anchor", "codec": enc.codec, "crf": crf, "bits": "",
                       "bytes": p.bytes, "bpp": p.bpp, **m, "encode_s": round(p.encode_s, 3),
                       "settings": json.dumps(A.settings(enc, crf)["options"], sort_keys=True), "source": ""}
                rows.append(row)
                if p.reported:
                    encoder_settings[enc.key].setdefault("reported_by_encoder", {})[str(crf)] = p.reported
                progress(f"{enc.label:<18} crf {crf:>2}: {p.bytes:>9,} bytes {p.bpp:.4f} bpp "
                         f"PSNR {m.get('psnr', float('nan')):.2f} dB  ({p.encode_s:.1f} s)")
    for label, pts in inr_specs:
        for p in pts:
            m = _inr_metrics(p, video, metrics, lpips_net, device)
            learned = p.get("entropy") == "learned"  # learned steps: the point is its lambda, not a bit depth
            row = {"curve": label, "kind": "inr", "codec": p["model"], "crf": "", "bits": "" if learned else p["bits"],
                   "bytes": p["bytes"], "bpp": p["bpp"], **m, "encode_s": p["fit_seconds"],
                   "settings": json.dumps({"epochs": p["epochs"], "params": p["params"], "device": p["device"],
                                          **({"lmbda": p["lmbda"]} if learned else {})}),
                   "source": p["summary"]}
            rows.append(row)
            setting = f"lambda {p['lmbda']:g}" if learned else f"{p['bits']}-bit"
            progress(f"{label:<18} {setting}: {p['bytes']:>9,} bytes {p['bpp']:.4f} bpp "
                     f"PSNR {m.get('psnr', float('nan')):.2f} dB")

    curves = _curves(rows)
    anchor_curves = [c for c in curves if c["kind"] == "anchor"]
    bd = bd_table(curves, anchor_curves)
    inr_curves = [c for c in curves if c["kind"] == "inr"]
    for i, c in enumerate(inr_curves[1:], 1):  # each INR curve also against the INR curves given before it
        bd += bd_table([c], inr_curves[:i])
    for r in rows:  # each INR point against each anchor at equal PSNR
        if r["kind"] == "inr" and r.get("psnr") not in (None, ""):
            for a in anchor_curves:
                ra = rate_at_psnr(a["bpp"], a["psnr"], float(r["psnr"])) if len(a["bpp"]) >= 2 else float("nan")
                r[f"equal_psnr_bpp[{a['label']}]"] = None if np.isnan(ra) else ra

    csv_path = out / "rd.csv"
    with atomic_file(csv_path) as tmp, open(tmp, "w", newline="") as f:
        wr = csv.DictWriter(f, fieldnames=CSV_FIELDS, extrasaction="ignore")
        wr.writeheader()
        for r in rows:
            wr.writerow({k: (f"{r[k]:.6f}" if isinstance(r.get(k), float) else r.get(k, "")) for k in CSV_FIELDS})
    bd_path = out / "bd.csv"
    with atomic_file(bd_path) as tmp, open(tmp, "w", newline="") as f:
        wr = csv.writer(f)
        wr.writerow(["test", "anchor", "bd_rate_pct", "bd_psnr_db", "psnr_overlap_db", "bpp_overlap", "note"])
        for r in bd:
            wr.writerow([r["test"], r["anchor"], "" if r["bd_rate_pct"] is None else f"{r['bd_rate_pct']:.2f}",
                         "" if r["bd_psnr_db"] is None else f"{r['bd_psnr_db']:.3f}",
                         "" if not r["psnr_overlap_db"] else "-".join(map(str, r["psnr_overlap_db"])),
                         "" if not r["bpp_overlap"] else "-".join(map(str, r["bpp_overlap"])), r["note"]])
    pngs = []
    if plots:
        from .plots import rd_plot
        title = f"{Path(str(video_path)).name}: {w}x{h}, {t} frames"
        for metric in ("psnr", "msssim"):
            if metric in metrics:
                png = out / f"rd_{metric}.png"
                rd_plot(png, curves, metric, title)
                pngs.append(str(png))
    result = {
        "video": str(video_path), "width": w, "height": h, "frames": t, "fps": str(video.fps),
        "date": _dt.date.today().isoformat(), "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "inrcodec": __version__, "pyav": av.__version__,
        "ffmpeg": {k: ".".join(map(str, v)) for k, v in av.library_versions.items()},
        "metrics": list(metrics), "encoders": encoder_settings, "points": rows, "bd": bd,
        "csv": str(csv_path), "bd_csv": str(bd_path), "plots": pngs,
    }
    with atomic_file(out / "bench.json") as tmp:
        tmp.write_text(json.dumps(result, indent=2, default=str) + "\n")
    return result
