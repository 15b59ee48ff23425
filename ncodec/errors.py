"""Error hierarchy shared by every layer.

This module imports nothing from the layers so that any layer may import it. The CLI maps each
class to a one-line message and a distinct exit code (``exit_code``).
"""

from __future__ import annotations


class NcodecError(Exception):
    """Base class of every error ncodec raises on purpose."""

    exit_code = 1


class UsageError(NcodecError):
    """A command-line or API argument is wrong: an unknown codec name, a missing output folder, a
    malformed list. Exit code 2, as for argparse's own usage errors."""

    exit_code = 2


class MissingDeviceError(NcodecError):
    """A device was asked for that this machine does not have (``--device cuda`` without a GPU)."""

    exit_code = 9


class BitstreamError(NcodecError):
    """A bitstream is malformed, truncated, corrupted or exceeds a parser limit."""

    exit_code = 3


class UnsupportedInputError(NcodecError):
    """An input file or array is missing, unreadable, of an unsupported kind or too large."""

    exit_code = 4


class ModelMismatchError(NcodecError):
    """A bitstream names a codec, weights or format this installation cannot decode."""

    exit_code = 5


class MissingWeightsError(NcodecError):
    """A codec needs trained weights that are not present locally (nothing is downloaded)."""

    exit_code = 6


class OutputExistsError(NcodecError):
    """The output path exists and ``--force`` was not given."""

    exit_code = 7


class MissingDependencyError(NcodecError):
    """A codec needs an external library or tool that is not installed; the message names it."""

    exit_code = 8
