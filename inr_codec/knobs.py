"""Every knob acts or says why not: an override that would change nothing under the chosen model and compress
preset is a one-line error naming what would make it act.

``overrides.check`` already refuses keys the configuration does not have (a typo, the latent model's keys
under ``model=hnerv``). This module covers the keys that exist but that no code reads in this combination:
``compress.lmbda`` without a rate term, ``model.size_m`` for the latent grids, the residual groups' keys of a
NIRVANA with ``model.segment=1``, every ``train.*`` key under NIRVANA (it trains group by group with its own
steps), ... Only the keys given on the command line are checked (a preset may set keys it does not use, e.g.
compress=rd's ``bits``, the steps' starting grid). Torch-free: it runs in ``config.compose``, before torch loads.
"""
from __future__ import annotations

from collections.abc import Callable

from omegaconf import OmegaConf

from .errors import InputError

LEARNED_PRESETS = "compress=latent (model=latent) or compress=rd"
VALIDATED_FOR_NIRVANA = ("train.budget_s", "train.candidates", "compress.prune", "compress.prune_epochs",
                         "compress.qat_epochs", "compress.rd_epochs", "compress.entropy", "compress.target_kb",
                         "compress.target_bpp", "compress.soft_round")


def given(overrides) -> dict[str, str]:
    """The keys set on the command line (``key=value`` and ``+key=value``, not groups, not Hydra's), each with
    its last override as written."""
    from .overrides import GROUPS, parse
    out: dict[str, str] = {}
    for o in parse([str(x) for x in overrides]):
        key = o.key_or_group
        if key in GROUPS or key.startswith("hydra") or o.is_sweep_override():
            continue
        out[key.lstrip("+")] = o.input_line
    return out


def choice(group: str, overrides) -> str:
    """The option a group takes for these overrides: the last ``group=X`` given, else the default (for
    ``compress``: the chosen model's own preset, conf/model/<name>.yaml)."""
    from .overrides import default_option, parse
    picked = None
    for o in parse([str(x) for x in overrides]):
        if o.key_or_group == group and not o.is_sweep_override():
            picked = o.get_value_element_as_str()
    if picked is not None:
        return picked
    if group == "compress":
        return model_preset(choice("model", overrides))
    return default_option(group)


def model_preset(model: str) -> str:
    """The compress preset conf/model/<model>.yaml names in its defaults list (``override /compress: X``)."""
    from importlib import resources

    from omegaconf import OmegaConf
    path = resources.files("inr_codec.conf") / "model" / f"{model}.yaml"
    for entry in OmegaConf.load(str(path)).get("defaults", []):
        if not isinstance(entry, str):
            for k, v in entry.items():
                if k.replace("override", "").strip().lstrip("/") == "compress":
                    return str(v)
    from .overrides import default_option
    return default_option("compress")


def _num(v, default: float = 0.0) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return default


