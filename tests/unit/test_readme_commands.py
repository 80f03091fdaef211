"""The README's ``inrcodec fit`` commands stay valid: each one's overrides (every job of a ``-m`` sweep) compose
and pass every check a fit makes before its work, the inert-knob check included, so the page never shows a
command that answers with an error or a knob that does nothing."""
import shlex
from pathlib import Path

import pytest

from inr_codec.cli import split_fit_args
from inr_codec.config import compose, validate
from inr_codec.sweep import expand

README = Path(__file__).parents[2] / "README.md"


def fit_commands() -> list[str]:
    lines, block = [], False
    for ln in README.read_text().splitlines():
        if ln.startswith("```"):
            block = not block
            continue
        if block and ln.lstrip().startswith("inrcodec fit"):
            lines.append(ln.split("#")[0].strip())
    return lines


def test_the_readme_has_fit_commands():
    assert len(fit_commands()) >= 10 and "inrcodec fit video.mp4" in fit_commands()


@pytest.mark.parametrize("command", fit_commands())
def test_each_readme_fit_command_passes_the_checks(command):
    args = shlex.split(command)[2:]
    sweep = "-m" in args
    words = [a for a in args if a not in ("-m", "-q")]
    if "-o" in words:
        i = words.index("-o")
        del words[i:i + 2]
    if "--resume" in words:
        i = words.index("--resume")
        del words[i:i + 2]
    _, overrides = split_fit_args(words)
    for job in (expand(overrides) if sweep else [overrides]):
        validate(compose([o for o in job if not o.startswith("hydra")]))
