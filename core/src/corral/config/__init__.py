"""Configuration: the article's YAML format, loaded with line numbers and validated against plugin schemas."""

from corral.config.loader import load_yaml
from corral.config.validate import Config, load_config

__all__ = ["Config", "load_config", "load_yaml"]
