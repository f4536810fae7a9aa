"""Typed errors: each carries one actionable line; the CLI maps them to exit codes."""


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