def _why(cfg, key: str, keys: dict[str, str], preset: str) -> str | None:
    """Why ``key`` changes nothing under ``cfg`` (and what would make it act), or None where it acts."""
    model, c = cfg.model.name, cfg.compress
    learned = c.get("entropy", "static") == "learned"
    target = c.get("target_kb") is not None or c.get("target_bpp") is not None
    if model == "nirvana":
        reason = _why_nirvana(cfg, key)
        if reason:
            return reason
    rules: dict[str, Callable[[], str | None]] = {
        "compress.lmbda": lambda: None if learned or (_num(c.qat_epochs) > 0 and model != "nirvana") else (
            f"static coding with no quantization-aware phase has no rate term: add {LEARNED_PRESETS}, "
            "or compress.qat_epochs above 0 (as compress=full)"),
        "compress.rd_epochs": lambda: None if learned else f"it is a learned-entropy setting: add {LEARNED_PRESETS}",
        "compress.weight_model": lambda: None if learned else f"it is a learned-entropy setting: add {LEARNED_PRESETS}",
        "compress.steps": lambda: None if learned else f"it is a learned-entropy setting: add {LEARNED_PRESETS}",
        "compress.rd_fit": lambda: None if learned else f"it is a learned-entropy setting: add {LEARNED_PRESETS}",
        "compress.latent_model": lambda: None if model == "latent" and learned else
            "it sets the latent grids' context model: use it with model=latent compress=latent",
        "compress.qat_noise": lambda: (f"compress.entropy=learned has its own noise phase: set compress.rd_epochs"
                                       if learned else None if _num(c.qat_epochs) > 0 else
                                       "it splits the quantization-aware phase: add compress.qat_epochs above 0"),
        "compress.prune_epochs": lambda: ("compress.entropy=learned does not prune" if learned else
                                          None if _num(c.prune) > 0 or target else
                                          "nothing is pruned: add compress.prune above 0 (or a rate target)"),
        "compress.finetune_lr": lambda: None if learned or _num(c.qat_epochs) > 0 or (
            (_num(c.prune) > 0 or target) and _num(c.prune_epochs) > 0) else (
            "no fine-tuning phase runs: add compress.qat_epochs (or compress.prune and prune_epochs)"),
        "compress.embed_bits": lambda: None if model == "hnerv" else
            f"only HNeRV stores embeddings; model={model} has none",
        "compress.ladder": lambda: None if "quality" in keys else "it is read by quality=N: add quality=1..5",
        "model.size_m": lambda: None if model != "latent" else (
            "the latent model is sized by model.levels, model.hidden and model.layers; its rate by quality=N, "
            "compress.lmbda or compress.target_kb"),
        "model.fit_lr": lambda: None if "train.lr" not in keys else "train.lr on the command line wins over it",
        # The noise's seed (an integer on each tensor's LearnedQuant) changes every step: dynamo recompiles the
        # parametrizations until its limit, then runs them eagerly, so compiling only costs its seconds.
        "train.compile": lambda: None if not learned else (
            "under learned entropy the quantization noise's seed changes every step, so torch.compile recompiles "
            "until it gives up and runs eager; compile the static presets (compress=default, full)"),
        "train.candidate_epochs": lambda: None if _num(cfg.train.candidates, 1) > 1 else
            "there are no warm-up candidates: add train.candidates above 1",
    }
    for k in ("model.motion_block", "model.motion_t_stride", "model.motion_search"):
        rules[k] = lambda: None if cfg.model.get("motion") else "it shapes the latent model's motion: add model.motion=true"
    for k in ("model.t_stride_base", "model.t_stride_max", "model.t_stride_first"):
        rules[k] = lambda: None if cfg.model.get("t_strides") is None else \
            "model.t_strides gives every level's stride by hand; drop one of the two"
    rule = rules.get(key)
    return rule() if rule else None


def _why_nirvana(cfg, key: str) -> str | None:
    """NIRVANA fits group by group with its own steps and learning rates, and quantizes while it trains."""
    m = cfg.model
    if key in VALIDATED_FOR_NIRVANA:
        return None  # config.validate refuses these with its own message
    if key.startswith("train."):
        instead = {"train.epochs": "model.key_steps and model.steps (steps per group)",
                   "train.lr": "model.lr and model.residual_lr", "train.batch_size": "model.batch"}
        return (f"model=nirvana trains group by group with its own settings"
                f"{': set ' + instead[key] if key in instead else ''}")
    if key.startswith("compress.") and key not in ("compress.bits", "compress.bias_bits", "compress.layer_bits"):
        return "model=nirvana quantizes while it trains: set the rate with compress.bits and model.residual_bits"
    if key in ("model.layers", "model.mix") and m.head == "conv":
        return "it shapes the tile MLP: add model.head=mlp"
    if key == "model.grid_t" and m.head == "mlp" and _num(m.grid_ch) == 0:
        return "the tile MLP has no learned codes with model.grid_ch=0: add model.grid_ch above 0"
    residual = ("model.steps", "model.residual_lr", "model.residual_l1", "model.residual_train",
                "model.residual_bits", "model.adapt_bits")
    if key in residual and _num(m.segment, 1) <= 1:
        return "model.segment=1 makes every group a key group (no residual groups): set model.segment above 1"
    return None


def check(cfg, overrides) -> None:
    """One-line InputError for the first override that asks for a change that would change nothing under
    ``cfg``. An override that sets a key to the chosen preset's own value asks for no change and passes
    (``compress.prune_epochs=0`` written out where nothing is pruned)."""
    keys = given(overrides)
    if not keys:
        return
    preset, base = choice("compress", overrides), None
    for key, written in keys.items():
        reason = _why(cfg, key, keys, preset)
        if reason is None:
            continue
        if base is None:
            base = _presets_only(overrides)
        if OmegaConf.select(base, key, default=None) == OmegaConf.select(cfg, key, default=None):
            continue
        raise InputError(f"{written.lstrip('+')} changes nothing under model={cfg.model.name} compress={preset}: "
                         f"{reason}")


def _presets_only(overrides):
    """The configuration with the overrides' group choices (model=, compress=, ...) and no key set."""
    from .config import hydra_compose
    from .overrides import GROUPS, parse
    return hydra_compose([o.input_line for o in parse([str(x) for x in overrides])
                          if o.key_or_group in GROUPS and not o.is_sweep_override()])
