"""Our own check of ``key=value`` overrides, before Hydra composes them.

Hydra's errors point the wrong way for a newcomer: ``train.epoch=20`` answers "To append to your
config use +train.epoch=20", and ``+train.epoch=20`` is then accepted and read by nothing; an unknown
group option ends with its config search path. Here every key must be one the configuration has
(with or without ``+``), and the message names the nearest valid key or group option.
"""
from __future__ import annotations

import difflib
import functools
from importlib import resources

from .errors import InputError

GROUPS = ("model", "train", "compress", "data")  # the config groups of conf/fit.yaml


def group_options(group: str) -> list[str]:
    """The options of a config group: the YAML files in conf/<group>/."""
    folder = resources.files("inr_codec.conf") / group
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def parse(overrides) -> list:
    """Hydra's parse of the overrides (its grammar: quoting, sweeps, ``+``/``++``/``~``); a bad one is one line."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    try:
        return OverridesParser.create().parse_overrides(list(overrides))
    except Exception as e:
        raise InputError(f"bad override: {_first_part(str(e))}") from None


def check(overrides, *, only: tuple[str, ...] | None = None, command: str = "fit") -> None:
    """Every override names a key the configuration has (or an option of a group); ``only`` limits the
    keys to those groups (``eval`` and ``bench`` read ``data.*`` alone). One-line InputError otherwise."""
    parsed = parse(overrides)
    choices = {}
    for o in parsed:
        key = o.key_or_group
        if key.startswith("hydra"):
            continue  # hydra/launcher=...: launch.py checks the launcher, Hydra its fields
        if o.type.name == "DEL":
            raise InputError(f"{o.input_line}: removing a key is not supported; set it instead (e.g. {key}=null)")
        if only is not None and key.split(".")[0] not in only:
            allowed = ", ".join(f"{g}.*" for g in only)
            raise InputError(f"{command} takes only {allowed} overrides (how to read the video), and {o.input_line} "
                             f"is not one; {command} uses the settings stored in the model file")
        if key in GROUPS:
            values = list(o.sweep_string_iterator()) if o.is_sweep_override() else [o.get_value_element_as_str()]
            for v in values:
                _check_option(key, v)
            choices[key] = values[0]
    keys = known_keys(tuple(sorted(choices.items())))
    for o in parsed:
        key = o.key_or_group
        if key.startswith("hydra") or key in GROUPS or key in keys:
            continue
        group = key.split(".")[0]
        elsewhere = [v for v in group_options(group) if key in known_keys(((group, v),))] if group in GROUPS else []
        if elsewhere:
            raise InputError(f"{o.input_line}: {key} is a setting of {' and '.join(f'{group}={v}' for v in elsewhere)}, "
                             f"not of {group}={choices.get(group) or default_option(group)}; add {group}={elsewhere[0]} or drop it")
        raise InputError(unknown_key_message(o.input_line, key, keys))


def _check_option(group: str, value: str) -> None:
    options = group_options(group)
    if value in options:
        return
    near = difflib.get_close_matches(value, options, n=1, cutoff=0.6)
    hint = f" (did you mean {group}={near[0]}?)" if near else ""
    raise InputError(f"{group}={value} is not a {group} option; choose one of: {', '.join(options)}{hint}")


def default_option(group: str) -> str:
    """The option conf/fit.yaml's defaults list picks for a group."""
    from omegaconf import OmegaConf
    defaults = OmegaConf.load(str(resources.files("inr_codec.conf") / "fit.yaml")).defaults
    return next((d[group] for d in defaults if not isinstance(d, str) and group in d), "")


@functools.lru_cache(maxsize=16)
def known_keys(choices: tuple[tuple[str, str], ...] = ()) -> frozenset[str]:
    """Every dotted key (leaves and sections) of conf/fit.yaml composed with these group choices."""
    from omegaconf import OmegaConf

    from .config import hydra_compose
    cfg = OmegaConf.to_container(hydra_compose([f"{g}={v}" for g, v in choices]), resolve=False)
    keys: set[str] = set()

    def walk(node: dict, prefix: str) -> None:
        for k, v in node.items():
            path = f"{prefix}{k}"
            keys.add(path)
            if isinstance(v, dict):
                walk(v, path + ".")

    walk(cfg, "")
    return frozenset(keys)


def nearest_key(key: str, keys) -> str | None:
    """The valid key a mistyped one most likely meant: the same last part under another section
    (``epochs`` → ``train.epochs``), else the closest spelling."""
    leaf = key.split(".")[-1]
    same_leaf = sorted(k for k in keys if k.split(".")[-1] == leaf)
    if len(same_leaf) == 1:
        return same_leaf[0]
    near = difflib.get_close_matches(key, sorted(keys), n=1, cutoff=0.6)
    return near[0] if near else None


def unknown_key_message(override: str, key: str, keys) -> str:
    near = nearest_key(key, keys)
    if near:
        return f"{override}: no setting {key}; did you mean {near}?"
    section = key.rsplit(".", 1)[0] if "." in key else ""
    siblings = sorted(k.rsplit(".", 1)[-1] for k in keys if section and k.startswith(section + ".")
                      and k.count(".") == key.count("."))
    listed = f"; {section} has: {', '.join(siblings)}" if siblings else "; see docs/cli.md for the settings"
    return f"{override}: no setting {key}{listed}"


def _first_part(message: str) -> str:
    """Hydra's message without its config search path and blank-line appendices, on one line."""
    text = message.split("Config search path")[0]
    return " ".join(text.split())
