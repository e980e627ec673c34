"""Archives judged as a whole: link chains that are harmless member by member are refused, for zstd and zip.

The backup issue's finding: a set whose members each pass alone (the CVE-2025-4517 chain of symlinks, or the
short ``x/y -> ..``, ``x/y/z -> ..``) verified and then made ``restore`` write outside its target. Each case
here puts a crafted tar into a real set with a correct manifest checksum, so only the member checks stand in
the way, and asserts that verify and restore give the same one-line refusal and that nothing was written.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_aide.backup import BackupManager, parse_backup_config
from pytest_aide.backup.compress import compressed_writer, sha256_file
from pytest_aide.backup.folder_source import extract, scan
from pytest_aide.backup.safety import ArchiveGuard
from pytest_aide.errors import BackupError
from pytest_aide.redact import Redactor

Member = tuple[str, bytes, str]  # name, tar type, link target (or file content for regular files)


def tar_of(members: list[Member]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, kind, extra in members:
            info = tarfile.TarInfo(name)
            info.type = kind
            if kind == tarfile.REGTYPE:
                data = extra.encode()
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                info.linkname = extra
                tar.addfile(info)
    return buffer.getvalue()


def cve_2025_4517_chain() -> list[Member]:
    """The public pattern: nested long folder names, a one-letter link to each, and a link through all of them
    whose real path is longer than PATH_MAX, so the interpreter's realpath check gives up; then a way out."""
    long_name = "d" * 247
    steps = "abcdefghijklmnop"
    members: list[Member] = []
    path = ""
    for step in steps:
        members.append((f"{path}{long_name}", tarfile.DIRTYPE, ""))
        members.append((f"{path}{step}", tarfile.SYMTYPE, long_name))
        path = f"{path}{long_name}/"
    chain = "/".join(steps)
    members.append((chain, tarfile.SYMTYPE, "../" * len(steps)))
    members.append(("escape", tarfile.SYMTYPE, chain + "/" + "../" * 4))
    members.append(("escape/pwned.txt", tarfile.REGTYPE, "written outside"))
    return members


CRAFTED: dict[str, tuple[list[Member], str]] = {
    "cve-2025-4517": (cve_2025_4517_chain(), "lies under the symlink|too long to extract"),
    "short-dotdot-chain": (
        [("x", tarfile.DIRTYPE, ""), ("x/y", tarfile.SYMTYPE, ".."), ("x/y/z", tarfile.SYMTYPE, "..")],
        "lies under the symlink 'x/y'",
    ),
    "link-through-a-later-link": (
        [("a", tarfile.SYMTYPE, "x/b/.."), ("x", tarfile.DIRTYPE, ""), ("x/b", tarfile.SYMTYPE, "..")],
        "points outside the target \\(through the archive's own links\\)",
    ),
    "file-under-a-link": (
        [("sub", tarfile.DIRTYPE, ""), ("l", tarfile.SYMTYPE, "sub"), ("l/evil.txt", tarfile.REGTYPE, "x")],
        "lies under the symlink 'l'",
    ),
    "absolute-member": ([("/tmp/aide-guard-absolute.txt", tarfile.REGTYPE, "x")], "absolute path or '..'"),
    "dotdot-member": ([("../evil.txt", tarfile.REGTYPE, "x")], "absolute path or '..'"),
    "absolute-link": ([("etc", tarfile.SYMTYPE, "/etc")], "points outside the target"),
    "hard-link-out": ([("hard", tarfile.LNKTYPE, "../outside.txt")], "points outside the target"),
    "hard-link-to-nothing": ([("hard", tarfile.LNKTYPE, "missing.txt")], "not a file written before it"),
    "device": ([("null", tarfile.CHRTYPE, "")], "device or fifo"),
    "fifo": ([("pipe", tarfile.FIFOTYPE, "")], "device or fifo"),
    "duplicate": ([("app.ini", tarfile.REGTYPE, "a"), ("app.ini", tarfile.REGTYPE, "b")], "appears twice"),
    "link-loop": ([("a", tarfile.SYMTYPE, "b/x"), ("b", tarfile.SYMTYPE, "a/x")], "more than 40 links"),
}


def tree(root: Path) -> list[str]:
    return sorted(str(p) for p in root.rglob("*"))


