"""``with probe:`` closes the probe's connections however the block ends."""

from __future__ import annotations

from types import TracebackType
from typing import Self


class ClosesOnExit:
    """Base of the probes that hold connections (HTTP pool, database, cache): ``with`` calls ``close()``."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
