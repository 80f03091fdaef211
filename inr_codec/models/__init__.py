"""Architectures; each registers itself by name (see registry.py)."""
from .registry import MODELS, get_model_class, register  # noqa: F401
from . import hnerv, nerv  # noqa: F401,E402
