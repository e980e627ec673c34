"""A guard rail for the database probes: statements a read-only transaction does not stop, refused unsent.

A ``READ ONLY`` transaction stops writes to tables, not what a privileged role can do beside them: run a
shell command (``COPY … TO PROGRAM``), read or write files on the database host (``COPY … TO '/path'``,
``lo_export``, ``pg_read_file``, ``INTO OUTFILE``, ``LOAD_FILE``, ``LOAD DATA``), run code the probe never
sees (``DO``, ``CALL``, ``PREPARE … FROM``), take another role's rights (``SET ROLE``, ``SET SESSION
AUTHORIZATION``) or change the server for every session (``SET GLOBAL``). :func:`escape_reason` names such a
statement so the probe can refuse it before it reaches the server.

This is a guard rail, not the guarantee: the guarantee is a monitoring role without those rights (the
probes detect a privileged one, see :mod:`pytest_aide.probes.database`). The statement is read with a real
SQL tokenizer (sqlparse), so case, whitespace, comments and quoted identifiers change nothing. Where the
tokenizer and a server may read text differently, it errs towards refusing: MySQL runs ``/*! … */`` comments
(they are read as code), ``--x`` and ``#`` comments mean other things to other engines, and a backslash in a
string ends it early where backslashes are not escapes (so the text of every comment, and of every string
holding a backslash, is searched for the calls and clauses below too).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

# Calls that reach outside the database or other sessions; a read-only transaction lets every one through.
_FUNCTIONS = {
    **dict.fromkeys(("lo_export", "lo_import"), "moves a file between the database host and the database"),
    **dict.fromkeys(
        (
            "pg_read_file",
            "pg_read_binary_file",
            "pg_ls_dir",
            "pg_stat_file",
            "pg_ls_logdir",
            "pg_ls_waldir",
            "pg_ls_tmpdir",
            "pg_ls_archive_statusdir",
            "pg_logdir_ls",
            "load_file",
        ),
        "reads files on the database host",
    ),
    **dict.fromkeys(
        ("pg_file_write", "pg_file_rename", "pg_file_unlink", "pg_file_sync"), "writes files on the database host"
    ),
    **dict.fromkeys(("sys_exec", "sys_eval"), "runs a shell command on the database host"),
    **dict.fromkeys(
        ("dblink", "dblink_exec", "dblink_connect", "dblink_connect_u", "dblink_open", "dblink_send_query"),
        "opens another session, outside the read-only transaction",
    ),
    **dict.fromkeys(
        ("query_to_xml", "query_to_xmlschema", "query_to_xml_and_xmlschema"), "runs SQL text the probe cannot see"
    ),
    "set_config": "can switch the session to another role (set_config('role', …))",
    **dict.fromkeys(
        ("pg_terminate_backend", "pg_cancel_backend", "pg_reload_conf", "pg_rotate_logfile", "pg_promote"),
        "acts on the server or other sessions",
    ),
}
_STATEMENTS = {
    "do": "DO runs a procedural block, which can run any statement",
    "call": "CALL runs a stored procedure, which can run any statement",
    "prepare": "PREPARE/EXECUTE run SQL text the probe cannot see",
    "execute": "PREPARE/EXECUTE run SQL text the probe cannot see",
    "load": "LOAD loads a server library (PostgreSQL) or reads a file (MySQL LOAD DATA / LOAD XML)",
    **dict.fromkeys(
        ("kill", "shutdown", "restart", "flush", "purge", "install", "uninstall", "binlog", "change", "stop"),
        "an administrative statement acts on the server, not on data",
    ),
}
_ROLE_WORDS = {"role", "authorization", "session_authorization"}
_GLOBAL_WORDS = {"global", "persist", "persist_only"}
_EXECUTABLE_COMMENT_PASSES = 3  # MySQL does not nest /*! … */: one pass normally suffices


@dataclass(frozen=True)
class _Token:
    kind: str  # "word", "string", "punct" or "other"
    text: str  # words lower-cased, unquoted and without @/# sigils; strings and punctuation as written


def escape_reason(sql: str) -> str | None:
    """Why ``sql`` would escape a read-only transaction, or None when the guard sees nothing of the kind."""
    leaves = _unwrap_executable_comments(lex(sql))
    reason = _reading_reason(leaves)
    if reason is None:
        text = "".join(leaf.value for leaf in leaves)
        cut = _hash_comments_cut(leaves)
        reason = _reading_reason(lex(cut)) if cut != text else None
    return reason


def _reading_reason(all_leaves: list[Leaf]) -> str | None:
    for leaves in _statements(all_leaves):
        reason = _statement_reason(_significant(leaves)) or _adjacency_reason(leaves)
        if reason:
            return reason
        for hidden in _hidden_texts(leaves):
            reason = _anywhere_reason(_significant(lex(hidden)))
            if reason:
                return f"{reason} (found inside a comment or a string, which some servers read as code)"
    return None


def _hash_comments_cut(leaves: list[Leaf]) -> str:
    """MySQL's reading of ``#``: a comment to the end of the line wherever it stands outside a string or a
    comment (sqlparse needs ``# `` and otherwise keeps it in a word: ``call#x``)."""
    from sqlparse import tokens

    kept: list[str] = []
    skipping = False
    for leaf in leaves:
        value = leaf.value
        if skipping:
            if "\n" not in value:
                continue
            value, skipping = "\n" + value.split("\n", 1)[1], False
        elif leaf.ttype not in tokens.String and leaf.ttype not in tokens.Comment and "#" in value:
            head, _, tail = value.partition("#")
            value, skipping = (head + " \n" + tail.split("\n", 1)[1], False) if "\n" in tail else (head, True)
        kept.append(value)
    return "".join(kept)


@dataclass(frozen=True)
class Leaf:
    """One token of sqlparse's lexer: its type (``sqlparse.tokens``) and its text."""

    ttype: Any
    value: str

    @property
    def is_whitespace(self) -> bool:
        from sqlparse import tokens

        return self.ttype in tokens.Whitespace


def lex(text: str) -> list[Leaf]:
    """Every token of ``text``, whitespace and comments included (sqlparse's lexer, without its slower grouping)."""
    from sqlparse import lexer

    default: Any = lexer.Lexer  # sqlparse leaves get_default_instance() untyped
    return [Leaf(ttype, value) for ttype, value in default.get_default_instance().get_tokens(text)]


def _statements(leaves: list[Leaf]) -> Iterator[list[Leaf]]:
    """The leaves cut at every ``;`` (one inside a string, a comment or a ``$$`` body is part of that token)."""
    current: list[Leaf] = []
    for leaf in leaves:
        if leaf.value == ";" and leaf.ttype is not None and _is_punctuation(leaf):
            yield current
            current = []
        else:
            current.append(leaf)
    yield current


def _is_punctuation(leaf: Leaf) -> bool:
    from sqlparse import tokens

    return bool(leaf.ttype in tokens.Punctuation)


def _unwrap_executable_comments(leaves: list[Leaf]) -> list[Leaf]:
    """MySQL/MariaDB run the text of ``/*! … */``, ``/*!50100 … */`` and ``/*M! … */``: read it as code."""
    from sqlparse import tokens

    for _ in range(_EXECUTABLE_COMMENT_PASSES):
        if not any(_is_executable_comment(leaf, tokens) for leaf in leaves):
            break
        leaves = lex(
            "".join(
                f" {_comment_body(leaf.value)} " if _is_executable_comment(leaf, tokens) else leaf.value
                for leaf in leaves
            )
        )
    return leaves


def _is_executable_comment(leaf: Leaf, tokens: Any) -> bool:
    return leaf.ttype in tokens.Comment and leaf.value.startswith(("/*!", "/*M!", "/*m!"))


def _comment_body(comment: str) -> str:
    """The code inside a comment: delimiters, MySQL's ``!``/``M!`` and version number taken off."""
    body = comment.strip()
    if body.startswith("/*"):
        body = body[2:].removesuffix("*/")
        body = body.removeprefix("M").removeprefix("m") if body[:2] in ("M!", "m!") else body
        body = body.removeprefix("!").lstrip("0123456789") if body.startswith("!") else body
    elif body.startswith("--"):
        body = body[2:]
    return body.removeprefix("#")


def _significant(leaves: Sequence[Leaf]) -> list[_Token]:
    """Tokens that carry meaning: whitespace and comments dropped, identifiers unquoted and lower-cased."""
    from sqlparse import tokens

    found: list[_Token] = []
    for leaf in leaves:
        ttype, value = leaf.ttype, leaf.value
        if leaf.is_whitespace or ttype in tokens.Comment:
            continue
        if ttype in tokens.String.Symbol or (ttype in tokens.Name and value[:1] in "`\u00b4"):
            found.append(_Token("word", value[1:-1].lower()))
        elif ttype in tokens.String or ttype is tokens.Literal:
            found.append(_Token("string", value))
        elif ttype in tokens.Punctuation:
            found.append(_Token("punct", value))
        elif ttype in tokens.Keyword or ttype in tokens.Name:
            # "call#x": sqlparse keeps the "#" in the word, MySQL starts a comment there (PostgreSQL an operator).
            found.extend(_Token("word", word.lstrip("@#").split("#")[0].lower()) for word in value.split())
        else:
            found.append(_Token("other", value))
    return found


def _statement_reason(found: list[_Token]) -> str | None:
    """Rules on the statement's first word, then the rules that hold anywhere in it."""
    words = [token.text for token in found if token.kind == "word"]
    first = words[0] if words else ""
    if first in _STATEMENTS:
        return _STATEMENTS[first]
    if first == "start" and len(words) > 1 and words[1] in ("slave", "replica", "group_replication"):
        return _STATEMENTS["stop"]
    if first == "copy":
        return _copy_reason(found)
    if first in ("set", "reset"):
        if _ROLE_WORDS & set(words):
            return "SET ROLE / SET SESSION AUTHORIZATION switch to another role's rights"
        if _GLOBAL_WORDS & set(words):
            return "SET GLOBAL / SET PERSIST change the server for every session"
    return _anywhere_reason(found)


def _copy_reason(found: list[_Token]) -> str | None:
    """PostgreSQL's COPY to or from a program or a server file; ``TO STDOUT`` stays with the server's rules."""
    if any(token.kind == "word" and token.text == "program" for token in found):
        return "COPY … PROGRAM runs a shell command on the database host"
    for token, following in itertools.pairwise(found):
        if token.kind == "word" and token.text in ("to", "from") and following.kind == "string":
            return "COPY … TO/FROM a file writes or reads a file on the database host"
    return _anywhere_reason(found)


def _anywhere_reason(found: list[_Token]) -> str | None:
    """Calls and clauses refused wherever they stand (also searched for in comments and strings)."""
    for token, following in itertools.pairwise([*found, _Token("other", "")]):
        if token.kind != "word":
            continue
        if token.text in _FUNCTIONS and following.text == "(":
            return f"{token.text}() {_FUNCTIONS[token.text]}"
        if token.text == "into" and following.kind == "word" and following.text in ("outfile", "dumpfile"):
            return f"INTO {following.text.upper()} writes a file on the database host"
        if token.text == "soname":
            return "SONAME loads a server library"
    return None


def _adjacency_reason(leaves: Sequence[Leaf]) -> str | None:
    """PostgreSQL's ``U&"\\006c…"`` spells an identifier in escapes the tokenizer does not decode: refused."""
    from sqlparse import tokens

    for first, second, third in zip(leaves, leaves[1:], leaves[2:], strict=False):
        if first.value.lower() == "u" and second.value == "&" and third.ttype in tokens.String:
            return 'a Unicode-escaped name (U&"…") can hide what it calls'
    return None


def _hidden_texts(leaves: Sequence[Leaf]) -> Iterator[str]:
    """Comment bodies, and strings holding a backslash, with quotes blanked so their text reads as code."""
    from sqlparse import tokens

    for leaf in leaves:
        if leaf.ttype in tokens.Comment:
            body = _comment_body(leaf.value)
        elif leaf.ttype in tokens.String and "\\" in leaf.value:
            body = leaf.value
        else:
            continue
        yield body.translate(str.maketrans("'\"`", "   "))
