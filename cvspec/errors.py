"""The one error hierarchy: every user-facing failure is a CvspecError, turned into a
one-line CLI message in exactly one place (cvspec.cli)."""

from __future__ import annotations


class CvspecError(Exception):
    """Root of every error cvspec reports to a user (exit status 1, no traceback)."""


class SpecError(CvspecError):
    """The spec is invalid. Carries every problem found, one line each."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class ConfigError(CvspecError):
    """The environment (endpoints, keys) is incomplete or inconsistent."""


class ServiceError(CvspecError):
    """The Custom Vision service (or the emulator) refused an operation."""

    def __init__(self, message: str, code: str | None = None, status: int | None = None) -> None:
        self.code = code
        self.status = status
        super().__init__(message)


class PlanError(CvspecError):
    """A plan cannot be made or applied (unsafe, refused by protect, stale)."""


class StalePlanError(PlanError):
    """A saved plan was made against live state that has since changed."""


class GateError(CvspecError):
    """A quality gate failed; the published iteration was left as it was."""
