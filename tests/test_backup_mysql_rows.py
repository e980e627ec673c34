"""Row counts read from the dump text itself (no second connection can share mariadb-dump's snapshot).

The dump is generated here as mariadb-dump (one row per line) and mysqldump (``VALUES (..),(..)`` on one
line) write it, with their string escaping, and fed in arbitrary pieces: the counts must be exact whatever
the values hold (quotes, backslashes, ``),(``, ``UNLOCK TABLES;``) and wherever the stream is cut.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pytest_aide.backup.mysql_source import RowCounter

_ESCAPES = {"\0": "\\0", "\n": "\\n", "\r": "\\r", "\\": "\\\\", "'": "\\'", '"': '\\"', "\x1a": "\\Z"}


def literal(value: str | int | None) -> str:
    """A value as mysql_real_escape_string and the dump tools write it."""
    if value is None:
        return "NULL"
    if isinstance(value, int):
        return str(value)
    return "'" + "".join(_ESCAPES.get(ch, ch) for ch in value) + "'"


def quoted(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def table_text(name: str, rows: list[list[str | int | None]], one_line: bool, per_statement: int) -> str:
    """The data section of one table, INSERT statements of at most ``per_statement`` rows."""
    q = quoted(name)
    out = [f"LOCK TABLES {q} WRITE;", f"/*!40000 ALTER TABLE {q} DISABLE KEYS */;"]
    for start in range(0, len(rows), per_statement):
        tuples = ["(" + ",".join(literal(v) for v in row) + ")" for row in rows[start : start + per_statement]]
        if one_line:
            out.append(f"INSERT INTO {q} VALUES " + ",".join(tuples) + ";")
        else:
            out.append(f"INSERT INTO {q} VALUES\n" + ",\n".join(tuples) + ";")
    out += [f"/*!40000 ALTER TABLE {q} ENABLE KEYS */;", "UNLOCK TABLES;"]
    return "\n".join(out)


def dump_text(tables: dict[str, list[list[str | int | None]]], one_line: bool, per_statement: int) -> bytes:
    parts = ["-- MariaDB dump", "/*!40101 SET NAMES utf8mb4 */;"]
    for name, rows in tables.items():
        parts += [f"DROP TABLE IF EXISTS {quoted(name)};", f"CREATE TABLE {quoted(name)} (\n  `a` text\n);"]
        parts.append(table_text(name, rows, one_line, per_statement))
    parts.append("DELIMITER ;;\nCREATE PROCEDURE `p`()\nBEGIN\nINSERT INTO `t` VALUES (1);\nEND ;;\nDELIMITER ;")
    return ("\n".join(parts) + "\n-- Dump completed\n").encode()


def count(data: bytes, cuts: list[int]) -> dict[str, int]:
    counter = RowCounter()
    previous = 0
    for cut in sorted({min(c, len(data)) for c in cuts}):
        counter.feed(data[previous:cut])
        previous = cut
    counter.feed(data[previous:])
    return counter.close()


values = st.one_of(
    st.none(),
    st.integers(),
    st.text(alphabet=st.sampled_from("a(),'\"\\\n\r\0\x1a;` UNLOCKTABES"), max_size=20),
    st.text(max_size=10),
)
names = st.text(alphabet=st.sampled_from("ab(`) _é"), min_size=1, max_size=6)
tables = st.dictionaries(names, st.lists(st.lists(values, min_size=1, max_size=3), max_size=12), max_size=4)


@given(tables, st.booleans(), st.integers(1, 5), st.lists(st.integers(0, 4000), max_size=8))
def test_counts_are_exact_for_any_values_names_style_and_split(
    data: dict[str, list[list[str | int | None]]], one_line: bool, per_statement: int, cuts: list[int]
) -> None:
    text = dump_text(data, one_line, per_statement)
    assert count(text, cuts) == {name: len(rows) for name, rows in data.items()}


def test_a_procedure_inserting_rows_is_not_data() -> None:
    text = dump_text({"t": [[1], [2]]}, one_line=False, per_statement=10)
    assert count(text, []) == {"t": 2}


def test_a_dump_cut_before_its_last_newline_counts_the_last_line() -> None:
    text = dump_text({"t": [[1], [2], [3]]}, one_line=True, per_statement=10)
    cut = text[: text.index(b"UNLOCK TABLES;") + len(b"UNLOCK TABLES;")]
    assert count(cut, [7]) == {"t": 3}
