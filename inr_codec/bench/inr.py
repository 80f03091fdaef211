"""INR rate-distortion points from fit runs: summary.json files, run directories or sweep folders."""
from __future__ import annotations

import json
from pathlib import Path

from inr_codec.errors import InputError


def parse_spec(spec: str) -> tuple[str | None, list[Path]]:
    """``[LABEL=]PATH[,PATH...]``: one curve; a folder stands for every summary.json beneath it."""
    label, sep, rest = spec.partition("=")
    if not sep or Path(spec).exists():
        label, rest = None, spec
    files: list[Path] = []
    for part in (p for p in rest.split(",") if p):
        p = Path(part)
        if p.is_dir():
            found = sorted(p.rglob("summary.json"))
            if not found:
                raise InputError(f"--inr {part}: no summary.json under this folder")
            files += found
        elif p.is_file():
            files.append(p)
        else:
            raise InputError(f"--inr {part}: no such file or folder")
    return label, files


def load_points(files: list[Path]) -> list[dict]:
    points = []
    for f in files:
        try:
            s = json.loads(Path(f).read_text())
            points.append({"summary": str(f), "bpp": float(s["bpp"]), "psnr": None if s["psnr"] is None else float(s["psnr"]),  # measure=none
                           "bytes": int(s["bytes"]), "frames": int(s["frames"]), "width": int(s["width"]),
                           "height": int(s["height"]), "model": s.get("model", "?"), "bits": s.get("bits"),
                           "entropy": s.get("entropy", "static"), "lmbda": s.get("lmbda"),
                           "file": s.get("file"), "epochs": s.get("epochs"), "params": s.get("params"),
                           "fit_seconds": s.get("fit_seconds"), "device": s.get("device")})
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise InputError(f"{f} is not an inrcodec summary.json ({type(e).__name__}: {e})") from None
    return sorted(points, key=lambda p: p["bpp"])


def default_label(points: list[dict]) -> str:
    models = sorted({p["model"] for p in points})
    return "INR " + "/".join(models)
