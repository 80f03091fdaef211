"""Expand a sweep (``-m a=1,2 b=x,y``) into one override list per job, with Hydra's override grammar."""
from __future__ import annotations

import itertools

from .errors import InputError


def expand(overrides: list[str]) -> list[list[str]]:
    from hydra.core.override_parser.overrides_parser import OverridesParser

    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except Exception as e:
        raise InputError(f"bad sweep override: {' '.join(str(e).split())}") from None
    axes = []
    for o in parsed:
        key = o.get_key_element()
        if o.is_sweep_override():
            axes.append([f"{key}={v}" for v in o.sweep_string_iterator()])
        else:
            axes.append([f"{key}={o.get_value_element_as_str()}"])
    return [list(job) for job in itertools.product(*axes)]
