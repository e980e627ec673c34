"""Probes that look at the target from outside: HTTP endpoints, many at once, and TLS certificate expiry.

Each probe returns plain data (frozen dataclasses with ``to_dict()``) and never imports pytest, so the CLI,
the plugin and the tests use them alike. Network problems become data (an ``error`` field) where the caller
wants to report them, and :class:`pytest_aide.errors.ProbeError` where no measurement could be taken.
"""