@pytest.mark.parametrize("compression", ["zstd", "zip"])
@pytest.mark.parametrize("case", sorted(CRAFTED))
def test_crafted_set_is_refused_by_verify_and_restore_alike(tmp_path: Path, compression: str, case: str) -> None:
    members, reason = CRAFTED[case]
    site = tmp_path / "site"
    (site / "conf").mkdir(parents=True)
    (site / "conf" / "app.ini").write_text("current")
    config = parse_backup_config(
        {"compression": compression, "components": [{"name": "conf", "kind": "folder", "source": "conf"}]},
        source="aide.toml",
        base_dir=site,
    )
    manager = BackupManager(config, redactor=Redactor())
    created = manager.create()
    (archive,) = [p for p in created.path.iterdir() if p.name.startswith("conf.")]
    archive.unlink()
    with compressed_writer(archive, compression, "conf.tar") as (stream, _written):
        stream.write(tar_of([("fine.txt", tarfile.REGTYPE, "fine"), *members]))  # a harmless member first
    manifest = created.path / "manifest.json"
    data = json.loads(manifest.read_text())
    data["components"][0].update(size=archive.stat().st_size, sha256=sha256_file(archive))
    manifest.write_text(json.dumps(data))  # checksums match: only the member checks stand in the way
    before = tree(tmp_path)

    verified = manager.verify(created.set_id)
    assert not verified.ok
    assert any(re.search(reason, problem) for problem in verified.problems), verified.problems
    with pytest.raises(BackupError, match=r"refused.*nothing was written") as refused:
        manager.restore(created.set_id, force=True)

    message = str(refused.value)
    assert re.search(reason, message)
    assert "\n" not in message
    assert len(message) < 400
    assert tree(tmp_path) == before
    assert (site / "conf" / "app.ini").read_text() == "current"
    assert not Path("/tmp/aide-guard-absolute.txt").exists()


def test_the_archives_aide_writes_pass_the_guard(tmp_path: Path) -> None:
    """Links to files in folders that come later in the walk, relative links up and across, nested folders."""
    source = tmp_path / "src"
    (source / "a" / "b").mkdir(parents=True)
    (source / "z").mkdir()
    (source / "z" / "data.txt").write_text("data")
    (source / "a" / "b" / "deep.txt").write_text("deep")
    os.symlink("z/data.txt", source / "top-link")  # listed before the folder z it points into
    os.symlink("../../z", source / "a" / "b" / "up-link")
    os.symlink("b/deep.txt", source / "a" / "across")
    from pytest_aide.backup.folder_source import archive

    buffer = io.BytesIO()
    archive(source, buffer, ())
    buffer.seek(0)
    assert scan(buffer, "src.tar")["files"] == 2
    buffer.seek(0)
    dest = tmp_path / "dest"
    dest.mkdir()
    extract(buffer, dest, "src.tar")
    assert (dest / "top-link").read_text() == "data"
    assert (dest / "a" / "b" / "up-link" / "data.txt").read_text() == "data"


NAMES = st.lists(st.sampled_from(["a", "b", "c", "..", "."]), min_size=1, max_size=4).map("/".join)
MEMBERS = st.lists(
    st.one_of(
        st.tuples(NAMES, st.just(tarfile.DIRTYPE), st.just("")),
        st.tuples(NAMES, st.just(tarfile.REGTYPE), st.just("x")),
        st.tuples(NAMES, st.just(tarfile.SYMTYPE), NAMES),
        st.tuples(NAMES, st.just(tarfile.LNKTYPE), NAMES),
    ),
    max_size=8,
)


@given(members=MEMBERS)
def test_what_the_guard_accepts_stays_inside(tmp_path_factory: pytest.TempPathFactory, members: list[Member]) -> None:
    """Any archive of these members: refused, or extracted with every path and link resolving inside."""
    sandbox = tmp_path_factory.mktemp("sandbox")
    dest = sandbox / "deep" / "er" / "dest"
    dest.mkdir(parents=True)
    data = tar_of(members)
    guard = ArchiveGuard()
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        problems = [guard.add(m) for m in tar.getmembers()]
    accepted = not any(problems) and guard.finish() is None
    outside_before = [p for p in tree(sandbox) if not p.startswith(str(dest))]
    try:
        scan(io.BytesIO(data), "crafted.tar")
    except BackupError:
        assert not accepted
        return
    assert accepted
    extract(io.BytesIO(data), dest, "crafted.tar")
    assert [p for p in tree(sandbox) if not p.startswith(str(dest))] == outside_before
    real_dest = os.path.realpath(dest)
    for path in dest.rglob("*"):
        resolved = os.path.realpath(path)
        assert resolved == real_dest or resolved.startswith(real_dest + os.sep), (path, resolved)
    shutil.rmtree(sandbox)


def test_guard_order_does_not_matter_for_links_to_later_links() -> None:
    guard: Callable[[list[Member]], str | None] = _judge
    assert guard([("a", tarfile.SYMTYPE, "b"), ("b", tarfile.SYMTYPE, "c"), ("c", tarfile.DIRTYPE, "")]) is None
    assert "outside" in (guard([("a", tarfile.SYMTYPE, "b/.."), ("b", tarfile.SYMTYPE, "..")]) or "")


def _judge(members: list[Member]) -> str | None:
    guard = ArchiveGuard()
    with tarfile.open(fileobj=io.BytesIO(tar_of(members))) as tar:
        for member in tar.getmembers():
            problem = guard.add(member)
            if problem:
                return problem
    return guard.finish()
