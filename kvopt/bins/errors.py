"""Errors of the Multi-Bin Batching system; both are :class:`~kvopt.exceptions.KvoptError`, so
the CLI prints them as one line and exits with code 2."""

from __future__ import annotations

from kvopt.exceptions import KvoptError, ScheduleError

__all__ = ["BatchError", "BinsError"]


class BinsError(KvoptError, ValueError):
    """Bad input: a length model, a workload, an engine option. The message names the field."""


class BatchError(ScheduleError):
    """A set of batches breaks a rule of the static-batch model (raised by the verifier)."""
