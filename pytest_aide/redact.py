"""Keep secrets out of every line we print or write.

Secrets come in three shapes: credentials inside URLs (``postgresql://user:pw@host``), header values such as
``Authorization: Bearer ...``, and known secret strings (values of secret-looking environment variables, of
configured header variables, of ``.env`` files). A :class:`Redactor` knows the last kind; the first two are
recognised by pattern.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

MASK = "***"
_MIN_SECRET_LENGTH = 4  # shorter values would mask ordinary words and digits
# Redacted texts are remembered: a run redacts the same component names, statuses and keys thousands of times.
_MEMO_ENTRIES = 8192
_MEMO_TEXT_LENGTH = 512  # long texts (captured output) are rarely repeated: not worth holding on to

_URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.\-]*://)(?P<user>[^:/@\s]*):(?P<pw>[^@/\s]+)@")
_AUTH_HEADER = re.compile(
    r"(?i)(?P<name>\b(?:authorization|proxy-authorization|x-api-key|api-key|x-auth-token|cookie)\b"
    r"[\"']?\s*[:=]\s*[\"']?)(?P<value>[^\"'\r\n,}]+)"
)
_QUERY_SECRET = re.compile(
    r"(?i)(?P<name>[?&](?:password|passwd|pwd|token|access_token|api_key|apikey|secret)=)"
    r"(?P<value>[^&\s#]+)"
)
# libpq's key=value form (``host=db password=pw``, quoted values included) and a URI's ``?password=``
_CONNINFO_PASSWORD = re.compile(
    r"(?i)(?P<name>(?:\bpassword|[?&]password)\s*=\s*)(?P<value>'(?:[^'\\]|\\.)*'|[^\s&#']+)"
)
# What each pattern above needs in a text to match: a URL password its "@", a token query its "=", a header
# one of these names (matched as _AUTH_HEADER matches them). A text holding none (nor a known secret) is clean.
_PATTERN_NEEDLES = ("@", "=")
_HEADER_NEEDLES = ("authorization", "api-key", "x-auth-token", "cookie")
_HEADER_NAMES = re.compile("(?i)" + "|".join(map(re.escape, _HEADER_NEEDLES)))
_SECRET_ENV_NAME = re.compile(r"(?i)(PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|PRIVATE|CREDENTIAL|AUTH)")


def redact_url(url: str) -> str:
    """Return ``url`` with any password replaced by ``***`` (the user name is kept: it helps diagnosis).

    Covers ``scheme://user:pw@host``, ``?password=pw`` and libpq's ``password=pw`` key=value form.
    """
    url = _URL_CREDENTIALS.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", url)
    if "password" not in url.lower():  # the common case, far cheaper than the pattern
        return url
    return _CONNINFO_PASSWORD.sub(lambda m: f"{m['name']}{MASK}", url)


def secret_env_values(environ: Mapping[str, str] | None = None) -> list[str]:
    """Values of environment variables whose names look secret (``*_TOKEN``, ``*PASSWORD*``...)."""
    env = os.environ if environ is None else environ
    return [value for name, value in env.items() if _SECRET_ENV_NAME.search(name) and value]


def dotenv_values(text: str) -> list[str]:
    """Values of ``KEY=value`` lines of a ``.env`` file: every one is treated as a secret."""
    values = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        value = line.split("=", 1)[1].strip().strip("'\"")
        if value:
            values.append(value)
    return values


_SURROGATE = re.compile("[\ud800-\udfff]")


def _has_surrogate(text: str) -> bool:
    return not text.isascii() and _SURROGATE.search(text) is not None


def escape_surrogates(text: str) -> str:
    """``text`` with each lone surrogate written as its escape (``\\udcff``).

    A lone surrogate comes from a name that is not UTF-8 (``os.fsdecode`` of a file name) quoted in a message:
    no UTF-8 file or terminal can hold it, and left in, it fails every report of the run that writes it.
    """
    if not _has_surrogate(text):
        return text
    return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _may_name_a_header(text: str) -> bool:
    """Whether ``text`` holds a header name _AUTH_HEADER looks for, in any case.

    ASCII text (the usual summary) is lowered once and searched for plain substrings: the case-insensitive
    pattern tries every position of the text in Python's regex engine (7 ms for a 1,000-check summary, against
    0.3 ms). Other text keeps the pattern, whose case folding also lets a few non-ASCII letters stand for ASCII
    ones (the Kelvin sign for ``k``), as _AUTH_HEADER's does.
    """
    if not text.isascii():
        return _HEADER_NAMES.search(text) is not None
    lowered = text.lower()
    return any(name in lowered for name in _HEADER_NEEDLES)


class Redactor:
    """Masks known secret strings and secret-shaped text (URL passwords, auth headers, token queries)."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        self._ordered: tuple[str, ...] = ()  # longest first, see _mask_known
        self._memo: dict[str, str] = {}
        self._json_findable = True
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        """Remember more secret values; too-short values are ignored (they would mask ordinary text)."""
        for secret in secrets:
            if secret and len(secret) >= _MIN_SECRET_LENGTH:
                self._secrets.add(secret)
        self._ordered = tuple(sorted(self._secrets, key=len, reverse=True))
        # A secret that JSON writes differently (quotes, backslashes, control characters) cannot be looked for
        # in a JSON text: redact_data then walks the data (see _clean_json_text).
        self._json_findable = all(json.dumps(s, ensure_ascii=False)[1:-1] == s for s in self._ordered)
        self._memo.clear()  # what was clean may hold a new secret

    @property
    def secrets(self) -> tuple[str, ...]:
        """The secret values it masks (for a helper process that must mask the same)."""
        return self._ordered

    @classmethod
    def from_environment(cls, extra: Iterable[str] = ()) -> Redactor:
        """A redactor that knows secret-looking environment values plus ``extra``."""
        return cls([*secret_env_values(), *extra])

    def redact(self, text: str) -> str:
        """Return ``text`` with every secret masked."""
        if not text:
            return text
        done = self._memo.get(text)
        if done is None:
            done = self._redact(text)
            if len(text) <= _MEMO_TEXT_LENGTH and len(self._memo) < _MEMO_ENTRIES:
                self._memo[text] = done
        return done

    __call__ = redact  # called for every string of every report: one Python call, not two

    def _redact(self, text: str) -> str:
        text = escape_surrogates(text)  # every line redacted is written somewhere: one place for it (memoized)
        # Known secrets first: a URL pattern stops at a password's own "@" or "/" and would leave its end in clear,
        # and its partial mask would hide the whole secret from the known-secret pass.
        text = self._mask_known(text)
        text = redact_url(text)
        text = _AUTH_HEADER.sub(lambda m: f"{m['name']}{MASK}", text)
        return _QUERY_SECRET.sub(lambda m: f"{m['name']}{MASK}", text)

    def _mask_known(self, text: str) -> str:
        # Longest first, so a secret containing another is masked whole. Masking can join the text around a
        # secret into a new occurrence ("aaaa***" with secret "a***"), so repeat until none is left; every
        # replacement shortens the text (secrets are longer than MASK), so this ends.
        ordered = self._ordered
        while any(secret in text for secret in ordered):
            for secret in ordered:
                text = text.replace(secret, MASK)
        return text

    def redact_data(self, data: Any) -> Any:
        """Redact every string inside nested dicts/lists/tuples (keys included).

        Data with nothing to mask (a run's summary, usually) is returned as it is: one JSON text of it is
        searched for what any secret or pattern needs, instead of walking every string.
        """
        if self._clean_json_text(data) is not None:
            return data
        return self._redact_data(data)

    def redacted_json(self, data: Any) -> tuple[Any, str]:
        """``data`` redacted (see :meth:`redact_data`) and its JSON text (non-ASCII characters as themselves).

        For data with nothing to mask the text searched is the text returned: a run's summary is encoded once.
        """
        text = self._clean_json_text(data)
        if text is not None:
            return data, text
        cleaned = self._redact_data(data)
        return cleaned, json.dumps(cleaned, ensure_ascii=False)

    def _clean_json_text(self, data: Any) -> str | None:
        """One JSON text of ``data`` if no string of it (keys included) can hold a secret, else None.

        Exact, not a guess: JSON writes every character of a string as itself except quotes, backslashes and
        control characters, which no needle holds (nor any known secret while ``_json_findable``), so each
        needle occurs in a string only if it occurs in the text.
        """
        if not self._json_findable or isinstance(data, str):
            return None
        try:
            text = json.dumps(data, ensure_ascii=False)
        except (TypeError, ValueError):  # not JSON data (or a key JSON would change): walk it
            return None
        if any(needle in text for needle in _PATTERN_NEEDLES) or any(s in text for s in self._ordered):
            return None
        if _has_surrogate(text):
            return None  # the walk escapes them (see _redact)
        return None if _may_name_a_header(text) else text

    def _redact_data(self, data: Any) -> Any:
        if isinstance(data, str):
            return self.redact(data)
        if isinstance(data, Mapping):
            return {self._redact_data(k): self._redact_data(v) for k, v in data.items()}
        if isinstance(data, list | tuple):
            return type(data)(self._redact_data(v) for v in data)
        return data


def url_redactor(url: str) -> Redactor:
    """A redactor that masks the URL's password wherever it may be echoed, encoded or not.

    Besides the password a URL parser finds, everything between the first ``:`` of the user part and the
    last ``@`` is masked: a password with an unencoded ``/`` breaks parsing but must stay secret all the same.
    """
    try:
        parsed = urlsplit(url).password
    except ValueError:  # malformed netloc: the fallback below still applies
        parsed = None
    loose = url.split("://", 1)[-1].rpartition("@")[0].partition(":")[2]
    secrets = {secret for password in (parsed, loose) if password for secret in (password, unquote(password))}
    return Redactor(secrets)
