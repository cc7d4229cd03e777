"""One-line messages and exit codes for errors that reach the command line.

Exit codes: 2 for bad input (a file that is missing, malformed or of the wrong kind, a bad
option or config), 1 for a failure while working (a file that cannot be written, a full disk,
out of memory, an unexpected error), 130 for Ctrl-C. docs/bad_inputs.md lists them.
"""

from __future__ import annotations

from dataclasses import dataclass

EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130
MAX_MESSAGE = 400


@dataclass(frozen=True)
class ErrorReport:
    """What to print (after ``error: ``) and the exit code."""

    message: str
    exit_code: int


def _one_line(text: str) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= MAX_MESSAGE else line[: MAX_MESSAGE - 3] + "..."


def describe_error(exc: BaseException) -> ErrorReport:
    """The message and exit code for ``exc``."""
    from mtface.core.weights import WeightsError

    if isinstance(exc, MemoryError):
        return ErrorReport("out of memory", EXIT_FAILURE)
    if isinstance(exc, (FileNotFoundError, NotADirectoryError, IsADirectoryError)):
        where = f"{exc.filename}: " if exc.filename else ""
        return ErrorReport(_one_line(f"{where}{exc.strerror or exc}"), EXIT_BAD_INPUT)
    if isinstance(exc, OSError):  # SaveError, disk full, permissions
        text = (
            str(exc)
            if not exc.strerror
            else (f"{exc.filename}: {exc.strerror}" if exc.filename else exc.strerror)
        )
        return ErrorReport(_one_line(text), EXIT_FAILURE)
    if isinstance(exc, (WeightsError, ValueError, KeyError)):
        text = str(exc) if not isinstance(exc, KeyError) else f"missing entry {exc}"
        return ErrorReport(_one_line(text), EXIT_BAD_INPUT)
    return ErrorReport(
        _one_line(f"unexpected {type(exc).__name__}: {exc} (run with --debug for the traceback)"),
        EXIT_FAILURE,
    )
