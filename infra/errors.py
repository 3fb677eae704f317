"""The one error type of scalecloud: a message for the user and a hint to fix it."""

from __future__ import annotations


class ScalecloudError(Exception):
    """An error the user can act on.

    Raised anywhere in the library, caught once by the CLI, which prints ``message``
    and ``hint`` on one line each and exits non-zero (the traceback only with
    ``--debug``).
    """

    def __init__(self, message: str, hint: str | None = None, *, exit_code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.exit_code = exit_code

    def __reduce__(self) -> tuple[object, ...]:
        # Raised on a worker, it reaches the client pickled: keep the hint and exit code.
        return (_rebuild, (type(self), self.message, self.hint, self.exit_code))

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} (hint: {self.hint})"


def _rebuild(
    cls: type[ScalecloudError], message: str, hint: str | None, exit_code: int
) -> ScalecloudError:
    return cls(message, hint, exit_code=exit_code)


class Terminated(KeyboardInterrupt):
    """SIGTERM, ending a run as Ctrl-C does (records say interrupted), but exiting 143."""

    exit_code = 143
