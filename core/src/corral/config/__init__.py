"""Configuration: the article's YAML format, loaded with line numbers and validated against plugin schemas.

``load_yaml`` alone (shell completion reads job names with it) imports no pydantic: the validating names are
imported on first use (PEP 562).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from corral.config.loader import load_yaml

if TYPE_CHECKING:
    from corral.config.validate import Config, load_config

__all__ = ["Config", "load_config", "load_yaml"]


def __getattr__(name: str) -> Any:
    if name not in ("Config", "load_config"):
        raise AttributeError(f"module 'corral.config' has no attribute {name!r}")
    from corral.config import validate

    return getattr(validate, name)
