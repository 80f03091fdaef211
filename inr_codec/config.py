"""Compose the fit configuration with Hydra (``hydra.compose``; ``@hydra.main`` has no subcommands)."""
from __future__ import annotations

from collections.abc import Sequence
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


def compose(overrides: list[str] | tuple[str, ...] = (), *, only: tuple[str, ...] | None = None,
            command: str = "fit") -> DictConfig:
    """The resolved config for these overrides; a bad override is a one-line InputError that names the
    nearest valid key or option (``overrides.check``). ``only``: the groups whose keys may be set
    (``("data",)`` for eval and bench)."""
    from .overrides import check
    check(overrides, only=only, command=command)
    cfg = hydra_compose(overrides)
    _model_fit_lr(cfg, overrides)
    if only is None:  # fit: quality=N sets compress.lmbda; then every knob given must act (knobs.py)
        from . import knobs, quality
        quality.apply(cfg, knobs.given(overrides), knobs.choice("compress", overrides))
        knobs.check(cfg, overrides)
    OmegaConf.set_struct(cfg, True)
    return cfg


def _model_fit_lr(cfg: DictConfig, overrides) -> None:
    """A model group may set its own peak learning rate for the fit (``model.fit_lr``: the latent model's
    thin synthesis and free grids train best at 1e-2, HNeRV at train.lr's 3e-3); ``train.lr`` given on
    the command line wins."""
    fit_lr = cfg.get("model", {}).get("fit_lr")
    if fit_lr is None or any(str(o).split("=", 1)[0].lstrip("+~") == "train.lr" for o in overrides):
        return
    if isinstance(fit_lr, bool) or not isinstance(fit_lr, (int, float)) or not 0 < fit_lr <= 10:
        raise InputError(f"model.fit_lr={fit_lr} is invalid: give a number above 0 and at most 10")
    cfg.train.lr = fit_lr


def hydra_compose(overrides) -> DictConfig:
    """``hydra.compose`` of conf/fit.yaml, its errors as one line without Hydra's config search path."""
    from hydra import compose as _compose
    from hydra import initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    from .overrides import _first_part
    GlobalHydra.instance().clear()
    try:
        with initialize_config_module(config_module="inr_codec.conf", version_base="1.3"):
            return _compose(config_name="fit", overrides=list(overrides))
    except Exception as e:  # a value of the wrong shape, say: Hydra's own words, trimmed
        raise InputError(f"bad override: {_first_part(str(e))}") from None
    finally:
        GlobalHydra.instance().clear()


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


PRECISIONS = ("auto", "fp32", "bf16")  # train.precision (resolved in train/accel.py)
OPTIMIZERS = ("adam", "schedule_free")  # train.optimizer (train/trainer.py, train/schedule_free.py)

# key: (kind, lowest, highest, None allowed); "int" and "num" exclude booleans; bounds are inclusive.
# measure=: what `fit` measures on the written file (MS-SSIM costs more than decoding on a CPU); +x265 / -x265:
# the x265 line always / never (without either: where it costs under a tenth of the fit; standing.py)
MEASURES = {"full": ("psnr", "msssim"), "psnr": ("psnr",), "none": (),
            "full+x265": ("psnr", "msssim"), "psnr+x265": ("psnr",), "full-x265": ("psnr", "msssim"),
            "psnr-x265": ("psnr",)}

