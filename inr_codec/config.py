"""Compose the fit configuration with Hydra (``hydra.compose``; ``@hydra.main`` has no subcommands)."""
from __future__ import annotations

from fractions import Fraction

from omegaconf import DictConfig, OmegaConf

from .errors import InputError

# model.size_m=auto: HNeRV's 1.5M parameters for Bunny's 640x1280x132 pixels, scaled by
# pixels^0.66 (smaller videos need more parameters per pixel: this gives 0.1M for the bundled
# 256x144x48 sample, which fits to ~27.7 dB on a 2-core CPU in 100 s).
ANCHOR_PIXELS, ANCHOR_PARAMS, SIZE_EXPONENT = 640 * 1280 * 132, 1.5e6, 0.66


def auto_size_m(frames: int, height: int, width: int) -> float:
    params = ANCHOR_PARAMS * (frames * height * width / ANCHOR_PIXELS) ** SIZE_EXPONENT
    return round(max(params, 2000) / 1e6, 4)


def compose(overrides: list[str] | tuple[str, ...] = ()) -> DictConfig:
    """The resolved config for these overrides; a bad override is a one-line InputError."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    try:
        with initialize_config_module(config_module="inr_codec.conf", version_base="1.3"):
            cfg = hydra_compose(config_name="fit", overrides=list(overrides))
    except Exception as e:  # Hydra's own errors say which override is wrong
        msg = " ".join(str(e).split())
        raise InputError(f"bad override: {msg}") from None
    finally:
        GlobalHydra.instance().clear()
    OmegaConf.set_struct(cfg, True)
    return cfg


def model_settings(cfg: DictConfig, frames: int, height: int, width: int) -> dict:
    """The model group as a plain dict, with ``size_m: auto`` resolved from the video's size."""
    m = OmegaConf.to_container(cfg.model, resolve=True)
    if m.get("size_m") in ("auto", None):
        m["size_m"] = auto_size_m(frames, height, width)
    else:
        try:
            m["size_m"] = float(m["size_m"])
        except (TypeError, ValueError):
            raise InputError(f"model.size_m={m['size_m']} is not a number of millions; e.g. model.size_m=1.5") from None
        if not 0 < m["size_m"] <= 1000:
            raise InputError(f"model.size_m={m['size_m']} is out of range; use (0, 1000] millions of parameters")
    return m


def parse_fps(value) -> Fraction | None:
    if value is None:
        return None
    try:
        f = Fraction(str(value))
    except (ValueError, ZeroDivisionError):
        raise InputError(f"data.fps={value} is not a frame rate; e.g. data.fps=25 or data.fps=30000/1001") from None
    if f <= 0:
        raise InputError(f"data.fps={value} must be positive")
    return f


def check_train(cfg: DictConfig) -> None:
    t = cfg.train
    if not isinstance(t.epochs, int) or t.epochs < 1:
        raise InputError(f"train.epochs={t.epochs} must be a whole number >= 1")
    if t.budget_s is not None and (not isinstance(t.budget_s, (int, float)) or t.budget_s <= 0):
        raise InputError(f"train.budget_s={t.budget_s} must be a positive number of seconds")
    if not isinstance(t.batch_size, int) or t.batch_size < 1:
        raise InputError(f"train.batch_size={t.batch_size} must be a whole number >= 1")
    if not isinstance(t.lr, (int, float)) or t.lr <= 0:
        raise InputError(f"train.lr={t.lr} must be a positive number")
