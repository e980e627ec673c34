"""Streaming compression of one component file: zstandard (default, multi-threaded level 3) or zip.

Everything streams in 1 MiB blocks, so memory stays flat whatever the database size, and the checksum is
computed while writing instead of re-reading the archive.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import tempfile
import threading
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, BinaryIO, cast

import zstandard

from pytest_aide.backup import direct_io
from pytest_aide.errors import BackupError

BLOCK = 1 << 20
COPY_BLOCK = 64 << 10  # libzstd's copy loop: below glibc's 128 KiB mmap threshold (see _copy_buffered)
ZSTD_LEVEL = 3
Progress = Callable[[str, int, int], None]
SUFFIX = {"zstd": ".zst", "zip": ".zip"}


def zstd_compressor() -> zstandard.ZstdCompressor:
    """Level 3 on the machine's cores, with a content checksum in every frame: a flipped byte or a cut-off
    end is caught by decompression itself, not only by the manifest's sha256 (which whoever altered the
    archive can recompute). The content size goes into the frame header where it is known up front."""
    return zstandard.ZstdCompressor(level=ZSTD_LEVEL, threads=zstd_threads(), write_checksum=True)


def zstd_threads() -> int:
    """Worker threads for zstd: the machine's cores, capped so a backup never swamps a big host."""
    return max(1, min(os.cpu_count() or 1, 8))


@dataclass
class Written:
    """Size and sha256 of a compressed file, known once its writer is closed."""

    size: int = 0
    sha256: str = ""


class _HashingWriter:
    """A write-only file object that hashes and counts what passes through it."""

    def __init__(self, fh: BinaryIO) -> None:
        self._fh = fh
        self._hash = hashlib.sha256()
        self.size = 0

    def write(self, data: Any) -> int:
        view = memoryview(data)
        self._hash.update(view)
        self.size += view.nbytes
        return self._fh.write(view)

    def flush(self) -> None:
        self._fh.flush()

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


class _ProgressReader:
    """A read-only file object that reports bytes read to a progress callback."""

    def __init__(self, fh: IO[bytes], stage: str, total: int, progress: Progress | None) -> None:
        self._fh, self._stage, self._total, self._progress = fh, stage, total, progress
        self._done = 0
        self._next_report = 0

    def read(self, size: int = -1) -> bytes:
        data = self._fh.read(size)
        self._done += len(data)
        if self._progress is not None and (self._done >= self._next_report or not data):
            self._progress(self._stage, self._done, self._total)
            self._next_report = self._done + 64 * BLOCK
        return data


@contextmanager
def file_growth(progress: Progress | None, stage: str, path: Path, total: int) -> Iterator[None]:
    """Report ``path``'s size once a second while the block runs (``total`` 0: unknown).

    For steps that write a file without telling us how far they are (SQLite's one-step snapshot, pg_dump):
    without it the first seconds of a big backup are silent.
    """
    if progress is None:
        yield
        return
    stop = threading.Event()

    def tick() -> None:
        while not stop.wait(1.0):
            try:
                progress(stage, path.stat().st_size, total)
            except OSError:
                continue

    ticker = threading.Thread(target=tick, name=f"aide progress {stage}", daemon=True)
    ticker.start()
    try:
        yield
    finally:
        stop.set()
        ticker.join(timeout=5)


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(BLOCK):
            digest.update(block)
    return digest.hexdigest()


