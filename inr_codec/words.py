"""Counted nouns in messages: "1 epoch", "2 epochs" (never "1 epochs")."""
from __future__ import annotations

IRREGULAR = {"process": "processes"}


def plural(n: int, noun: str, *, sep: str = " ", fmt: str = "") -> str:
    """``n`` and ``noun``, the noun plural unless ``n`` is 1; ``fmt`` formats the number (",": 1,234)."""
    word = noun if n == 1 else IRREGULAR.get(noun, noun + "s")
    return f"{n:{fmt}}{sep}{word}"
