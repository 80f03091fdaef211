"""Model registry: architectures register themselves by name with ``@register``."""
from __future__ import annotations

from ..errors import InputError

MODELS: dict[str, type] = {}


def register(name: str):
    def wrap(cls):
        cls.name = name
        MODELS[name] = cls
        return cls
    return wrap


def get_model_class(name: str) -> type:
    # Importing the package fills the registry (each model module registers itself).
    from . import hnerv, latent, nerv, nirvana  # noqa: F401
    if name not in MODELS:
        raise InputError(f"unknown model '{name}'; choose one of: {', '.join(sorted(MODELS))}")
    return MODELS[name]
