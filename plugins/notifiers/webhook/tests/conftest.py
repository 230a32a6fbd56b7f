"""Shared notifier test helpers from the core (real ``corral start`` runs, a real HTTP server)."""

from corral.testing.notify import http_sink, workspace  # noqa: F401
