"""The core's SIGTERM/SIGINT handling for a restore (:mod:`corral.interrupts`), under this plugin's old name."""

from __future__ import annotations

from corral import interruptible, shielded

__all__ = ["interruptible", "shielded"]
