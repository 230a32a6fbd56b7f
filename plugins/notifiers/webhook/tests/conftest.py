"""Shared notifier test helpers from the core (real ``corral start`` runs, real HTTP servers)."""

from corral.testing.notify import http_sink, other_http_sink, workspace  # noqa: F401
