"""Remember which configurations passed validation, so the next run with the same input skips pydantic.

A cron job reads the same ``aide.toml`` every day: importing pydantic and building its validators costs more
than the rest of aide's start-up, for an answer already known. This keeps keyed digests of validated inputs in
the user's cache folder (``$AIDE_CACHE_DIR``, else ``$XDG_CACHE_HOME/pytest-aide``, else
``~/.cache/pytest-aide``). A digest is a keyed BLAKE2 of the input as JSON (secrets included, so the key is
random, per user, in a 0600 file) together with what else decides validity: the schema's source and the Python
version. Anything unreadable or unwritable simply means "validate again": the cache never decides that an
input is valid.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

KEEP = 64  # digests remembered: configurations per user, with their environment and command-line variants
_KEY_BYTES = 32


def cache_folder(environ: Mapping[str, str] | None = None) -> Path:
    """Where the digests live: ``AIDE_CACHE_DIR``, else the XDG cache folder of this user."""
    env = os.environ if environ is None else environ
    if env.get("AIDE_CACHE_DIR"):
        return Path(env["AIDE_CACHE_DIR"])
    base = env.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "pytest-aide"


class ValidatedInputs:
    """Digests of configuration inputs that validated; ``knows`` and ``remember`` never raise."""

    def __init__(self, folder: Path, context: Iterable[str] = ()) -> None:
        self.folder = folder
        self.context = "\0".join(context)

    def knows(self, raw: dict[str, Any]) -> bool:
        digest = self._digest(raw, create_key=False)
        return digest is not None and digest in self._digests()

    def remember(self, raw: dict[str, Any]) -> None:
        digest = self._digest(raw, create_key=True)
        if digest is None:
            return
        kept = [*[d for d in self._digests() if d != digest][-(KEEP - 1) :], digest]
        with contextlib.suppress(OSError):  # a read-only home: the next run validates again
            _write_private(self.folder / "validated", "\n".join(kept) + "\n")

    def _digest(self, raw: dict[str, Any], *, create_key: bool) -> str | None:
        key = self._key(create=create_key)
        if key is None:
            return None
        try:
            text = json.dumps(raw, sort_keys=True, separators=(",", ":"), allow_nan=True)
        except (TypeError, ValueError):  # not JSON-shaped (TOML dates, ...): always validated
            return None
        payload = f"{self.context}\0{text}".encode()
        return hashlib.blake2b(payload, key=key, digest_size=20).hexdigest()

    def _key(self, *, create: bool) -> bytes | None:
        path = self.folder / "key"
        try:
            key = path.read_bytes()
            return key if len(key) == _KEY_BYTES else None
        except FileNotFoundError:
            if not create:
                return None
        except OSError:
            return None
        import secrets  # only the run that creates the key pays for the import

        key = secrets.token_bytes(_KEY_BYTES)
        try:
            _write_private(path, key)
        except OSError:
            return None
        return key

    def _digests(self) -> list[str]:
        try:
            return (self.folder / "validated").read_text(encoding="ascii").split()
        except (OSError, UnicodeDecodeError):
            return []


def _write_private(path: Path, data: str | bytes) -> None:
    """Write ``path`` as a 0600 file in a 0700 folder, atomically (a concurrent reader sees old or new)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(temporary, flags, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data.encode("ascii") if isinstance(data, str) else data)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


# The modules whose functions the schema calls to validate a value (besides settings.py itself): a new version of
# one of them may refuse what an older one accepted (a condition's grammar, a duration, an alert rule). redact.py
# only words the refusal (url_redactor), but every module settings.py calls is counted: none is missed that way.
VALIDATOR_SOURCES = (
    "durations.py",
    "alerts/rules.py",
    "probes/endpoints.py",
    "probes/database.py",
    "probes/cache.py",
    "redact.py",
)


def schema_context(extra: Iterable[str] = ()) -> list[str]:
    """What decides validity besides the input: the schema's source, its validators' and Python's version
    (``re``, codecs). The validators are read as files, not imported: a cache hit must stay cheap."""
    from pytest_aide import schema, settings

    package = Path(str(settings.__file__)).parent
    sources = []
    for path in (Path(str(schema.__file__)), Path(str(settings.__file__)), *(package / n for n in VALIDATOR_SOURCES)):
        try:
            sources.append(hashlib.sha256(path.read_bytes()).hexdigest())
        except OSError:
            sources.append(str(path))
    return [*sources, sys.version, *extra]
