"""Test servers whose request threads never print a traceback.

A client that goes away (a probe's timeout, a proxy's reset, the end of a test) makes the standard library's
``handle_error`` print a traceback from the request thread, and on Python 3.11 before 3.11.8 formatting a
traceback calls ``ast.parse``, which races any ``ast.parse`` in another thread (CPython gh-106905): the other
one fails with ``SystemError: AST constructor recursion depth mismatch``. A leftover request thread of one test
printing while the next test on that worker formats its failure (pytest parses source for it) failed
``test_plugin_statuses.py`` with an INTERNALERROR in the default tier. These servers keep the error instead.
"""

from __future__ import annotations

import socketserver
import sys
from http.server import ThreadingHTTPServer
from typing import Any


class QuietErrors:
    """Mixin for a socketserver: daemon request threads, and errors kept in ``errors`` instead of printed."""

    daemon_threads = True
    errors: list[str]

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Keep the exception's repr (for a debugger or a test that looks); formatting a traceback here races."""
        errors = self.__dict__.setdefault("errors", [])
        errors.append(repr(sys.exc_info()[1]))


class QuietHTTPServer(QuietErrors, ThreadingHTTPServer):
    """A ThreadingHTTPServer for tests: see the module docstring."""


class QuietTCPServer(QuietErrors, socketserver.ThreadingTCPServer):
    """A ThreadingTCPServer for tests: see the module docstring."""
