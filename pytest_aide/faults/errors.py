"""The error type of the fault-injection helpers."""

from __future__ import annotations

from pytest_aide.errors import AideError


class FaultError(AideError):
    """A fault could not be injected or undone, or was refused (a process the suite did not start, a chmod that
    would not stop root); the message is one line naming the process, file or port and the remedy."""
