"""Domain errors. Each has a stable ``code`` the REST layer maps to an HTTP status."""

from __future__ import annotations

from typing import Any


class RatError(Exception):
    """Base class of every error the core raises on purpose."""

    code = "INTERNAL"
    status = 500

    def __init__(self, message: str, *, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class Invalid(RatError):
    """Bad input: a name, path, config value or template that cannot be accepted."""

    code = "INVALID_ARGUMENT"
    status = 400


class NotFound(RatError):
    code = "NOT_FOUND"
    status = 404


class Conflict(RatError):
    """The request clashes with the current state (duplicate, wrong status, concurrent change)."""

    code = "CONFLICT"
    status = 409


class Busy(Conflict):
    """The pipeline already has a pending or running run (runs of one pipeline never overlap)."""

    code = "BUSY"


class TooLarge(RatError):
    code = "TOO_LARGE"
    status = 413


class Unprocessable(RatError):
    """The request is well formed but the pipeline cannot be processed (e.g. publish of invalid code)."""

    code = "UNPROCESSABLE"
    status = 422


class RateLimited(RatError):
    code = "RATE_LIMITED"
    status = 429


class Unavailable(RatError):
    code = "UNAVAILABLE"
    status = 503


class CycleError(Invalid):
    """The dependency graph has a cycle; ``cycle`` lists it, first node repeated at the end."""

    code = "CYCLE"

    def __init__(self, cycle: list[str]) -> None:
        super().__init__("dependency cycle: " + " -> ".join(cycle), details={"cycle": cycle})
        self.cycle = cycle


class TemplateError(Invalid):
    """A Jinja template cannot be parsed or rendered."""

    code = "TEMPLATE_ERROR"


class RunCancelled(RatError):
    code = "CANCELLED"
    status = 409
