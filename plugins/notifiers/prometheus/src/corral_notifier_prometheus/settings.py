"""The ``main:`` key of the Prometheus notifier."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from corral import MainOptions


class PrometheusSettings(MainOptions):
    prometheus_textfile: Path | None = Field(
        default=None,
        description="metrics file for node_exporter's textfile collector (a `.prom` file in its directory), "
        "rewritten atomically after every run; its folder must exist",
        json_schema_extra={"example": "/var/lib/prometheus/node-exporter/corral.prom"},
    )