RULES = {
    "seed": ("int", 0, 2**31 - 1, False),
    "train.epochs": ("int", 1, 10**7, False),
    "train.budget_s": ("num", 1e-3, 1e9, True),
    "train.batch_size": ("int", 1, 10**5, False),
    "train.lr": ("num", 1e-12, 10.0, False),
    "train.warmup": ("num", 0.0, 0.99, False),
    "train.candidates": ("int", 1, 64, False),
    "train.candidate_epochs": ("int", 1, 10**6, False),
    "train.weight_decay": ("num", 0.0, 10.0, False),
    "train.checkpoint_every": ("int", 0, 10**7, False),
    "train.log_every": ("int", 1, 10**7, False),
    "compress.bits": ("int", 2, 16, False),
    "compress.embed_bits": ("int", 2, 16, False),
    "compress.bias_bits": ("int", 2, 16, False),
    "compress.prune": ("num", 0.0, 0.99, False),
    "compress.prune_epochs": ("int", 0, 10**7, False),
    "compress.qat_epochs": ("int", 0, 10**7, False),
    "compress.qat_noise": ("num", 0.0, 1.0, False),
    "compress.finetune_lr": ("num", 1e-12, 10.0, False),
    "compress.lmbda": ("num", 0.0, 1e9, False),
    "compress.rd_epochs": ("int", 0, 10**7, False),
    "compress.target_kb": ("num", 1e-3, 1e9, True),
    "compress.target_bpp": ("num", 1e-6, 1e4, True),
    "model.blocks": ("int", 1, 8, False),
    "model.latent_side": ("num", 1, 4096, False),
    "model.ratio": ("num", 1.0, 8.0, False),
    "model.min_channels": ("int", 1, 4096, False),
    "model.embed_dim": ("int", 1, 1024, False),
    "model.encoder_width": ("int", 1, 4096, False),
    "model.kernel_min": ("int", 1, 15, False),
    "model.kernel_max": ("int", 1, 15, False),
    "model.kernel": ("int", 1, 15, False),
    "model.pe_levels": ("int", 1, 1024, False),
    "model.pe_base": ("num", 1.0, 100.0, False),
    "model.mlp_hidden": ("int", 1, 65536, False),
    "model.fc_channels": ("int", 1, 4096, False),
    "model.gop": ("int", 1, 10**6, True),  # null: model=latent's one set of grids (NIRVANA's is refused below)
    "model.segment": ("int", 1, 10**6, False),
    "model.patch": ("int", 1, 64, False),
    "model.hidden": ("int", 1, 8192, False),
    "model.levels": ("int", 1, 16, False),
    "model.latent_lr_scale": ("num", 1e-3, 1e4, False),
    "model.t_stride_max": ("int", 1, 10**6, False),
    "model.t_stride_base": ("int", 1, 10**6, False),
    "model.t_stride_first": ("int", 1, 10**6, True),
    "model.motion_block": ("int", 2, 256, False),
    "model.motion_t_stride": ("int", 1, 10**6, False),
    "model.motion_search": ("int", 0, 64, False),
    "model.fit_lr": ("num", 1e-12, 10.0, False),
    "model.layers": ("int", 1, 64, False),
    "model.key_steps": ("int", 1, 10**7, False),
    "model.steps": ("int", 1, 10**7, False),
    "model.lr": ("num", 1e-12, 10.0, False),
    "model.residual_lr": ("num", 1e-12, 10.0, False),
    "model.residual_bits": ("int", 2, 16, False),
    "model.batch": ("int", 0, 10**6, False),
    "model.residual_l1": ("num", 0.0, 1e6, False),
    "data.start": ("int", 0, 10**9, False),
    "data.max_frames": ("int", 1, 10**9, True),
    "data.width": ("int", 1, 1 << 16, True),
    "data.height": ("int", 1, 1 << 16, True),
}
ODD = ("model.kernel_min", "model.kernel_max", "model.kernel")  # 'same' padding needs odd kernels


def validate(cfg: DictConfig) -> None:
    """Check every setting's type and range before any work starts; one-line InputError otherwise."""
    for key, (kind, lo, hi, nullable) in RULES.items():
        if OmegaConf.select(cfg, key, default="<absent>") == "<absent>":
            continue  # e.g. NeRV has no kernel_min
        v = OmegaConf.select(cfg, key)
        if v is None and nullable:
            continue
        ok_type = isinstance(v, int) if kind == "int" else isinstance(v, (int, float))
        if isinstance(v, bool) or not ok_type or not lo <= v <= hi:
            what = "a whole number" if kind == "int" else "a number"
            raise InputError(f"{key}={v} is invalid: give {what} from {lo:g} to {hi:g}")
        if key in ODD and v % 2 == 0:
            raise InputError(f"{key}={v} must be odd (the convolutions pad by kernel // 2 on each side)")
    from .threads import parse as parse_threads
    parse_threads(cfg.get("threads", "auto"))  # threads=0 or threads=abc: one line, exit 2
    if cfg.train.get("precision", "auto") not in PRECISIONS:
        raise InputError(f"train.precision={cfg.train.precision} is not supported; use {', '.join(PRECISIONS)}")
    if cfg.train.get("optimizer", "adam") not in OPTIMIZERS:
        raise InputError(f"train.optimizer={cfg.train.optimizer} is not supported; use {', '.join(OPTIMIZERS)}")
    if cfg.train.get("optimizer") == "schedule_free" and float(cfg.train.get("weight_decay", 0.0) or 0.0):
        raise InputError("train.weight_decay does not act with train.optimizer=schedule_free; leave it at 0 or use adam")
    if cfg.get("measure", "full") not in MEASURES:
        raise InputError(f"measure={cfg.measure} is not supported; use {', '.join(MEASURES)}")
    for key in ("channels_last", "compile"):
        if not isinstance(cfg.train.get(key, False), bool):
            raise InputError(f"train.{key}={cfg.train[key]} must be true or false")
    if cfg.compress.get("target_kb") is not None and cfg.compress.get("target_bpp") is not None:
        raise InputError("give compress.target_kb or compress.target_bpp, not both")
    _validate_entropy(cfg.compress)
    if cfg.model.name == "nirvana":
        if cfg.model.get("gop") is None:
            raise InputError("model.gop=null is invalid for model=nirvana: give its group's frames, e.g. model.gop=8")
        _validate_nirvana(cfg)
        if int(cfg.train.get("candidates", 1)) > 1:
            raise InputError("train.candidates does not apply to model=nirvana (it fits group by group); "
                             "leave it at 1")
    if cfg.model.name == "latent":
        strides = cfg.model.get("t_strides")
        if strides is not None and (not isinstance(strides, Sequence) or len(strides) != int(cfg.model.levels) or
                                    any(isinstance(x, bool) or not isinstance(x, int) or x < 1 for x in strides)):
            raise InputError(f"model.t_strides={strides} is invalid: give {cfg.model.levels} whole numbers of at "
                             f"least 1, one per level, e.g. model.t_strides=[2,4,8,16,32,32] (or null)")
        if cfg.model.get("act", "gelu") not in LATENT_ACTS:
            raise InputError(f"model.act={cfg.model.act} is not supported; use {' or '.join(LATENT_ACTS)}")
        if cfg.compress.get("entropy", "static") != "learned":
            raise InputError("model=latent stores its grids under a learned context model: add compress=latent "
                             "(or compress=rd)")
    elif cfg.compress.get("soft_round") is not None:
        raise InputError(f"compress.soft_round={cfg.compress.soft_round} applies to model=latent's grids only; "
                         f"drop it for model={cfg.model.name}")


