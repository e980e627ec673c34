"""Reading log files in bounded memory: opening with one-line errors, and lines read backwards from the end.

A log can be many GiB. :func:`lines_backwards` reads blocks from the end, never more than asked, and keeps
at most one line (cut at ``max_line_bytes`` if given) plus one block in memory. Lines are what
:meth:`str.splitlines` makes of the text (UTF-8 unless told) (undecodable bytes become U+FFFD).
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from pytest_aide.errors import ProbeError

MIB = 2**20
DEFAULT_MAX_BYTES = 8 * MIB
DEFAULT_BLOCK_SIZE = 64 * 1024
MAX_LINE_BYTES = 1 * MIB  # a longer line is cut (its start kept) where only its start matters


def open_log(path: Path, *, buffered: bool = False) -> BinaryIO:
    """Open ``path`` for binary reading; a missing or unreadable file raises ProbeError.

    Unbuffered suits block reads at chosen offsets; buffered suits line-by-line reading.
    """
    try:
        return open(path, "rb", buffering=-1 if buffered else 0)  # the caller closes it (with-statement)
    except FileNotFoundError:
        raise ProbeError(f"log file not found: {path}") from None
    except OSError as exc:
        raise ProbeError(f"log file not readable: {path} ({exc.strerror or type(exc).__name__})") from None


def _segments_backwards(
    f: BinaryIO, end: int, *, block_size: int, max_bytes: int | None, max_line_bytes: int | None
) -> Iterator[tuple[bytes, bool]]:
    """Newline-separated segments of ``f[:end]``, last first, each with whether a newline ends it.

    Reads at most ``max_bytes`` from the end; a segment cut by that limit is dropped (it is not a whole
    line). ``max_line_bytes`` keeps only the start of longer segments, so memory stays bounded even across a
    huge line.
    """
    floor = 0 if max_bytes is None else max(0, end - max_bytes)
    pos = end
    carry: deque[bytes] = deque()  # pieces of the segment being assembled, in file order
    held = 0
    at_eof = True
    while pos > floor:
        size = min(block_size, pos - floor)
        pos -= size
        f.seek(pos)
        parts = f.read(size).split(b"\n")
        carry.appendleft(parts[-1])
        held += len(parts[-1])
        if len(parts) > 1:
            segment = b"".join(carry)
            if not (at_eof and not segment):  # the empty remainder after a final newline is no line
                yield segment, not at_eof
            for part in reversed(parts[1:-1]):
                yield part, True
            carry, held = deque([parts[0]]), len(parts[0])
            at_eof = False
        while max_line_bytes is not None and held > max_line_bytes and len(carry) > 1:
            held -= len(carry.pop())
    if end > 0 and (pos == 0 or _newline_before(f, pos)):
        yield b"".join(carry), not at_eof


def _newline_before(f: BinaryIO, pos: int) -> bool:
    """Whether the byte before ``pos`` ends a line, making the segment cut at ``pos`` a whole line."""
    f.seek(pos - 1)
    return f.read(1) == b"\n"


def lines_backwards(
    f: BinaryIO,
    *,
    block_size: int = DEFAULT_BLOCK_SIZE,
    max_bytes: int | None = None,
    max_line_bytes: int | None = None,
    encoding: str = "utf-8",
) -> Iterator[str]:
    """The lines of an open binary file, last line first, read in blocks from its current size.

    ``encoding`` must write a newline as the byte ``\n`` (UTF-8, Latin-1, cp1252...: the settings check it).
    """
    if block_size < 1:
        raise ValueError(f"block_size must be at least 1, not {block_size}")
    end = os.fstat(f.fileno()).st_size
    for segment, terminated in _segments_backwards(
        f, end, block_size=block_size, max_bytes=max_bytes, max_line_bytes=max_line_bytes
    ):
        text = segment.decode(encoding, errors="replace")
        # A segment may hold other separators (\r, \x85, \u2028...); with its newline put back, splitlines
        # splits it exactly as it would split the whole text ("\x85\n" is two empty lines, "\r\n" one).
        yield from reversed((text + "\n").splitlines() if terminated else text.splitlines())
