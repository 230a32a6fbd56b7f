"""Shared notifier test helpers from the core (real ``corral start`` runs, a real HTTP server)."""

from corral.testing.notify import workspace  # noqa: F401
