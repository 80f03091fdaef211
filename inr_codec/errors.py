"""Errors that reach the user as one line on stderr with exit status 2.

Anything raised as an ``InputError`` (or a subclass) is the user's input or
environment being wrong, not a bug: the CLI prints ``inrcodec: error: <message>``
and exits with status 2. Messages name the problem and, where it helps, what to do.
"""


class InputError(Exception):
    """Bad input: a missing or unreadable file, a bad override, an unwritable path."""


class VideoError(InputError):
    """A video could not be read or written."""


class ContainerError(InputError):
    """A model.bin file is truncated, corrupted, foreign or of an unsupported version."""


class BackendError(InputError):
    """A requested decode backend or device cannot run on this machine."""


class FitInterrupted(InputError):
    """Ctrl-C or SIGTERM during a fit: a checkpoint was saved and the run can resume (exit status 130)."""
