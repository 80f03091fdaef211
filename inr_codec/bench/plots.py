"""PNG plots (matplotlib, Agg backend): RD curves, per-frame PSNR, worst-frame comparison."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from inr_codec.errors import InputError
from inr_codec.io.common import atomic_file


def _plt():
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise InputError("plots need matplotlib: pip install matplotlib") from None
    return plt


def _finish(plt, fig, ax, path, title: str, grid_which: str = "major") -> None:
    """The common tail of a line plot: grid, legend, title, save, close."""
    ax.grid(True, which=grid_which, alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    try:
        with atomic_file(path) as tmp:  # the temporary keeps the .png suffix that picks the format
            fig.savefig(tmp)
    finally:
        plt.close(fig)


def rd_plot(path, curves: list[dict], metric: str = "psnr", title: str = "") -> None:
    """curves: [{"label", "kind": "anchor"|"inr", "bpp": [...], metric: [...]}]; bpp on a log axis."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=100)
    for c in curves:
        xs, ys = np.asarray(c["bpp"], float), np.asarray(c[metric], float)
        ok = np.isfinite(ys)
        order = np.argsort(xs[ok])
        style = "o-" if c["kind"] == "anchor" else "s--"
        ax.plot(xs[ok][order], ys[ok][order], style, label=c["label"], markersize=4,
                linewidth=1.2 if c["kind"] == "anchor" else 1.8)
    ax.set_xscale("log")
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("bits per pixel (log scale)")
    ax.set_ylabel({"psnr": "PSNR, RGB (dB)", "msssim": "MS-SSIM (RGB)", "psnr_yuv": "PSNR YUV 6:1:1 (dB)",
                   "lpips": "LPIPS (alex), lower is better"}.get(metric, metric))
    _finish(plt, fig, ax, path, title, grid_which="both")


def per_frame_plot(path, per_frame: dict[str, np.ndarray], title: str = "") -> None:
    """PSNR (RGB and Y) per frame."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 3.2), dpi=100)
    for key, label in (("psnr", "RGB"), ("psnr_y", "Y"), ("psnr_yuv", "YUV 6:1:1")):
        if key in per_frame:
            ax.plot(np.arange(len(per_frame[key])), per_frame[key], label=label, linewidth=1.2)
    ax.set_xlabel("frame")
    ax.set_ylabel("PSNR (dB)")
    _finish(plt, fig, ax, path, title)


def worst_frame_image(path, source: np.ndarray, decoded: np.ndarray, label: str = "") -> None:
    """One PNG: source | decoded | error map (per-pixel RGB absolute error, mean over channels,
    scaled so that 32 levels of error are white)."""
    from PIL import Image, ImageDraw
    err = np.abs(source.astype(np.int16) - decoded.astype(np.int16)).mean(axis=2)
    err = np.clip(err * (255.0 / 32.0), 0, 255).astype(np.uint8)
    err_rgb = np.stack([err, err, err], axis=2)
    h, w, _ = source.shape
    gap = 4
    bar = 14 if h >= 40 else 0
    canvas = np.full((h + bar, 3 * w + 2 * gap, 3), 255, np.uint8)
    for i, img in enumerate((source, decoded, err_rgb)):
        canvas[bar:, i * (w + gap):i * (w + gap) + w] = img
    im = Image.fromarray(canvas)
    if bar:
        d = ImageDraw.Draw(im)
        for i, text in enumerate(("source", f"decoded {label}".strip(), "|error| x8")):
            d.text((i * (w + gap) + 2, 1), text, fill=(0, 0, 0))
    with atomic_file(path) as tmp:
        im.save(tmp, format="PNG", optimize=True)


def write_eval_plots(out_dir, per_frame: dict[str, np.ndarray], source: np.ndarray, decoded_worst: np.ndarray,
                     worst: int, title: str = "") -> list[str]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    a, b = out / "psnr_per_frame.png", out / "worst_frame.png"
    per_frame_plot(a, per_frame, title)
    label = f"(frame {worst}, {per_frame['psnr'][worst]:.2f} dB)" if "psnr" in per_frame else f"(frame {worst})"
    worst_frame_image(b, source, decoded_worst, label)
    return [str(a), str(b)]