LATENT_ACTS = ("gelu", "relu")  # model=latent's synthesis activation (models/latent.py ACTIVATIONS)
ENTROPY = ("static", "learned")
STEPS = ("channel", "tensor")  # compress.steps: learned quantization steps per output channel or per tensor
WEIGHT_MODELS = ("laplace", "laplace0", "best")  # compress.weight_model: the learned entropy model of weights and biases
LATENT_MODELS = ("ctx", "nb")  # compress.latent_model: the latent grids' context model (learned_quant.GRID_MODELS)


def _validate_entropy(c) -> None:
    entropy = c.get("entropy", "static")
    if entropy not in ENTROPY:
        raise InputError(f"compress.entropy={entropy} is not supported; use {' or '.join(ENTROPY)}")
    if c.get("weight_model", "laplace") not in WEIGHT_MODELS:
        raise InputError(f"compress.weight_model={c.weight_model} is not supported; use {' or '.join(WEIGHT_MODELS)}")
    if c.get("latent_model", "ctx") not in LATENT_MODELS:
        raise InputError(f"compress.latent_model={c.latent_model} is not supported; use {' or '.join(LATENT_MODELS)}")
    if c.get("steps", "channel") not in STEPS:
        raise InputError(f"compress.steps={c.steps} is not supported; use {' or '.join(STEPS)}")
    _validate_soft_round(c.get("soft_round"))
    if not isinstance(c.get("rd_fit", False), bool):
        raise InputError(f"compress.rd_fit={c.rd_fit} must be true or false")
    if entropy == "learned":
        if float(c.prune) > 0 or c.get("layer_bits") not in (None, {}):
            raise InputError("compress.prune and compress.layer_bits do not apply to compress.entropy=learned "
                             "(the rate term chooses the steps); set compress.lmbda")
        if float(c.lmbda) <= 0 and (c.get("target_kb") is not None or c.get("target_bpp") is not None):
            raise InputError("a rate target with compress.entropy=learned needs compress.lmbda above 0 "
                             "(the rate term's weight at the target; compress=rd sets one)")
        if int(c.rd_epochs) + int(c.qat_epochs) == 0:
            raise InputError("compress.entropy=learned needs compress.rd_epochs or compress.qat_epochs above 0")


def _validate_soft_round(value) -> None:
    """compress.soft_round: null, or the temperatures [start, end] the latents' soft rounding anneals between."""
    if value is None:
        return
    try:
        temps = [float(t) for t in value]
    except (TypeError, ValueError):
        temps = []
    if len(temps) != 2 or not all(0.01 <= t <= 10.0 for t in temps):
        raise InputError(f"compress.soft_round={value} is not valid; give null or two temperatures from 0.01 to 10, "
                         "e.g. [0.3,0.1] (the start and the end of the fit)")


def _validate_nirvana(cfg: DictConfig) -> None:
    """NIRVANA quantizes while it trains, group by group: the single-network phases and targets do not apply."""
    if not isinstance(cfg.model.adapt_bits, bool):
        raise InputError(f"model.adapt_bits={cfg.model.adapt_bits} must be true or false")
    if cfg.model.pe_levels > 32:
        raise InputError(f"model.pe_levels={cfg.model.pe_levels} is invalid for nirvana: give 1 to 32 (2^31 pi is "
                         "already far past a pixel)")
    if cfg.model.residual_bits > cfg.compress.bits:
        raise InputError(f"model.residual_bits={cfg.model.residual_bits} exceeds compress.bits={cfg.compress.bits}; "
                         "residuals get at most the key groups' bits")
    c = cfg.compress
    for key, ok in (("prune", float(c.prune) == 0), ("prune_epochs", c.prune_epochs == 0),
                    ("qat_epochs", c.qat_epochs == 0), ("rd_epochs", c.get("rd_epochs", 0) == 0),
                    ("entropy", c.get("entropy", "static") == "static"), ("target_kb", c.get("target_kb") is None),
                    ("target_bpp", c.get("target_bpp") is None)):
        if not ok:
            raise InputError(f"compress.{key}={c[key]} does not apply to model=nirvana (it quantizes while it "
                             "trains; set the rate with compress.bits and model.residual_bits)")
    if cfg.train.get("budget_s") is not None:
        raise InputError(f"train.budget_s={cfg.train.budget_s} does not apply to model=nirvana; set "
                         "model.key_steps and model.steps (steps per group)")
