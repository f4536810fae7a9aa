"""Typed errors: each carries one actionable line; the CLI maps them to exit codes. Also the one line a pydantic
validation error becomes in them."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    from pydantic import ValidationError
    from pydantic_core import ErrorDetails


class QuantwbError(Exception):
    """Base class; `str(err)` is the one line a user sees."""

    exit_code = 1


class InputError(QuantwbError):
    """The user asked for something that cannot work (bad path, option, file)."""

    exit_code = 2


class ModelNotFoundError(InputError):
    """MODEL is neither a local folder, a built-in alias, nor a reachable hub id."""


class NotACausalLMError(InputError):
    """The folder holds something other than a causal language model."""


class UnsupportedError(InputError):
    """The combination (architecture, type, option) is not supported."""


class MissingPackageError(QuantwbError):
    """An optional package that a format needs is not installed; the line names it."""


class OfflineError(QuantwbError):
    """A hub model or dataset was asked for while the hub is unreachable."""

    exit_code = 3


class DataError(InputError):
    """Calibration or evaluation data is missing, empty or too short."""


class RecordError(QuantwbError):
    """A record is damaged, foreign, or incompatible with the others."""

    exit_code = 4


class WriteError(QuantwbError):
    """An output could not be written: the disk is full, or the destination is not writable."""


class QuantizationError(QuantwbError):
    """A quantization backend failed."""


class EvaluationError(QuantwbError):
    """An evaluation could not be completed."""


class GateError(QuantwbError):
    """A `--fail-on` threshold was breached (exit code used by CI gates)."""

    exit_code = 5


class NoFitError(QuantwbError):
    """No variant meets every budget given to `quantwb recommend` (exit code shared with the CI gate)."""

    exit_code = 5


def validation_line(
    err: ValidationError,
    nowhere: str,
    *,
    place: Callable[[ErrorDetails], str | None] | None = None,
    say: Callable[[ErrorDetails], str | None] | None = None,
) -> str:
    """The first error of a pydantic validation as one line, `where: what`. Where is the error's location joined
    with dots (`nowhere` when it has none) unless `place` names it; what is pydantic's message, less its
    "Value error, " prefix, unless `say` words it. Either callback returns None to leave the default."""
    error = err.errors()[0]
    where = (place and place(error)) or ".".join(str(part) for part in error["loc"]) or nowhere
    what = (say and say(error)) or str(error["msg"]).removeprefix("Value error, ")
    return f"{where}: {what}"