def compress_file(
    src: Path,
    dest: Path,
    compression: str,
    member: str,
    *,
    progress: Progress | None = None,
    discard_source: bool = False,
) -> Written:
    """Compress ``src`` into ``dest`` (fsynced); ``member`` names the entry inside a zip.

    ``discard_source`` deletes ``src`` (a scratch copy) before ``dest`` is fsynced: on ext4 an fsync also
    writes out other dirty data of the journal transaction, and a deleted file's pages are never written.
    """
    total = src.stat().st_size
    with open(src, "rb") as raw:
        reader = _ProgressReader(raw, f"compress {member}", total, progress)
        if compression == "zstd":
            written = _zstd_copy(reader, dest, total)
        else:
            with compressed_writer(dest, compression, member) as (out, written):
                while block := reader.read(BLOCK):
                    out.write(block)
    if discard_source:
        src.unlink(missing_ok=True)
    fd = os.open(dest, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return written


def _zstd_copy(reader: _ProgressReader, dest: Path, total: int) -> Written:
    cctx = zstd_compressor()
    with open(dest, "wb") as fh:
        out = _HashingWriter(fh)
        cctx.copy_stream(cast(IO[bytes], reader), cast(IO[bytes], out), size=total, read_size=BLOCK, write_size=BLOCK)
        fh.flush()  # compress_file fsyncs once the source is closed
    return Written(size=out.size, sha256=out.hexdigest())


@contextmanager
def compressed_writer(dest: Path, compression: str, member: str) -> Iterator[tuple[BinaryIO, Written]]:
    """A writable stream compressing into ``dest``; the Written is filled in (and dest fsynced) on exit."""
    written = Written()
    if compression == "zstd":
        cctx = zstd_compressor()
        with open(dest, "wb") as fh:
            hasher = _HashingWriter(fh)
            with cctx.stream_writer(cast(IO[bytes], hasher), write_size=BLOCK, closefd=False) as stream:
                yield cast(BinaryIO, stream), written
            fh.flush()
            os.fsync(fh.fileno())
        written.size, written.sha256 = hasher.size, hasher.hexdigest()
        return
    with (
        zipfile.ZipFile(dest, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as zf,
        zf.open(member, "w", force_zip64=True) as stream,
    ):
        yield cast(BinaryIO, stream), written
    with open(dest, "rb+") as fh:
        os.fsync(fh.fileno())
    written.size, written.sha256 = dest.stat().st_size, sha256_file(dest)


@contextmanager
def piped_writer(dest: Path, compression: str, member: str) -> Iterator[tuple[BinaryIO, Written]]:
    """:func:`compressed_writer` for a stream another process produces (a database dump): zstd through the
    ``zstd`` command when it is installed, same level, threads and frame checksum, the archive hashed and
    fsynced here. The command's own I/O threads keep a pipeline moving: against ``mariadb-dump | zstd -3 -T2``
    (medians of 6 interleaved runs on a loaded 2-core machine) the in-process compressor took 1.2x, the
    command 1.0x.
    """
    tool = shutil.which("zstd") if compression == "zstd" else None
    if tool is None:
        with compressed_writer(dest, compression, member) as pair:
            yield pair
        return
    written = Written()
    args = [tool, f"-{ZSTD_LEVEL}", f"-T{zstd_threads()}", "--check", "-q", "-c"]
    with open(dest, "wb") as fh, tempfile.TemporaryFile() as errors:
        hasher = _HashingWriter(fh)
        with subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors) as proc:
            assert proc.stdin is not None
            assert proc.stdout is not None
            out_fd = proc.stdout.fileno()
            copier = threading.Thread(target=_copy_fd, args=(out_fd, hasher), name="aide zstd output", daemon=True)
            copier.start()
            try:
                yield cast(BinaryIO, proc.stdin), written
            finally:
                with contextlib.suppress(OSError):  # a zstd that died: its exit status says why
                    proc.stdin.close()
                try:
                    proc.wait(timeout=PIPED_TIMEOUT)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    raise BackupError(f"zstd compressing {member} did not finish within {PIPED_TIMEOUT:g} s") from None
                finally:
                    copier.join(timeout=PIPED_TIMEOUT)
        if proc.returncode != 0:
            errors.seek(0)
            reason = errors.read(4096).decode("utf-8", "replace").strip().splitlines() or ["no error output"]
            raise BackupError(f"zstd compressing {member} exited with {proc.returncode}: {reason[0]}")
        fh.flush()
        os.fsync(fh.fileno())
    written.size, written.sha256 = hasher.size, hasher.hexdigest()


PIPED_TIMEOUT = 600.0  # seconds zstd may take to finish once its input is closed


def _copy_fd(fd: int, out: _HashingWriter) -> None:
    while data := os.read(fd, BLOCK):
        out.write(data)


class _CheckedZstdReader:
    """Decompresses a zstd file and fails on what the library's stream reader lets pass: a stream that ends
    inside a frame (a truncated archive decompresses "fine" up to the cut) and bytes after the last frame."""

    def __init__(self, fh: IO[bytes], name: str) -> None:
        self._fh, self._name = fh, name
        self._dctx = zstandard.ZstdDecompressor()
        self._frame = self._dctx.decompressobj()
        self._pending = b""
        self._offset = 0
        self._ended = False

    def read(self, size: int = -1) -> bytes:
        # tarfile reads 10 KiB at a time: hand out slices at an offset, never re-copy the rest of the buffer
        while not self._ended and (size < 0 or len(self._pending) - self._offset < size):
            self._pending = self._pending[self._offset :] + self._next_block()
            self._offset = 0
        end = len(self._pending) if size < 0 else self._offset + size
        data = self._pending[self._offset : end]
        self._offset += len(data)
        return data

    def _next_block(self) -> bytes:
        block = self._fh.read(BLOCK)
        if not block:
            self._ended = True
            if not self._frame.eof:
                raise BackupError(f"{self._name}: truncated: the zstd stream ends inside a frame")
            return b""
        out = self._frame.decompress(block)
        while self._frame.eof and self._frame.unused_data:
            rest = self._frame.unused_data  # concatenated frames (zstd -c a b) are one stream
            self._frame = self._dctx.decompressobj()
            out += self._frame.decompress(rest)
        return out


def frame_parameters(path: Path) -> Any | None:
    """The header of a zstd archive's first frame (checksum flag, declared content size), None if unreadable."""
    with open(path, "rb") as fh:
        head = fh.read(18)  # ZSTD_FRAMEHEADERSIZE_MAX
    try:
        return zstandard.get_frame_parameters(head)
    except zstandard.ZstdError:
        return None


def has_frame_checksum(path: Path) -> bool:
    """Whether a zstd archive's (first) frame carries a content checksum (sets written before it don't)."""
    params = frame_parameters(path)
    return params is not None and bool(params.has_checksum)


@contextmanager
def open_reader(path: Path, compression: str, *, progress: Progress | None = None) -> Iterator[BinaryIO]:
    """A readable stream of the decompressed content of ``path``; corrupt or truncated data raises BackupError.

    ``progress`` hears about the compressed bytes read (zstd only: their total is known up front).
    """
    try:
        if compression == "zstd":
            with open(path, "rb") as fh:
                reader = _ProgressReader(fh, f"decompress {path.name}", path.stat().st_size, progress)
                yield cast(BinaryIO, _CheckedZstdReader(cast(IO[bytes], reader), path.name))
            return
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
            if len(names) != 1:
                raise BackupError(f"{path}: expected one member in the zip, found {len(names)}")
            with zf.open(names[0]) as stream:
                yield cast(BinaryIO, stream)
    except (zstandard.ZstdError, zipfile.BadZipFile, EOFError) as exc:
        raise BackupError(f"{path}: cannot decompress: {exc}") from exc


def decompress_to(
    path: Path,
    compression: str,
    dest: Path,
    *,
    progress: Progress | None = None,
    durable: bool = True,
    cached: bool = False,
) -> int:
    """Decompress ``path`` into the new file ``dest``; returns the bytes written.

    A ``durable`` copy (one about to replace its target) is fsynced; a scratch copy that is deleted after the
    check that reads it (verification) is not. A zstd archive that declares its size is written around the
    page cache (see :func:`_zstd_copy_sized`) unless the copy is read back at once (``cached``, and every
    scratch copy): SQLite's ``integrity_check`` of a 1 GiB copy took 3x as long reading it from the disk.
    """
    size = _frame_content_size(path) if compression == "zstd" else None
    if size is not None:
        total = _zstd_copy_sized(path, dest, size, progress, durable=durable, direct=durable and not cached)
    else:
        total = 0
        with open_reader(path, compression, progress=progress) as stream, open(dest, "wb") as out:
            while block := stream.read(BLOCK):
                total += out.write(block)
            out.flush()
            if durable:
                os.fsync(out.fileno())
    return total


def _frame_content_size(path: Path) -> int | None:
    """The content size a zstd archive's frame header declares (files and dumps: known when written), or None."""
    params = frame_parameters(path)
    if params is None or int(params.content_size) == zstandard.CONTENTSIZE_UNKNOWN:
        return None
    return int(params.content_size)


def _zstd_copy_sized(
    path: Path, dest: Path, size: int, progress: Progress | None, *, durable: bool, direct: bool
) -> int:
    """Decompress a sized zstd archive into ``dest``: libzstd checks the frame checksum, and a cut-off archive is
    caught by comparing what came out with the size the header declares.

    A ``durable`` copy is fsynced. With ``direct``, where the file system takes ``O_DIRECT``, the blocks go
    straight to the disk from a thread beside the decompression (:func:`direct_io.write_from`); else through
    the page cache (:func:`_copy_buffered`).
    """
    try:
        with open(path, "rb") as fh:
            reader = _ProgressReader(fh, f"decompress {path.name}", path.stat().st_size, progress)
            fd = direct_io.create(dest) if direct else None
            if fd is None:
                written = _copy_buffered(reader, dest, durable=durable)
            else:
                try:
                    stream = zstandard.ZstdDecompressor().stream_reader(
                        cast(IO[bytes], reader), read_size=COPY_BLOCK, read_across_frames=True
                    )
                    written = direct_io.write_from(stream.readinto, fd)
                    os.fsync(fd)  # little left to write: the file's metadata and the device's cache
                finally:
                    os.close(fd)
    except zstandard.ZstdError as exc:
        raise BackupError(f"{path}: cannot decompress: {exc}") from exc
    if written != size:
        raise BackupError(f"{path.name}: truncated: {written} of the {size} bytes its zstd frame declares")
    return written


def _copy_buffered(reader: _ProgressReader, dest: Path, *, durable: bool) -> int:
    """libzstd's own copy loop through the page cache, in blocks of :data:`COPY_BLOCK`.

    The loop allocates a new bytes object for every block it reads and every block it writes. At 1 MiB (and
    even at libzstd's recommended ~128 KiB, depending on what the process allocated before) glibc serves each
    from a fresh ``mmap``: one page fault per 4 KiB moved, 265,000 for a 1 GiB restore. Blocks of
    :data:`COPY_BLOCK` stay below malloc's mmap threshold and are recycled from the heap.
    """
    with open(dest, "wb") as out:
        _read, written = zstandard.ZstdDecompressor().copy_stream(
            cast(IO[bytes], reader), out, read_size=COPY_BLOCK, write_size=COPY_BLOCK
        )
        out.flush()
        if durable:
            os.fsync(out.fileno())
    return int(written)


def drain(path: Path, compression: str) -> int:
    """Decompress ``path`` fully without keeping anything; returns the decompressed size."""
    total = 0
    with open_reader(path, compression) as stream:
        while block := stream.read(BLOCK):
            total += len(block)
    return total
