"""Restoring a file-like archive (SQLite snapshot, file, dump) goes through libzstd (its copy loop, or its
stream reader into the recycled buffers of ``direct_io``): exact bytes, every cut caught, and no fresh memory
per block. The ``O_DIRECT`` writer has its own tests in ``test_backup_direct_restore.py``.

The restore bound of the backup-hardening issue failed (1.35-1.74x ``zstd -d`` + ``cp`` on 1 GiB) because the
loop moved 1 MiB blocks: in a new process each was a fresh ``mmap``, one page fault per 4 KiB restored.
Page faults are counted by the kernel, not timed, so the last test holds under any machine load.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_aide.backup.compress import COPY_BLOCK, decompress_to
from pytest_aide.errors import BackupError

REPO = Path(__file__).resolve().parent.parent


def write_archive(path: Path, content: bytes) -> None:
    """As backups write them: content checksum, content size in the frame header."""
    path.write_bytes(zstandard.ZstdCompressor(level=1, write_checksum=True).compress(content))


@settings(max_examples=25, deadline=None)
@given(
    blocks=st.integers(min_value=0, max_value=4),
    extra=st.sampled_from([-1, 0, 1, 4095, 4096]),
    seed=st.binary(min_size=1, max_size=64),
)
def test_restored_bytes_are_exactly_the_content_around_block_edges(
    tmp_path_factory: pytest.TempPathFactory, blocks: int, extra: int, seed: bytes
) -> None:
    content = (seed * (COPY_BLOCK // len(seed) + 2))[: max(0, blocks * COPY_BLOCK + extra)]
    folder = tmp_path_factory.mktemp("edges")
    write_archive(folder / "a.zst", content)
    assert decompress_to(folder / "a.zst", "zstd", folder / "out") == len(content)
    assert (folder / "out").read_bytes() == content


@settings(max_examples=25, deadline=None)
@given(cut=st.floats(min_value=0.02, max_value=0.999))
def test_any_cut_of_a_sized_archive_is_an_error(tmp_path_factory: pytest.TempPathFactory, cut: float) -> None:
    folder = tmp_path_factory.mktemp("cut")
    content = os.urandom(3 * COPY_BLOCK).hex().encode()  # half-compressible, ~6 output blocks
    write_archive(folder / "a.zst", content)
    blob = (folder / "a.zst").read_bytes()
    (folder / "a.zst").write_bytes(blob[: int(len(blob) * cut)])
    with pytest.raises(BackupError, match=r"truncated|cannot decompress"):
        decompress_to(folder / "a.zst", "zstd", folder / "out")


def test_restoring_touches_no_fresh_memory_per_block(tmp_path: Path) -> None:
    """A new process (as ``aide restore`` is) restores 32 MiB with far fewer page faults than pages written."""
    content = os.urandom(16 << 20).hex().encode()
    write_archive(tmp_path / "a.zst", content)
    child = textwrap.dedent(
        """
        import resource, sys
        from pathlib import Path
        from pytest_aide.backup.compress import decompress_to
        before = resource.getrusage(resource.RUSAGE_THREAD).ru_minflt
        decompress_to(Path(sys.argv[1]), "zstd", Path(sys.argv[2]))
        print(resource.getrusage(resource.RUSAGE_THREAD).ru_minflt - before)
        """
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run(
        [sys.executable, "-c", child, str(tmp_path / "a.zst"), str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=True,
    )
    pages = len(content) // 4096
    faults = int(done.stdout)
    assert (tmp_path / "out").stat().st_size == len(content)
    assert faults < pages // 4, f"{faults} page faults restoring {pages} pages"
