"""The ``inrcodec fit`` commands of the README (its code blocks) and of docs/cli.md (its inline examples) stay
valid: each one's overrides (every job of a ``-m`` sweep) compose and pass every check a fit makes before its
work, the inert-knob check included, so the pages never show a command that answers with an error or a knob
that does nothing."""
import re
import shlex
from pathlib import Path

import pytest

from inr_codec.cli import split_fit_args
from inr_codec.config import compose, validate
from inr_codec.sweep import expand

README = Path(__file__).parents[2] / "README.md"
CLI_DOC = Path(__file__).parents[2] / "docs" / "cli.md"


def fit_commands() -> list[str]:
    lines, block = [], False
    for ln in README.read_text().splitlines():
        if ln.startswith("```"):
            block = not block
            continue
        if block and ln.lstrip().startswith("inrcodec fit"):
            lines.append(ln.split("#")[0].strip())
    for m in re.finditer(r"`(inrcodec fit [^`]*)`", CLI_DOC.read_text()):  # concrete examples, not the synopsis
        if "=" in m.group(1) and not re.search(r"\[|\.\.\.|RUN_DIR|hydra", m.group(1)):
            lines.append(m.group(1))
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
