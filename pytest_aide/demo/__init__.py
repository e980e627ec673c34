"""A small, real target system bundled with pytest-aide, so that ``pytest -m daily`` works out of the box.

It imitates the slide-generator app of the source manuals (a JSON API over SQLite, logs with errors and
API-cost lines, config with secrets, design assets). Run it with ``python -m pytest_aide.demo --port 0``;
use :func:`ensure_demo_data` alone when only the files are needed.
"""

from __future__ import annotations

from pytest_aide.demo.data import DemoPaths, ensure_demo_data
from pytest_aide.demo.server import DemoServer

__all__ = ["DemoPaths", "DemoServer", "ensure_demo_data"]
