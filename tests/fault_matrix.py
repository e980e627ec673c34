"""Print the realistic tier's fault matrix as a Markdown table.

Usage: ``python tests/fault_matrix.py FILE``, where FILE is what the tier wrote with ``AIDE_FAULT_MATRIX=FILE
pytest tests -m realistic -n 2``: one JSON line per fault {fault, check, status, verdict, score, message}.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path


def _natural(text: str) -> list[object]:
    """ "run 2" before "run 10"."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def table(lines: list[str]) -> str:
    rows = [json.loads(line) for line in lines if line.strip()]
    rows.sort(key=lambda row: (_natural(row["fault"]), row["check"]))
    out = ["| fault | check | status | verdict | score | message |", "|---|---|---|---|---|---|"]
    for row in rows:
        score = "" if row.get("score") is None else f"{row['score']:g}"
        message = str(row["message"]).replace("|", "\\|")
        cells = [row["fault"], f"`{row['check']}`", row["status"], row["verdict"], score, message]
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    print(table(Path(argv[1]).read_text().splitlines()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
