"""The statement guard rail (pytest_aide.probes.sqlguard) on its own: what escapes a read-only transaction is
named, whatever the case, whitespace, comments or quoting; ordinary monitoring queries pass."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_aide.probes.db_mysql import global_privileges
from pytest_aide.probes.sqlguard import escape_reason

# Each escape as a list of tokens, so that variants can put anything legal between them.
ESCAPES: dict[str, list[str]] = {
    "copy to program": ["COPY", "(", "SELECT", "1", ")", "TO", "PROGRAM", "'touch /tmp/aide_marker'"],
    "copy from program": ["COPY", "items", "FROM", "PROGRAM", "'id'"],
    "copy to file": ["COPY", "items", "TO", "'/tmp/aide_items.csv'"],
    "copy from file": ["COPY", "items", "FROM", "'/etc/passwd'"],
    "lo_export": ["SELECT", "lo_export", "(", "16400", ",", "'/tmp/aide_lo'", ")"],
    "lo_import": ["SELECT", "lo_import", "(", "'/etc/passwd'", ")"],
    "pg_read_file": ["SELECT", "pg_read_file", "(", "'/etc/passwd'", ")"],
    "qualified pg_read_binary_file": ["SELECT", "pg_catalog", ".", "pg_read_binary_file", "(", "'/etc/hosts'", ")"],
    "do": ["DO", "$$", "BEGIN", "PERFORM", "1", ";", "END", "$$"],
    "call": ["CALL", "cleanup", "(", ")"],
    "set role": ["SET", "ROLE", "postgres"],
    "set local role": ["SET", "LOCAL", "ROLE", "postgres"],
    "set role =": ["SET", "role", "=", "'postgres'"],
    "set session authorization": ["SET", "SESSION", "AUTHORIZATION", "postgres"],
    "set_config role": ["SELECT", "set_config", "(", "'role'", ",", "'postgres'", ",", "false", ")"],
    "dblink": ["SELECT", "dblink_exec", "(", "'dbname=test'", ",", "'DROP TABLE items'", ")"],
    "into outfile": ["SELECT", "*", "FROM", "items", "INTO", "OUTFILE", "'/tmp/aide_out'"],
    "into dumpfile": ["SELECT", "'x'", "INTO", "DUMPFILE", "'/tmp/aide_dump'"],
    "load_file": ["SELECT", "LOAD_FILE", "(", "'/etc/passwd'", ")"],
    "load data": ["LOAD", "DATA", "INFILE", "'/etc/passwd'", "INTO", "TABLE", "items"],
    "load library": ["LOAD", "'plpython3u'"],
    "set global": ["SET", "GLOBAL", "max_connections", "=", "1"],
    "set @@global": ["SET", "@@global.max_connections", "=", "1"],
    "prepare from string": ["PREPARE", "s", "FROM", "'SELECT 1'"],
    "install soname": ["INSTALL", "SONAME", "'ha_example'"],
    "kill": ["KILL", "42"],
}
SAFE: dict[str, list[str]] = {
    "select": ["SELECT", "1"],
    "count": ["SELECT", "COUNT", "(", "*", ")", "FROM", "items", "WHERE", "n", ">", "1"],
    "words in a string": ["SELECT", "'COPY t TO PROGRAM lo_export( INTO OUTFILE'", "AS", "note"],
    "copy to stdout": ["COPY", "items", "TO", "STDOUT"],
    "show status": ["SHOW", "GLOBAL", "STATUS", "LIKE", "'Threads_connected'"],
    "set session variable": ["SET", "default_transaction_read_only", "=", "off"],
    "function named like one": ["SELECT", "my_lo_export_count", "(", ")"],
    "column named program": ["SELECT", "program", "FROM", "jobs"],
}
SEPARATORS = [
    " ",
    "\t",
    "\n",
    "  \r\n ",
    "/**/",
    " /* note */ ",
    "-- note\n",
    "--note\n",
    "# note\n",
    "#note\n",
    " /* multi\nline */",
]


def _case(draw: st.DrawFn, word: str) -> str:
    """The word in a random mix of upper and lower case (strings and quoted text left as they are)."""
    if word.startswith(("'", "$")):
        return word
    flips = draw(st.lists(st.booleans(), min_size=len(word), max_size=len(word)))
    return "".join(char.upper() if flip else char.lower() for char, flip in zip(word, flips, strict=True))


@st.composite
def variant(draw: st.DrawFn, tokens: list[str]) -> str:
    """The statement with random case, and whitespace or comments between every two tokens and around it."""
    parts = [draw(st.sampled_from(["", *SEPARATORS]))]
    for token in tokens:
        parts.append(_case(draw, token))
        parts.append(draw(st.sampled_from(SEPARATORS)))
    if draw(st.booleans()):
        parts.append(draw(st.sampled_from(["", ";", ";\n"])))
    return "".join(parts)


@pytest.mark.parametrize("name", sorted(ESCAPES))
def test_escapes_are_named(name: str) -> None:
    assert escape_reason(" ".join(ESCAPES[name]))


@pytest.mark.parametrize("name", sorted(SAFE))
def test_monitoring_queries_pass(name: str) -> None:
    assert escape_reason(" ".join(SAFE[name])) is None


@given(data=st.data(), name=st.sampled_from(sorted(ESCAPES)))
def test_no_case_whitespace_or_comment_variant_slips_through(data: st.DataObject, name: str) -> None:
    sql = data.draw(variant(ESCAPES[name]))
    assert escape_reason(sql), sql


@given(data=st.data(), name=st.sampled_from(sorted(SAFE)))
def test_safe_variants_still_pass(data: st.DataObject, name: str) -> None:
    sql = data.draw(variant(SAFE[name]))
    assert escape_reason(sql) is None, sql


@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        # Quoted identifiers name the same function (PostgreSQL "…", MySQL `…`).
        ("SELECT \"lo_export\"(1, '/tmp/x')", "lo_export()"),
        ("SELECT `load_file`('/etc/passwd')", "load_file()"),
        ('SET "role" TO postgres', "SET ROLE"),
        # MySQL runs the text of executable comments.
        ("SELECT 1 /*! INTO OUTFILE '/tmp/x' */", "INTO OUTFILE"),
        ("SELECT 1 /*!50100 INTO DUMPFILE '/tmp/x' */", "INTO DUMPFILE"),
        ("/*M!100100 CALL p() */", "CALL"),
        ("/*!CALL p()*/", "CALL"),
        # MySQL reads "--1" as minus minus one, not as a comment.
        ("SELECT 1--1 INTO OUTFILE '/tmp/x'", "INTO OUTFILE"),
        # PostgreSQL reads "#" as an operator, not as a comment.
        ("SELECT 1 # lo_export(1, '/tmp/x')", "lo_export()"),
        # With standard_conforming_strings a backslash does not escape the quote: the string ends there.
        ("SELECT 'a\\' , lo_export(1, '/tmp/x') --'", "lo_export()"),
        # A Unicode-escaped identifier may spell anything.
        ("SELECT U&\"\\006co_export\"(1, '/tmp/x')", "Unicode-escaped"),
        # A second statement is read as well (the drivers refuse several, but the guard does not rely on it).
        ("SELECT 1; COPY items TO PROGRAM 'id'", "PROGRAM"),
    ],
    ids=lambda value: value[:40],
)
def test_tricks_that_hide_an_escape_from_a_naive_reading(sql: str, reason: str) -> None:
    assert reason in (escape_reason(sql) or "")


@pytest.mark.parametrize(
    ("line", "privileges"),
    [
        ("GRANT ALL PRIVILEGES ON *.* TO `root`@`localhost` WITH GRANT OPTION", {"ALL PRIVILEGES"}),
        ("GRANT SELECT, FILE, SUPER ON *.* TO `m`@`%`", {"SELECT", "FILE", "SUPER"}),
        ("GRANT FILE ON *.* TO `aide_role`", {"FILE"}),
        ("GRANT USAGE ON *.* TO `m`@`%` IDENTIFIED BY PASSWORD '*D821'", {"USAGE"}),
        ("GRANT ALL PRIVILEGES ON `shop`.* TO `m`@`%`", set()),  # one database: FILE and SUPER are global only
        ("GRANT `aide_role` TO `m`@`%`", set()),
        ("GRANT SELECT ON `on`.`on, file` TO `m`@`%`", set()),
    ],
)
def test_global_privileges_of_a_grant_line(line: str, privileges: set[str]) -> None:
    assert global_privileges(line) == privileges
